/**
 * Benchmark helper: the Service Bus emulator (in memory) in its own process, so the Provider process is
 * measured without the broker. Reads the emulator's config (Config.json shape) from the file named by
 * its argument; prints `ready <json: [{ name, port, connectionString }]>`; answers `stats` on stdin with
 * `emulator.stats()` (bench/children.ts); SIGTERM stops it.
 */
import fs from "node:fs";
import { startServiceBusEmulator } from "../dev/servicebus-emulator";
import { answerStats } from "./children";

async function main(): Promise<void> {
  const config = JSON.parse(fs.readFileSync(process.argv[2] as string, "utf8")) as unknown;
  const emulator = await startServiceBusEmulator(config);
  answerStats(() => emulator.stats());
  const namespaces = emulator.namespaces.map((ns) => ({
    name: ns.name,
    port: ns.port,
    connectionString: ns.connectionString,
  }));
  console.log(`ready ${JSON.stringify(namespaces)}`);
  process.on("SIGTERM", () => {
    void emulator.stop().finally(() => process.exit(0));
  });
}

void main();
