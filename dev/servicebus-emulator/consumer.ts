/**
 * A receiver link as one of a queue's consumers: the queue hands it messages within the link's credit and
 * the session's window, and it transmits them (peek-lock deliveries tagged with their lock token;
 * receive-and-delete ones only once their removal is on disk). `outgoing` is the message as a receiver
 * sees it, on a link or in a `$management` answer. Split out of server.ts (the protocol server).
 */
import { guidBytesFromUuid, RheaDelivery, RheaLink, wrapLong } from "./amqp";
import type { Namespace, ResolvedEntity } from "./namespace";
import type { Consumer, StoredMessage } from "./message";

export class LinkConsumer implements Consumer {
  readonly id: string;
  sessionId?: string;
  readonly deliveries = new WeakMap<RheaDelivery, string>();
  /**
   * Ids of deliveries handed to rhea but not yet transmitted. rhea takes link credit only when it
   * transmits (later, on its own tick), so without this a burst of hand-outs would lock every available
   * message for a receiver that asked for one; the surplus would sit untransmitted until its lock expired.
   */
  private readonly unsent: number[] = [];
  /** Receive-and-delete deliveries waiting for their removal to be on disk before they are sent. */
  held = 0;

  constructor(
    readonly link: RheaLink,
    readonly entity: ResolvedEntity,
    readonly peekLock: boolean,
    private readonly afterDurable: Namespace["afterDurable"],
  ) {
    this.id = link.name;
  }

  capacity(): number {
    if (!this.link.is_open()) return 0;
    const outgoing = this.link.session.outgoing;
    while (this.unsent.length > 0 && (this.unsent[0] as number) < outgoing.next_pending_delivery)
      this.unsent.shift();
    // Never exceed the link credit nor the session's window of unsettled deliveries (rhea throws).
    return Math.min(this.link.credit - this.unsent.length - this.held, outgoing.available());
  }

  deliver(m: StoredMessage): void {
    this.entity.queue.stats.messagesDelivered++;
    if (this.peekLock) return this.transmit(m);
    // A receive-and-delete delivery is settled as it leaves: its removal must be durable first, or a
    // crash would hand the message out again.
    this.held++;
    this.afterDurable(() => {
      this.held--;
      if (this.link.is_open()) this.transmit(m);
    });
  }

  private transmit(m: StoredMessage): void {
    const tag = this.peekLock && m.lockToken ? guidBytesFromUuid(m.lockToken) : Buffer.alloc(0);
    const delivery = this.link.send(outgoing(m), tag.length ? tag : undefined);
    this.unsent.push(delivery.id);
    if (this.peekLock && m.lockToken) this.deliveries.set(delivery, m.lockToken);
  }
}

/** The message as a receiver sees it: the sender's message plus the broker's annotations. */
export function outgoing(m: StoredMessage): Record<string, unknown> {
  const annotations: Record<string, unknown> = {
    ...(m.amqp.message_annotations ?? {}),
    "x-opt-sequence-number": wrapLong(m.seq),
    "x-opt-enqueued-time": new Date(m.enqueuedAt),
  };
  if (m.lockedUntil !== undefined) annotations["x-opt-locked-until"] = new Date(m.lockedUntil);
  if (m.state === "deferred") annotations["x-opt-message-state"] = 1;
  if (m.state === "scheduled") annotations["x-opt-message-state"] = 2;
  if (m.deadLetterSource) annotations["x-opt-deadletter-source"] = m.deadLetterSource;
  return { ...m.amqp, delivery_count: m.deliveryCount, message_annotations: annotations };
}
