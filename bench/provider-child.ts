/**
 * Benchmark helper: the Provider app on the dev host (with its durable engine) in a process of its own,
 * so its CPU is measured apart from the benchmark that drives it (which may play an agent and send
 * thousands of messages). Reads the app settings (JSON) from the file named by its argument; prints
 * `ready <host url>`; answers `stats` on stdin (bench/children.ts) with its `process.cpuUsage()` in ms
 * and the host's function executions (`RunningHost.stats()`); SIGTERM stops it.
 */
import fs from "node:fs";
import path from "node:path";
import { startHost, type HostStats } from "../dev/host";
import { answerStats } from "./children";

export interface ProviderStats {
  cpuMs: number;
  rssMiB: number;
  host: HostStats;
}

async function main(): Promise<void> {
  const settings = JSON.parse(fs.readFileSync(process.argv[2] as string, "utf8")) as Record<string, string>;
  const host = await startHost({
    appDir: path.resolve(__dirname, "..", ".."),
    port: 0,
    quiet: true,
    log: (level, message, props) => {
      if (level === "error" || (process.env.BENCH_DEBUG && level === "warn"))
        console.error(`[provider] ${level} ${message} ${JSON.stringify(props ?? {})}`);
    },
    settings,
  });
  answerStats((): ProviderStats => {
    const cpu = process.cpuUsage();
    return {
      cpuMs: (cpu.user + cpu.system) / 1000,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
      host: host.stats(),
    };
  });
  console.log(`ready ${host.url}`);
  process.on("SIGTERM", () => {
    void host.stop().finally(() => process.exit(0));
  });
}

void main();
