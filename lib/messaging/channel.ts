/**
 * The Provider's side of a customer's two queues: send commands to the command queue and take batches
 * of status messages from the status queue (peek-lock, long-poll), each checked against the contract so
 * the caller gets either a valid status or a dead-letter reason. Clients are pooled per namespace and
 * connection identity, and closed together on shutdown.
 */
import { setMaxListeners } from "node:events";
import type { TokenCredential } from "@azure/core-auth";
import {
  RetryMode,
  ServiceBusClient,
  ServiceBusClientOptions,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
  ServiceBusSender,
} from "@azure/service-bus";
import {
  bodySize,
  Command,
  commandMessage,
  ContractViolation,
  LIMITS,
  parseStatus,
  signedCommandMessage,
  Status,
} from "./contracts";
import type { MessageSigner } from "../signing/jws";
import { SettlementGate, sameOutcome } from "./settlement-gate";

/** How to reach one customer namespace: a TokenCredential (Entra) or a SAS connection string. */
export type NamespaceConnection =
  | { fullyQualifiedNamespace: string; credential: TokenCredential; customEndpointAddress?: string }
  | { connectionString: string };

/**
 * The client's own retries, kept short: the library's default waits 30 s between attempts, so one broken
 * connection stalled the status pump for half a minute after the broker was back. Longer outages are the
 * callers' to ride out (the deployment retries its sends on durable timers, the pump its cycles).
 */
export const CLIENT_OPTIONS: ServiceBusClientOptions = {
  retryOptions: {
    mode: RetryMode.Exponential,
    maxRetries: 3,
    retryDelayInMs: 500,
    maxRetryDelayInMs: 5000,
    timeoutInMs: 10_000,
  },
};

/**
 * Closing a client does not end a pending receive (it runs to its wait time), so a pool's clients carry
 * its shutdown signal and receives on them abort when the pool closes.
 */
const shutdownSignals = new WeakMap<ServiceBusClient, AbortSignal>();

export class ServiceBusPool {
  private readonly clients = new Map<string, ServiceBusClient>();
  private readonly shutdown = (() => {
    const controller = new AbortController();
    // Every pending receive listens on it (one per tenant at a time): many listeners is the design.
    setMaxListeners(0, controller.signal);
    return controller;
  })();

  /** One client per key (namespace + identity); the key never includes a secret. */
  client(key: string, connect: () => NamespaceConnection): ServiceBusClient {
    let client = this.clients.get(key);
    if (!client) {
      const c = connect();
      client =
        "connectionString" in c
          ? new ServiceBusClient(c.connectionString, CLIENT_OPTIONS)
          : new ServiceBusClient(c.fullyQualifiedNamespace, c.credential, {
              ...CLIENT_OPTIONS,
              ...(c.customEndpointAddress ? { customEndpointAddress: c.customEndpointAddress } : {}),
            });
      this.clients.set(key, client);
      shutdownSignals.set(client, this.shutdown.signal);
    }
    return client;
  }

  async closeAll(): Promise<void> {
    this.shutdown.abort();
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(all.map((c) => c.close()));
  }
}

/** Sends a command, signed by `signer` when there is one (lib/signing/jws.ts). */
export async function sendCommand(
  client: ServiceBusClient,
  queue: string,
  command: Command,
  now: Date,
  signer?: MessageSigner,
): Promise<string> {
  const message = signer ? await signedCommandMessage(command, now, signer) : commandMessage(command, now);
  const sender: ServiceBusSender = client.createSender(queue);
  try {
    await sender.sendMessages(message);
    return message.messageId;
  } finally {
    await sender.close();
  }
}

/** `bytes`: the body's size as the contract counts it (see `bodySize`), measured before any parsing. */
export type ReceivedStatus =
  | { ok: true; status: Status; message: ServiceBusReceivedMessage; bytes: number }
  | {
      ok: false;
      reason: ContractViolation;
      description: string;
      message: ServiceBusReceivedMessage;
      bytes: number;
    };

export interface StatusBatch {
  items: ReceivedStatus[];
  /** The next batch on the same receiver (no new link or authorisation), waiting as `receiveStatuses` does. */
  next(options: { maxMessages: number; maxWaitTimeInMs: number }): Promise<ReceivedStatus[]>;
  /** Completes a message once its status has been dispatched and recorded. */
  complete(message: ServiceBusReceivedMessage): Promise<void>;
  /**
   * Dead-letters a message the Provider refuses, with a reason operators can filter on. Dead-letters with
   * the same reason and description issued together share the receiver's flushes (see SettlementGate).
   */
  deadLetter(message: ServiceBusReceivedMessage, reason: string, description: string): Promise<void>;
  /**
   * Whether the receiver stopped taking messages for this cycle: a batch reached the byte budget, or held
   * an oversized message (see BATCH_BYTE_BUDGET). The caller settles what it has and ends its cycle.
   */
  readonly budgetReached: boolean;
  close(): Promise<void>;
}

/**
 * What one batch may hold in message bodies. The bound, and why it holds: a batch's receives ask for
 * messages only while `taken + credits × LIMITS.bodyBytes ≤ BATCH_BYTE_BUDGET` (the first receive asks for
 * one), so bodies within the contract never add up past the budget; a body over LIMITS.bodyBytes (a
 * customer's Premium namespace allows 100 MB) is measured without parsing, refused, its body dropped from
 * the message at once (only the lock is kept, to dead-letter it), and it ends the cycle's taking
 * (`budgetReached`), so the next cycle starts again with a one-message receive. A queue of oversized
 * messages thus costs one of them in memory at a time; a hostile mix can bring at most one receive's worth
 * (≤ BATCH_BYTE_BUDGET / LIMITS.bodyBytes messages) in before the first is seen. 4 MiB leaves room for a
 * full batch of 50 statuses at the 64 KB limit (3.2 MB), so honest traffic is never slowed by the budget.
 */
const BATCH_BYTE_BUDGET = 4 * 1024 * 1024;

/** How long a receive may take beyond its wait (link setup, the broker's answer) before it is given up. */
const RECEIVE_SETUP_MARGIN_MS = 5000;

/** How long the follow-up receive waits for more once a first status has arrived. */
const BATCH_GRACE_MS = 10;

/**
 * Checks a message against the contract (size first, on the body as received). A refused message's body
 * is dropped from it (and from the raw AMQP message under it): it is only dead-lettered, for which the
 * lock suffices, and the broker keeps the body on the dead-letter queue.
 */
function checked(message: ServiceBusReceivedMessage): ReceivedStatus {
  const bytes = bodySize(message.body);
  const parsed = parseStatus({
    body: message.body,
    contentType: message.contentType,
    applicationProperties: message.applicationProperties,
  });
  if (parsed.ok) return { ok: true, status: parsed.value, message, bytes };
  message.body = undefined;
  const raw = (message as { _rawAmqpMessage?: { body?: unknown } })._rawAmqpMessage;
  if (raw) raw.body = undefined;
  return { ok: false, reason: parsed.reason, description: parsed.description, message, bytes };
}

/** Receives up to `maxMessages` statuses, waiting at most `maxWaitTimeInMs` for the first one. */
export async function receiveStatuses(
  client: ServiceBusClient,
  queue: string,
  options: { maxMessages: number; maxWaitTimeInMs: number },
): Promise<StatusBatch> {
  const receiver: ServiceBusReceiver = client.createReceiver(queue, {
    receiveMode: "peekLock",
    skipParsingBodyAsJson: true,
  });
  const shutdown = shutdownSignals.get(client);
  let budgetReached = false;
  const take = async (o: { maxMessages: number; maxWaitTimeInMs: number }) => {
    // The client's batch receive waits up to a second after the first message for the batch to fill, a
    // second added to every status. So: long-poll for the first message alone, then take what else is
    // already queued with short receives (a drain returns whatever the broker had), each asking for no
    // more than the byte budget has room for (BATCH_BYTE_BUDGET).
    // A receive on a connection the broker dropped can sit in link setup for the client's whole operation
    // timeout before it fails; past its own wait plus a margin it is abandoned, so the pump's retry
    // (a second later) gets a fresh link instead.
    const wait = (maxWaitTimeInMs: number) => {
      const stuck = AbortSignal.timeout(maxWaitTimeInMs + RECEIVE_SETUP_MARGIN_MS);
      return { maxWaitTimeInMs, abortSignal: shutdown ? AbortSignal.any([shutdown, stuck]) : stuck };
    };
    if (budgetReached) return [];
    try {
      const items = (await receiver.receiveMessages(1, wait(o.maxWaitTimeInMs))).map(checked);
      let bytes = items.reduce((sum, i) => sum + i.bytes, 0);
      for (;;) {
        if (items.some((i) => !i.ok && i.reason === "Oversized")) budgetReached = true;
        const room = Math.floor((BATCH_BYTE_BUDGET - bytes) / LIMITS.bodyBytes);
        if (room < 1) budgetReached = true;
        const credits = Math.min(o.maxMessages - items.length, room);
        if (budgetReached || items.length === 0 || credits < 1) return items;
        const more = (await receiver.receiveMessages(credits, wait(BATCH_GRACE_MS))).map(checked);
        items.push(...more);
        bytes += more.reduce((sum, i) => sum + i.bytes, 0);
        // Fewer than asked: the queue had no more; another drain would only find it empty.
        if (more.length < credits) {
          if (more.some((i) => !i.ok && i.reason === "Oversized")) budgetReached = true;
          return items;
        }
      }
    } catch (error) {
      // Shutting down: an interrupted wait is an empty batch, not a failure of the caller (messages
      // already taken stay locked and are redelivered).
      if (shutdown?.aborted) return [];
      throw error;
    }
  };
  // Statuses of different deployments are settled concurrently: see SettlementGate for why they queue.
  const gate = new SettlementGate();
  try {
    return {
      items: await take(options),
      next: take,
      complete: (m) => gate.run("complete", () => receiver.completeMessage(m)),
      deadLetter: (m, reason, description) => {
        const options = { deadLetterReason: reason, deadLetterErrorDescription: description.slice(0, 1024) };
        // One outcome per reason and description: such dead-letters may be flushed together.
        const kind = sameOutcome(`${options.deadLetterReason}\u0000${options.deadLetterErrorDescription}`);
        return gate.run(kind, () => receiver.deadLetterMessage(m, options));
      },
      get budgetReached() {
        return budgetReached;
      },
      close: () => receiver.close(),
    };
  } catch (error) {
    await receiver.close();
    throw error;
  }
}
