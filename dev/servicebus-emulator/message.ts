/**
 * What a queue holds, free of AMQP and of the queue's rules (queue.ts): a stored message with its
 * broker-side fields, the consumer a queue hands messages to (a receiver link, adapted in consumer.ts),
 * and the ordered list of sequence numbers a queue keeps of its available messages.
 */
/** A decoded rhea message; fields as rhea names them (message_id, group_id, application_properties, body...). */
export type AmqpMessage = Record<string, unknown> & {
  message_id?: unknown;
  group_id?: string;
  ttl?: number;
  message_annotations?: Record<string, unknown>;
  application_properties?: Record<string, unknown>;
};

export type MessageState = "active" | "deferred" | "scheduled";

export interface StoredMessage {
  seq: number;
  amqp: AmqpMessage;
  size: number;
  messageId?: string;
  sessionId?: string;
  enqueuedAt: number;
  expiresAt: number;
  deliveryCount: number;
  state: MessageState;
  scheduledFor?: number;
  lockToken?: string;
  lockedUntil?: number;
  lockOwner?: Consumer;
  deadLetterSource?: string;
}

export interface Consumer {
  readonly id: string;
  /** The session this consumer holds (session queues only). */
  sessionId?: string;
  readonly peekLock: boolean;
  /** How many messages the consumer can take right now (its link credit). */
  capacity(): number;
  deliver(message: StoredMessage): void;
}

export const MAX_TTL_MS = 10 * 365 * 24 * 3600 * 1000;

/** Ascending list of sequence numbers; inserts are nearly always at the end. */
export class SeqList {
  private items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  insert(seq: number): void {
    const a = this.items;
    if (a.length === 0 || (a[a.length - 1] as number) < seq) {
      a.push(seq);
      return;
    }
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((a[mid] as number) < seq) lo = mid + 1;
      else hi = mid;
    }
    if (a[lo] !== seq) a.splice(lo, 0, seq);
  }
  remove(seq: number): void {
    const i = this.items.indexOf(seq);
    if (i >= 0) this.items.splice(i, 1);
  }
  shift(): number | undefined {
    return this.items.shift();
  }
}
