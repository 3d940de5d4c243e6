/**
 * Service Bus queue triggers: peek-lock receive through the real client; complete on success, abandon on
 * failure (the broker dead-letters after the queue's MaxDeliveryCount). The `connection` setting is a
 * connection string, or identity-based `<conn>__fullyQualifiedNamespace` (+ `__clientId` for a
 * user-assigned identity); the dev-only `<conn>__customEndpointAddress` points it at a local emulator.
 */
import type { ServiceBusReceivedMessage, ServiceBusReceiver } from "@azure/service-bus";
import { serviceBusClientFromSetting, SettlementGate } from "../product";
import type { RegisteredFunction } from "./functions-core";
import { createContext, HostLog, invoke } from "./invoke";
import { resolveSetting } from "./settings";

export interface ServiceBusTriggerHandle {
  stop(): Promise<void>;
}

function metadata(m: ServiceBusReceivedMessage): Record<string, unknown> {
  return {
    messageId: m.messageId,
    correlationId: m.correlationId,
    contentType: m.contentType,
    subject: m.subject,
    label: m.subject,
    to: m.to,
    replyTo: m.replyTo,
    sessionId: m.sessionId,
    deliveryCount: m.deliveryCount,
    enqueuedTimeUtc: m.enqueuedTimeUtc?.toISOString(),
    expiresAtUtc: m.expiresAtUtc?.toISOString(),
    lockedUntilUtc: m.lockedUntilUtc?.toISOString(),
    lockToken: m.lockToken,
    sequenceNumber: m.sequenceNumber?.toNumber(),
    applicationProperties: m.applicationProperties ?? {},
    userProperties: m.applicationProperties ?? {},
    deadLetterSource: m.deadLetterSource,
  };
}

export function startServiceBusTrigger(
  fn: RegisteredFunction,
  log: HostLog,
  inputsByType: Record<string, () => unknown>,
  maxConcurrentCalls = 16,
): ServiceBusTriggerHandle {
  const queueName = resolveSetting(fn.trigger.queueName ?? fn.trigger.topicName);
  const connection = resolveSetting(fn.trigger.connection ?? "AzureWebJobsServiceBus");
  if (fn.trigger.isSessionsEnabled)
    throw new Error(
      `Service Bus trigger '${fn.name}': session-enabled triggers are not supported by the dev host.`,
    );
  const many = fn.trigger.cardinality === "many";
  const client = serviceBusClientFromSetting(connection);
  const receiver: ServiceBusReceiver = client.createReceiver(queueName, { receiveMode: "peekLock" });
  // Up to maxConcurrentCalls messages settle at once: without the gate an abandon could ride along with
  // a complete's outcome (the message is lost) or the other way round (it runs again).
  const gate = new SettlementGate();
  const handle = async (message: ServiceBusReceivedMessage) => {
    const context = createContext(fn, { log, inputsByType, triggerMetadata: metadata(message) });
    try {
      await invoke(fn, many ? [message.body] : message.body, context, log);
    } catch {
      await gate.run("exclusive", () => receiver.abandonMessage(message)).catch(() => undefined);
      return;
    }
    await gate
      .run("complete", () => receiver.completeMessage(message))
      .catch((error: unknown) =>
        log("warn", `Could not complete message ${message.messageId} for '${fn.name}'`, {
          error: String(error),
        }),
      );
  };
  const subscription = receiver.subscribe(
    {
      processMessage: handle,
      async processError(args) {
        log("warn", `Service Bus trigger '${fn.name}' receive error`, {
          error: args.error.message,
          source: args.errorSource,
        });
      },
    },
    { autoCompleteMessages: false, maxConcurrentCalls },
  );
  return {
    async stop() {
      await subscription.close();
      await receiver.close();
      await client.close();
    },
  };
}
