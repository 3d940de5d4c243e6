/**
 * The customer agent Function App: a Service Bus trigger on the customer's command queue (identity-based
 * connection `CUSTOMER_SERVICEBUS__fullyQualifiedNamespace` in Azure) that runs commands and writes
 * statuses to the status queue. An invalid command fails the invocation; after the queue's
 * MaxDeliveryCount the broker dead-letters it.
 */
import { app, InvocationContext } from "@azure/functions";
import type { ServiceBusClient, ServiceBusSender } from "@azure/service-bus";
import { invocationLogger } from "../../lib/logging/logger";
import { serviceBusClientFromSetting } from "../../lib/messaging/connection-setting";
import { statusMessage } from "../../lib/messaging/contracts";
import { createAgent } from "../agent/agent";
import { demoDeployer } from "../agent/deployer";

const CONNECTION = "CUSTOMER_SERVICEBUS";
let client: ServiceBusClient | undefined;
let sender: ServiceBusSender | undefined;

function statusSender(): ServiceBusSender {
  client ??= serviceBusClientFromSetting(CONNECTION);
  sender ??= client.createSender(process.env.STATUS_QUEUE || "status");
  return sender;
}

const agent = createAgent({
  deployer: demoDeployer,
  sendStatus: async (status) => {
    await statusSender().sendMessages(statusMessage(status));
  },
});

app.serviceBusQueue("agentCommands", {
  connection: CONNECTION,
  queueName: "%COMMAND_QUEUE%",
  handler: async (body: unknown, context: InvocationContext) => {
    const meta = context.triggerMetadata ?? {};
    invocationLogger(context).info("command received", {
      messageId: meta.messageId,
      deliveryCount: meta.deliveryCount,
    });
    await agent.handle({
      body,
      contentType: typeof meta.contentType === "string" ? meta.contentType : undefined,
      applicationProperties: (meta.applicationProperties ?? undefined) as Record<string, unknown> | undefined,
      messageId: typeof meta.messageId === "string" ? meta.messageId : undefined,
    });
  },
});
