/**
 * The real customer agent app (`customer/`) on the dev host in a child process, as `npm start` runs it:
 * its own task hub in the given Table Storage. Tests read its structured log lines, kill it (SIGKILL for a
 * crash) and start it again on the same storage.
 */
import { ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { agentStorageSettings } from "../../dev/agent-settings";

const root = path.join(__dirname, "..", "..", "..");

export interface AgentProcess {
  /** The agent host's base URL (its Durable management API is under /runtime/webhooks/durabletask). */
  url: string;
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Its JSON log lines so far. */
  logs(): Record<string, unknown>[];
  /** SIGTERM (a graceful stop) by default; SIGKILL for a crash. Resolves when it has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface AgentOptions {
  serviceBusConnectionString: string;
  storageConnectionString: string;
  tenant: string;
  startTimeoutMs?: number;
  /** More app settings (e.g. the pinned Provider keys). */
  env?: Record<string, string>;
}

export async function startAgent(options: AgentOptions): Promise<AgentProcess> {
  const child = spawn(
    process.execPath,
    [path.join(root, "dist", "dev", "host", "cli.js"), "--app", path.join(root, "customer"), "--port", "0"],
    {
      env: {
        ...process.env,
        CUSTOMER_SERVICEBUS: options.serviceBusConnectionString,
        ...agentStorageSettings(options.storageConnectionString, options.tenant),
        WEBSITE_HOSTNAME: "",
        // The tests read every step's log line (debug) and parse it (JSON).
        LOG_LEVEL: "debug",
        LOG_FORMAT: "json",
        ...options.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  let url: string | undefined;
  while (!(url = /Host listening on (\S+)/.exec(out)?.[1])) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the agent did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    output: () => out,
    logs: () =>
      out.split("\n").flatMap((line) => {
        if (!line.startsWith("{")) return [];
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
