/**
 * A part of the local stack (dev/part.ts) in a child process of its own, so a test can kill it for
 * real: resolves with the JSON of its `ready` line.
 */
import { ChildProcess, spawn } from "node:child_process";
import path from "node:path";

/** `script` is relative to the compiled dev/ folder, e.g. `azurite-cli.js`. */
export function startPart<T>(script: string, args: string[]): Promise<{ child: ChildProcess; ready: T }> {
  const child = spawn(process.execPath, [path.join(__dirname, "..", "..", "dev", script), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /^ready (.*)$/m.exec(out);
      if (m) resolve({ child, ready: JSON.parse(m[1] as string) as T });
    });
    child.on("exit", (code) => reject(new Error(`${script} exited (${code}): ${out}`)));
  });
}

export function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  return exited;
}
