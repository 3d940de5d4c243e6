/**
 * Several simulated customers' crash-safe Durable agents in one process: each customer's agent app runs
 * on the Functions dev host in a worker thread of its own (dev/agent-host-worker.ts), with its own
 * environment (Service Bus connection, task hub), module graph and durable engine, exactly as in a
 * process of its own, but sharing one Node runtime, so more customers cost neither a process nor its
 * start-up each. A run the process was in when it died resumes from its task hub at the next start.
 * Each thread's output lines are prefixed with its tenant.
 */
import path from "node:path";
import readline from "node:readline";
import type { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import type { AgentHostWorkerData } from "./agent-host-worker";

export interface AgentHostCustomer {
  tenant: string;
  /** The agent app's settings on top of this process's environment (dev/start.ts agentEnvironment). */
  env: Record<string, string>;
}

export interface AgentHosts {
  /** Each tenant's agent host URL (its Durable management API). */
  urls: Record<string, string>;
  close(): Promise<void>;
}

/**
 * How long a thread may take to stop its host cleanly before it is terminated: within the supervisor's
 * 10 s grace (dev/supervisor.ts), so a slow thread is ended here and the process still stops cleanly
 * instead of being killed whole.
 */
const STOP_GRACE_MS = 8_000;

function prefixLines(stream: Readable, prefix: string, out: NodeJS.WritableStream): void {
  readline.createInterface({ input: stream }).on("line", (line) => out.write(`${prefix}${line}\n`));
}

function startOne(appDir: string, customer: AgentHostCustomer): Promise<{ worker: Worker; url: string }> {
  const workerData: AgentHostWorkerData = { appDir };
  const worker = new Worker(path.join(__dirname, "agent-host-worker.js"), {
    workerData,
    env: { ...process.env, ...customer.env },
    stdout: true,
    stderr: true,
  });
  prefixLines(worker.stdout, `${customer.tenant}: `, process.stdout);
  prefixLines(worker.stderr, `${customer.tenant}: `, process.stderr);
  return new Promise((resolve, reject) => {
    const onExit = (code: number) =>
      reject(new Error(`the agent host of ${customer.tenant} exited with code ${code} before it was ready`));
    worker.once("error", reject);
    worker.once("exit", onExit);
    worker.once("message", (message: { ready?: string }) => {
      worker.off("exit", onExit);
      worker.off("error", reject);
      if (typeof message.ready !== "string") reject(new Error(`unexpected message from ${customer.tenant}`));
      else resolve({ worker, url: message.ready });
    });
  });
}

async function stopOne(worker: Worker): Promise<void> {
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  worker.postMessage("stop");
  const timer = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts every customer's agent host; resolves once all serve. A thread that dies after that ends the
 * process (exit code 1), so the supervisor restarts the part as it would a crashed agent process.
 */
export async function startAgentHosts(appDir: string, customers: AgentHostCustomer[]): Promise<AgentHosts> {
  const started = await Promise.allSettled(customers.map((c) => startOne(appDir, c)));
  const workers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value.worker] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await Promise.all(workers.map(stopOne));
    throw failed.reason;
  }
  let closing = false;
  for (const [i, worker] of workers.entries())
    worker.once("exit", (code) => {
      if (closing) return;
      console.error(
        `the agent host of ${customers[i]?.tenant} stopped (exit code ${code}); restarting the part`,
      );
      process.exit(1);
    });
  const urls = Object.fromEntries(
    customers.map((c, i) => [c.tenant, (started[i] as PromiseFulfilledResult<{ url: string }>).value.url]),
  );
  return {
    urls,
    async close() {
      closing = true;
      await Promise.all(workers.map(stopOne));
    },
  };
}
