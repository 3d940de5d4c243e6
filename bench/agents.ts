/**
 * Benchmark helper: the customer agents of many simulated tenants in one child process, so they run on
 * the other core beside the Provider. Each tenant gets what `customer/functions/agent.ts` does inside its
 * own Function App: a peek-lock Service Bus receiver on the command queue (completed after the handler,
 * 16 concurrent calls, as the dev host's trigger), the shared agent logic with the demo deployer, and a
 * sender for statuses. Reads `[{ tenant, connectionString }]` as JSON on stdin; prints `ready`.
 */
import { ServiceBusClient, ServiceBusReceiver } from "@azure/service-bus";
import { createAgent } from "../customer/agent/agent";
import { demoDeployer } from "../customer/agent/deployer";
import { createLogger } from "../lib/logging/logger";
import { statusMessage } from "../lib/messaging/contracts";

interface AgentSpec {
  tenant: string;
  connectionString: string;
}

const quiet = createLogger(() => {});

function startAgent(spec: AgentSpec): { close(): Promise<void> } {
  const client = new ServiceBusClient(spec.connectionString);
  const sender = client.createSender("status");
  const agent = createAgent({
    deployer: demoDeployer,
    log: quiet,
    sendStatus: (status) => sender.sendMessages(statusMessage(status)),
  });
  const receiver: ServiceBusReceiver = client.createReceiver("commands", { receiveMode: "peekLock" });
  const subscription = receiver.subscribe(
    {
      processMessage: async (message) => {
        try {
          await agent.handle({
            body: message.body,
            contentType: message.contentType,
            applicationProperties: message.applicationProperties,
            messageId: typeof message.messageId === "string" ? message.messageId : undefined,
          });
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
