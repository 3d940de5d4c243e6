/**
 * The body of one customer's agent host when several run in one process (dev/agent-hosts.ts): a worker
 * thread with an environment of its own (the customer's Service Bus connection and task hub), in which
 * the Functions dev host loads the customer agent app as it would in a process of its own. The thread
 * posts `{ ready: url }` once the host serves, stops the host on a `"stop"` message, and exits.
 */
import { parentPort, workerData } from "node:worker_threads";
import { startHost } from "./host/index";

export interface AgentHostWorkerData {
  appDir: string;
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("dev/agent-host-worker.js runs only as a worker thread");
  const { appDir } = workerData as AgentHostWorkerData;
  const host = await startHost({ appDir, port: 0, quiet: true });
  port.on("message", (message: unknown) => {
    if (message !== "stop") return;
    host.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`stopping failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  });
  port.postMessage({ ready: host.url });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
