/**
 * Runs `npm start`'s stack (dev/start.js) as a child process on free ports and a given data folder, and
 * resolves once it prints `ready <api>`. Used by `npm run demo` and the stack's own tests.
 */
import { spawn } from "node:child_process";
import path from "node:path";

export interface StackProcess {
  api: string;
  /** Everything the stack printed so far. */
  output(): string;
  /** Ctrl-C, as a user would; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function spawnStack(dataDir: string): Promise<StackProcess> {
  const child = spawn(process.execPath, [path.join(__dirname, "start.js")], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: "0",
      AZURITE_PORT: "0",
      SERVICEBUS_PORT: "0",
      ISSUER_PORT: "0",
      WEBSITE_HOSTNAME: "",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  return new Promise<StackProcess>((resolve, reject) => {
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /^ready (\S+)$/m.exec(out);
      if (m) {
        resolve({
          api: m[1] as string,
          output: () => out,
          stop: () => {
            if (child.exitCode !== null) return Promise.resolve(child.exitCode);
            const exited = new Promise<number | null>((done) => child.on("exit", done));
            child.kill("SIGINT");
            return exited;
          },
        });
      }
    });
    child.on("exit", (code) =>
      reject(new Error(`the local stack exited (${code}) before it was ready:\n${out}`)),
    );
  });
}
