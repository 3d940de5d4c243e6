/**
 * The benchmarks' helper processes (Azurite, the Service Bus emulator, the agents), each in a process of
 * its own so the Provider's CPU and memory are measured alone. A child prints `ready <value>` when up;
 * one that keeps counters answers a `stats` line on its stdin with one `stats <json>` line.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

export interface BenchChild {
  child: ChildProcess;
  /** What followed `ready ` on its ready line. */
  value: string;
  /** Asks the child for its counters (children that keep none never answer). */
  stats<T>(): Promise<T>;
  stop(): Promise<void>;
}

/** Starts a script of this folder; `stdin`, when given, is written and the pipe closed. */
export function startBenchChild(script: string, args: string[] = [], stdin?: string): Promise<BenchChild> {
  const child = spawn(process.execPath, [path.join(__dirname, script), ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  if (stdin !== undefined) child.stdin?.end(stdin);
  const waiting: ((json: string) => void)[] = [];
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on("line", (line) => {
      if (line.startsWith("stats ")) return waiting.shift()?.(line.slice(6));
      if (!line.startsWith("ready")) return;
      resolve({
        child,
        value: line.slice(6).trim(),
        stats: <T>() =>
          new Promise<T>((done) => {
            waiting.push((json) => done(JSON.parse(json) as T));
            child.stdin?.write("stats\n");
          }),
        async stop() {
          if (child.exitCode === null) child.kill("SIGTERM");
          await exited;
        },
      });
    });
    child.on("exit", (code) => reject(new Error(`${script} exited (${code})`)));
  });
}

/** In a child: answers each `stats` line on stdin with `stats <json>`. */
export function answerStats(stats: () => unknown): void {
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    if (line.trim() === "stats") process.stdout.write(`stats ${JSON.stringify(stats())}\n`);
  });
}

/** CPU seconds (user + system) a process has used so far; Linux only, else NaN. */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}
