/**
 * A supervisor in a process of its own, as `npm start` runs one: two steady parts, their pids printed as
 * `pids <a> <b>`; SIGINT or SIGTERM stops them and exits 0 (1 if a part did not stop cleanly).
 */
import path from "node:path";
import { Supervisor } from "../../../dev/supervisor";

async function main(): Promise<void> {
  const supervisor = new Supervisor({ graceMs: 2000 });
  const part = (name: string) => ({
    name,
    command: () => ({ args: [path.join(__dirname, "part-fixture.js")] }),
  });
  const stop = () => void supervisor.stop().then((clean) => process.exit(clean ? 0 : 1));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const ready = await supervisor.start([part("a"), part("b")]);
  console.log(
    `pids ${Object.values(ready)
      .map((r) => (r as { pid: number }).pid)
      .join(" ")}`,
  );
}

void main();
