/**
 * Benchmark helper: the customer agents of many simulated tenants in one child process, so they run on
 * the other core beside the Provider. Each tenant gets a peek-lock Service Bus receiver on its command
 * queue (completed after the handler, 16 concurrent calls, as the dev host's trigger), the agent's real
 * command handling (`customer/agent/commands.ts`) and the demo deployer, and a sender for statuses. The
 * Durable orchestration is replaced by an in-memory run of the same plan / steps / statuses: 100 task
 * hubs in one process would measure the agents' durable engine, not the Provider's status delivery, which
 * is what the benchmark is about. Reads `[{ tenant, connectionString }]` as JSON on stdin; prints `ready`.
 */
import { ServiceBusClient, ServiceBusReceiver } from "@azure/service-bus";
import { type AgentInstances, createCommandHandler } from "../customer/agent/commands";
import { demoDeployer } from "../customer/agent/deployer";
import type { AgentInput } from "../customer/agent/orchestration";
import { agentStatus } from "../customer/agent/status";
import { createLogger } from "../lib/logging/logger";
import { type Status, type StatusState, statusMessage } from "../lib/messaging/contracts";

interface AgentSpec {
  tenant: string;
  connectionString: string;
}

const quiet = createLogger(() => {});

/** The orchestration's happy path and cancel between steps, in memory (the benchmark never crashes an agent). */
async function runInMemory(
  { command }: AgentInput,
  cancelled: () => boolean,
  send: (status: Status) => Promise<void>,
): Promise<void> {
  let sequence = 0;
  const report = (state: StatusState, progress: number, message?: string) =>
    send(
      agentStatus(command, {
        state,
        progress,
        sequence: ++sequence,
        reportedAt: new Date().toISOString(),
        message,
      }),
    );
  if (command.type === "Cancel") return report("Cancelled", 0, "cancelled before it started");
  const plan = await demoDeployer.plan(command);
  if (plan.kind === "reject") return report("Rejected", 0, plan.message);
  if (plan.kind === "silent") return plan.afterAccept ? report("Accepted", 0, plan.message) : undefined;
  await report("Accepted", 0, plan.message);
  for (let step = 1; step <= plan.steps; step++) {
    if (cancelled()) return report("Cancelled", 0, `cancelled before step ${step}`);
    const result = await demoDeployer.runStep(command, { step, steps: plan.steps });
    const progress = Math.round((step / plan.steps) * 100);
    if (result.kind === "failed") return report("Failed", progress, result.message);
    if (step === plan.steps) return report("Succeeded", 100, `all ${plan.steps} steps done`);
    await report("InProgress", progress, `step ${step} of ${plan.steps}`);
  }
}

function inMemoryInstances(send: (status: Status) => Promise<void>): AgentInstances {
  const runs = new Map<string, { status: string; cancelled: boolean }>();
  return {
    status: async (id) => runs.get(id)?.status,
    async start(id, input) {
      const run = { status: "Running", cancelled: false };
      runs.set(id, run);
      void runInMemory(input, () => run.cancelled, send)
        .catch((error: unknown) => console.error(`agent run ${id}: ${String(error)}`))
        .finally(() => (run.status = "Completed"));
    },
    async raiseCancel(id) {
      const run = runs.get(id);
      if (run) run.cancelled = true;
    },
  };
}

function startAgent(spec: AgentSpec): { close(): Promise<void> } {
  const client = new ServiceBusClient(spec.connectionString);
  const sender = client.createSender("status");
  const send = async (status: Status) => sender.sendMessages(statusMessage(status));
  const agent = createCommandHandler({ sendStatus: send });
  const instances = inMemoryInstances(send);
  const receiver: ServiceBusReceiver = client.createReceiver("commands", { receiveMode: "peekLock" });
  const subscription = receiver.subscribe(
    {
      processMessage: async (message) => {
        try {
          await agent.handle(
            {
              body: message.body,
              contentType: message.contentType,
              applicationProperties: message.applicationProperties,
              messageId: typeof message.messageId === "string" ? message.messageId : undefined,
              deliveryCount: message.deliveryCount,
            },
            instances,
            quiet,
          );
        } catch {
          await receiver.abandonMessage(message).catch(() => undefined);
          return;
        }
        await receiver.completeMessage(message).catch(() => undefined);
      },
      processError: async (args) => {
        console.error(`agent ${spec.tenant}: ${args.error.message}`);
      },
    },
    { autoCompleteMessages: false, maxConcurrentCalls: 16 },
  );
  return {
    async close() {
      await subscription.close();
      await client.close();
    },
  };
}

async function main(): Promise<void> {
  let input = "";
  for await (const chunk of process.stdin) input += String(chunk);
  const agents = (JSON.parse(input) as AgentSpec[]).map(startAgent);
  console.log("ready");
  const stop = async () => {
    await Promise.allSettled(agents.map((a) => a.close()));
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

void main();
