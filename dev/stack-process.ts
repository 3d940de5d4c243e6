/**
 * Runs `npm start`'s stack (dev/start.js) as a child process on free ports and a given data folder, and
 * resolves once it prints `ready <api>`. Used by `npm run demo` and the stack's own tests; the upgrade test
 * runs a previous release's start script (dev/upgrade.ts) through it on the same data folder.
 */
import { spawn } from "node:child_process";
import path from "node:path";

export interface StackProcess {
  api: string;
  /** Everything the stack printed so far. */
  output(): string;
  /** The pid of a part (`provider`, `azurite`, `agent-contoso`, ...) as the supervisor last reported it. */
  pidOf(part: string): number;
  /** Resolves once the output matches (searching what was printed from `from` on). */
  waitForOutput(pattern: RegExp, from?: number, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Ctrl-C, as a user would; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** `startScript` is this checkout's dist/dev/start.js unless given (another release's, for the upgrade test). */
export function spawnStack(
  dataDir: string,
  startScript = path.join(__dirname, "start.js"),
): Promise<StackProcess> {
  const child = spawn(process.execPath, [startScript], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: "0",
      AZURITE_PORT: "0",
      SERVICEBUS_PORT: "0",
      ISSUER_PORT: "0",
      WEBHOOK_RECEIVER_PORT: "0",
      WEBSITE_HOSTNAME: "",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const listeners = new Set<() => void>();
  const append = (c: Buffer) => {
    out += c.toString();
    for (const l of listeners) l();
  };
  child.stderr.on("data", append);
  child.stdout.on("data", append);
  const stack = (api: string): StackProcess => ({
    api,
    output: () => out,
    pidOf(part) {
      const escaped = part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      const all = [
        ...out.matchAll(new RegExp(`^\\[supervisor\\] ${escaped} ready.*\\(pid (\\d+)\\)$`, "gm")),
      ];
      const last = all.at(-1);
      if (!last) throw new Error(`the supervisor has not reported ${part} ready`);
      return Number(last[1]);
    },
    waitForOutput(pattern, from = 0, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out.slice(from));
          if (!m) return false;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(m);
          return true;
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`the stack did not print ${pattern} within ${timeoutMs} ms:\n${out.slice(from)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    stop: () => {
      if (child.exitCode !== null) return Promise.resolve(child.exitCode);
      const exited = new Promise<number | null>((done) => child.on("exit", done));
      child.kill("SIGINT");
      return exited;
    },
  });
  return new Promise<StackProcess>((resolve, reject) => {
    const ready = () => {
      const m = /^ready (\S+)$/m.exec(out);
      if (!m) return;
      listeners.delete(ready);
      resolve(stack(m[1] as string));
    };
    listeners.add(ready);
    child.on("exit", (code) =>
      reject(new Error(`the local stack exited (${code}) before it was ready:\n${out}`)),
    );
  });
}
