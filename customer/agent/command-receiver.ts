/**
 * How the agent takes its commands off the command queue: peek-lock receives, the command handler
 * (./commands.ts), then an explicit settlement of each message, so a refused command reaches the
 * dead-letter queue on its first delivery with its own reason:
 * - handled → completed;
 * - refused (InvalidCommandError) → dead-lettered with the refusal's reason (`InvalidSignature`,
 *   `UnknownKey`, `WrongTenant`, `Expired`, `Replayed`, or the contract's `SchemaViolation`, ...) and its
 *   description;
 * - anything else (storage or broker down) → left locked, not settled: the broker delivers it again when
 *   its lock expires, so the queue's LockDuration is the back-off between deliveries and its
 *   MaxDeliveryCount bounds how long a failure may last (1 minute × 5 with infra/customer.bicep) before the
 *   message is dead-lettered `MaxDeliveryCountExceeded`. An abandon would make it available at once and
 *   spend every delivery within seconds of a short outage.
 * Receivers are created without automatic lock renewal (`RECEIVER_OPTIONS`), so a message left unsettled
 * does come back after one lock duration; a command's handling is a few storage calls, well inside it. A
 * process that dies before settling leaves the message locked the same way; the handler is idempotent per
 * attempt (the orchestration instance id is the record).
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
 * The Function App's receive runs: one every 5 s (six-field NCRONTAB). A run receives until the queue is
 * empty (a receive that waited `maxWaitMs` for nothing) or `runMs` has passed, so an idle run costs about a
 * second of execution and a command waits at most about 5 s for a run (docs/customer-agent.md, the cost).
 * A timer function runs on one instance at a time and never overlaps itself: up to `maxMessages` commands
 * are handled at once, for the whole app.
 */
export const COMMAND_RECEIVE = {
  schedule: "*/5 * * * * *",
  runMs: 4000,
  maxMessages: 16,
  maxWaitMs: 1000,
} as const;

/** Peek-lock without automatic lock renewal: an unsettled message comes back after one lock duration. */
export const RECEIVER_OPTIONS = { receiveMode: "peekLock", maxAutoLockRenewalDurationInMs: 0 } as const;

/** How a message ended: what the receiver told the broker (`retried`: nothing; its lock runs out). */
export type CommandSettlement = "completed" | "deadLettered" | "retried";

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
      log.warn("command not handled: it will be delivered again when its lock expires", {
        ...ids,
        error: error instanceof Error ? error.message : String(error),
      });
      return "retried";
    }
    return settle("completed", "complete", () => receiver.completeMessage(message));
  };
}

export interface ReceiveOptions {
  /** Stop receiving at this time (ms since the epoch); the batch in hand is still handled and settled. */
  until: number;
  /** Messages per receive: they are handled concurrently (the handler serializes one attempt's). */
  maxMessages: number;
  /** The longest wait of one receive for a first message; a receive that gets none ends the run. */
  maxWaitMs: number;
  /** Whether to stop now (the app is shutting down). */
  stopping?: () => boolean;
  now?: () => number;
}

export interface ReceiveSummary {
  received: number;
  completed: number;
  deadLettered: number;
  retried: number;
}

/**
 * Receives, handles and settles commands until the queue is empty or `until` has passed. Receive errors
 * end the run (the next run opens again).
 */
export async function receiveCommandsFor(
  receiver: ServiceBusReceiver,
  handle: HandleCommand,
  options: ReceiveOptions,
  log: Logger,
): Promise<ReceiveSummary> {
  const now = options.now ?? Date.now;
  const settle = commandSettler(receiver, handle, log);
  const summary: ReceiveSummary = { received: 0, completed: 0, deadLettered: 0, retried: 0 };
  for (;;) {
    const remaining = options.until - now();
    if (remaining <= 0 || options.stopping?.()) return summary;
    const batch = await receiver.receiveMessages(options.maxMessages, {
      maxWaitTimeInMs: Math.min(options.maxWaitMs, remaining),
    });
    if (batch.length === 0) return summary;
    summary.received += batch.length;
    const settled = await Promise.all(batch.map(settle));
    for (const s of settled) summary[s]++;
  }
}
