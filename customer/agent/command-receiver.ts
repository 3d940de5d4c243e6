/**
 * How the agent takes its commands off the command queue: peek-lock receives, the command handler
 * (./commands.ts), then an explicit settlement of each message, so a refused command reaches the
 * dead-letter queue on its first delivery with its own reason:
 * - handled → completed;
 * - refused (InvalidCommandError) → dead-lettered with the refusal's reason (`InvalidSignature`,
 *   `UnknownKey`, `WrongTenant`, `Expired`, `Replayed`, or the contract's `SchemaViolation`, ...) and its
 *   description;
 * - anything else (storage or broker down) → abandoned: the broker delivers it again, and dead-letters it
 *   with `MaxDeliveryCountExceeded` only when the failure outlasts the queue's delivery limit.
 * A process that dies before settling leaves the message locked until its lock expires, then it is
 * delivered again; the handler is idempotent per attempt (the orchestration instance id is the record).
 *
 * The Function App runs `receiveCommandsFor` from a timer (customer/functions/agent.ts) because a Node
 * Service Bus trigger cannot settle its message; the in-memory agents settle each message of their
 * subscription through `commandSettler`.
 */
import type { ServiceBusReceivedMessage, ServiceBusReceiver } from "@azure/service-bus";
import type { Logger } from "../../lib/logging/logger";
import { SettlementGate, type SettlementKind } from "../../lib/messaging/settlement-gate";
import { type IncomingCommand, InvalidCommandError } from "./commands";

/**
 * The Function App's receive runs: one every 10 s (six-field NCRONTAB), each receiving for 9 s so it ends
 * before the next is due (a timer function never overlaps itself); up to 16 commands at once, as the
 * Service Bus trigger's maxConcurrentCalls did.
 */
export const COMMAND_RECEIVE = {
  schedule: "*/10 * * * * *",
  runMs: 9000,
  maxMessages: 16,
  maxWaitMs: 2000,
} as const;

/** How a message ended: what the receiver told the broker. */
export type CommandSettlement = "completed" | "deadLettered" | "abandoned";

/** The handler the receiver runs for each message (the command handler bound to its instances). */
export type HandleCommand = (message: IncomingCommand) => Promise<unknown>;

/** The command handler's view of a received message. */
export function incomingCommand(message: ServiceBusReceivedMessage): IncomingCommand {
  return {
    body: message.body,
    contentType: message.contentType,
    applicationProperties: message.applicationProperties,
    messageId: typeof message.messageId === "string" ? message.messageId : undefined,
    deliveryCount: message.deliveryCount,
  };
}

/**
 * One receiver's settlement of its commands: handles a peek-locked message and settles it by the
 * outcome, through the receiver's settlement gate (two settlements with different outcomes must not
 * share an AMQP flush: lib/messaging/settlement-gate.ts). A settlement that fails (the lock was lost) is
 * logged; the broker delivers the message again and the handler's idempotence covers it.
 */
export function commandSettler(receiver: ServiceBusReceiver, handle: HandleCommand, log: Logger) {
  const gate = new SettlementGate();
  return async (message: ServiceBusReceivedMessage): Promise<CommandSettlement> => {
    const ids = { messageId: message.messageId, deliveryCount: message.deliveryCount };
    const settle = async (settlement: CommandSettlement, kind: SettlementKind, run: () => Promise<void>) => {
      try {
        await gate.run(kind, run);
      } catch (error) {
        log.warn("command settlement failed: the broker delivers it again after its lock expires", {
          ...ids,
          settlement,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      return settlement;
    };
    try {
      await handle(incomingCommand(message));
    } catch (error) {
      if (error instanceof InvalidCommandError)
        return settle("deadLettered", "exclusive", () =>
          receiver.deadLetterMessage(message, {
            deadLetterReason: error.reason,
            deadLetterErrorDescription: error.description,
          }),
        );
      log.warn("command not handled: it will be delivered again", {
        ...ids,
        error: error instanceof Error ? error.message : String(error),
      });
      return settle("abandoned", "exclusive", () => receiver.abandonMessage(message));
    }
    return settle("completed", "complete", () => receiver.completeMessage(message));
  };
}

export interface ReceiveOptions {
  /** Stop receiving at this time (ms since the epoch); the batch in hand is still handled and settled. */
  until: number;
  /** Messages per receive: they are handled concurrently (the handler serializes one attempt's). */
  maxMessages: number;
  /** The longest wait of one receive for a first message. */
  maxWaitMs: number;
  /** Whether to stop now (the app is shutting down). */
  stopping?: () => boolean;
  now?: () => number;
}

export interface ReceiveSummary {
  received: number;
  completed: number;
  deadLettered: number;
  abandoned: number;
}

/**
 * Receives, handles and settles commands until `until`: long-polling receives, so a command that
 * arrives while it runs is taken at once. Receive errors end the run (the next run opens again).
 */
export async function receiveCommandsFor(
  receiver: ServiceBusReceiver,
  handle: HandleCommand,
  options: ReceiveOptions,
  log: Logger,
): Promise<ReceiveSummary> {
  const now = options.now ?? Date.now;
  const settle = commandSettler(receiver, handle, log);
  const summary: ReceiveSummary = { received: 0, completed: 0, deadLettered: 0, abandoned: 0 };
  for (;;) {
    const remaining = options.until - now();
    if (remaining <= 0 || options.stopping?.()) return summary;
    const batch = await receiver.receiveMessages(options.maxMessages, {
      maxWaitTimeInMs: Math.min(options.maxWaitMs, remaining),
    });
    summary.received += batch.length;
    const settled = await Promise.all(batch.map(settle));
    for (const s of settled) summary[s]++;
  }
}
