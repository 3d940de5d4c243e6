/**
 * One queue's broker state and rules, free of AMQP: enqueue with duplicate detection, TTL and
 * scheduling; peek-lock with lock expiry, renewal, abandon, defer, dead-letter and MaxDeliveryCount;
 * receive-and-delete; sessions with their locks and state. The AMQP layer adapts links to `Consumer`s
 * (consumer.ts); the stored message and its helpers are in message.ts.
 */
import { randomUUID } from "node:crypto";
import type { QueueProperties } from "./config";
import { errors } from "./errors";
import { MAX_TTL_MS, SeqList, type AmqpMessage, type Consumer, type StoredMessage } from "./message";
import { EntityStats, newEntityStats } from "./stats";

interface SessionInfo {
  owner?: Consumer;
  lockedUntil: number;
  state?: Buffer;
}

export interface QueueSnapshot {
  nextSeq: number;
  messages: StoredMessage[];
  sessionStates: [string, string][];
  duplicates: [string, number][];
}

export interface QueueChanges {
  nextSeq: number;
  upserts: StoredMessage[];
  deletes: number[];
  sessions: [string, Buffer | undefined][];
  duplicates: [string, number][];
}

export class Queue {
  private nextSeq = 1;
  private readonly messages = new Map<number, StoredMessage>();
  private readonly available = new SeqList();
  private readonly sessionAvailable = new Map<string, SeqList>();
  private readonly locks = new Map<string, StoredMessage>();
  private readonly sessions = new Map<string, SessionInfo>();
  private readonly consumers: Consumer[] = [];
  private readonly duplicates = new Map<string, number>();
  private pumping = false;
  readonly deadLetterQueue?: Queue;
  /** Operation counters (the AMQP layer increments them; see stats.ts). */
  readonly stats: EntityStats = newEntityStats();
  /** Called after every change that must reach the disk; `takeChanges()` then says what changed. */
  onChange: () => void = () => {};
  private readonly dirtyMessages = new Set<number>();
  private readonly dirtySessions = new Set<string>();
  private readonly dirtyDuplicates = new Set<string>();

  constructor(
    readonly name: string,
    readonly props: QueueProperties,
    readonly isDeadLetterQueue = false,
  ) {
    if (!isDeadLetterQueue) {
      this.deadLetterQueue = new Queue(
        `${name}/$DeadLetterQueue`,
        { ...props, RequiresSession: false },
        true,
      );
    }
  }

  get requiresSession(): boolean {
    return this.props.RequiresSession && !this.isDeadLetterQueue;
  }

  get messageCount(): number {
    return this.messages.size;
  }

  // ---- sending -------------------------------------------------------------------------------------

  /** Enqueues a message; returns undefined when duplicate detection drops it. */
  enqueue(
    original: AmqpMessage,
    size: number,
    now: number,
    scheduledFor?: number,
  ): StoredMessage | undefined {
    // The service gives every message an id; the client's lock renewal depends on it.
    const amqp =
      original.message_id === undefined || original.message_id === null
        ? { ...original, message_id: randomUUID().replace(/-/g, "") }
        : original;
    const messageId =
      amqp.message_id === undefined || amqp.message_id === null ? undefined : String(amqp.message_id);
    if (this.requiresSession && (amqp.group_id === undefined || amqp.group_id === null)) {
      throw errors.notAllowed(
        `The SessionId was not set on a message, and it cannot be sent to the entity '${this.name}'. Entities that have session support enabled can only receive messages that have the SessionId set to a valid value.`,
      );
    }
    if (this.props.RequiresDuplicateDetection && messageId !== undefined) {
      const until = this.duplicates.get(messageId);
      if (until !== undefined && until > now) return undefined;
      this.duplicates.set(messageId, now + this.props.DuplicateDetectionHistoryTimeWindow);
      this.dirtyDuplicates.add(messageId);
    }
    const ttl = typeof amqp.ttl === "number" && amqp.ttl > 0 ? amqp.ttl : this.props.DefaultMessageTimeToLive;
    const stored: StoredMessage = {
      seq: this.nextSeq++,
      amqp,
      size,
      messageId,
      sessionId: this.requiresSession || amqp.group_id ? (amqp.group_id ?? undefined) : undefined,
      enqueuedAt: now,
      expiresAt: now + Math.min(ttl ?? MAX_TTL_MS, MAX_TTL_MS),
      deliveryCount: 0,
      state: scheduledFor !== undefined && scheduledFor > now ? "scheduled" : "active",
      scheduledFor: scheduledFor !== undefined && scheduledFor > now ? scheduledFor : undefined,
    };
    this.messages.set(stored.seq, stored);
    if (stored.state === "active") this.makeAvailable(stored);
    this.changed(stored.seq);
    return stored;
  }

  cancelScheduled(seq: number): void {
    const m = this.messages.get(seq);
    if (m && m.state === "scheduled") {
      this.messages.delete(seq);
      this.changed(seq);
    }
  }

  /** Moves a message here from another queue's dead-lettering, with a new sequence number. */
  acceptDeadLetter(
    source: StoredMessage,
    now: number,
    reason?: string,
    description?: string,
    extra?: Record<string, unknown>,
  ): void {
    const props = { ...(source.amqp.application_properties ?? {}), ...(extra ?? {}) };
    if (reason !== undefined) props.DeadLetterReason = reason;
    if (description !== undefined) props.DeadLetterErrorDescription = description;
    const stored: StoredMessage = {
      ...source,
      amqp: { ...source.amqp, application_properties: props },
      seq: this.nextSeq++,
      enqueuedAt: source.enqueuedAt,
      expiresAt: now + MAX_TTL_MS,
      state: "active",
      scheduledFor: undefined,
      lockToken: undefined,
      lockedUntil: undefined,
      lockOwner: undefined,
      sessionId: undefined,
      deadLetterSource: source.deadLetterSource ?? sourceName(this.name),
    };
    this.messages.set(stored.seq, stored);
    this.makeAvailable(stored);
    this.changed(stored.seq);
  }

  // ---- consumers -----------------------------------------------------------------------------------

  attach(consumer: Consumer): void {
    this.consumers.push(consumer);
  }

  detach(consumer: Consumer): void {
    const i = this.consumers.indexOf(consumer);
    if (i >= 0) this.consumers.splice(i, 1);
    if (consumer.sessionId !== undefined) {
      const s = this.sessions.get(consumer.sessionId);
      if (s?.owner === consumer) s.owner = undefined;
    }
  }

  /** Hands available messages to consumers with credit, round-robin. */
  pump(now = Date.now()): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      let progressed = true;
      while (progressed) {
        progressed = false;
        for (const consumer of [...this.consumers]) {
          if (consumer.capacity() <= 0) continue;
          const m = this.takeNext(consumer, now);
          if (!m) continue;
          this.handOut(m, consumer, now);
          progressed = true;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private takeNext(consumer: Consumer, now: number): StoredMessage | undefined {
    const list = this.requiresSession
      ? consumer.sessionId !== undefined
        ? this.sessionAvailable.get(consumer.sessionId)
        : undefined
      : this.available;
    if (!list) return undefined;
    for (;;) {
      const seq = list.shift();
      if (seq === undefined) return undefined;
      const m = this.messages.get(seq);
      if (!m || m.state !== "active" || m.lockToken) continue;
      if (m.expiresAt <= now) {
        this.expire(m, now);
        continue;
      }
      return m;
    }
  }

  private handOut(m: StoredMessage, consumer: Consumer, now: number): void {
    // A lock is not persisted (it does not survive a restart); a receive-and-delete removal is.
    if (consumer.peekLock) {
      this.lock(m, consumer, now);
    } else {
      this.messages.delete(m.seq);
      this.changed(m.seq);
    }
    consumer.deliver(m);
  }

  private lock(m: StoredMessage, owner: Consumer | undefined, now: number): void {
    m.lockToken = randomUUID();
    m.lockedUntil =
      this.requiresSession && m.sessionId !== undefined
        ? this.sessionLockedUntil(m.sessionId)
        : now + this.props.LockDuration;
    m.lockOwner = owner;
    this.locks.set(m.lockToken, m);
  }

  private makeAvailable(m: StoredMessage): void {
    if (this.requiresSession && m.sessionId !== undefined) {
      let list = this.sessionAvailable.get(m.sessionId);
      if (!list) {
        list = new SeqList();
        this.sessionAvailable.set(m.sessionId, list);
      }
      list.insert(m.seq);
    } else {
      this.available.insert(m.seq);
    }
    this.pump();
  }

  // ---- settlement ----------------------------------------------------------------------------------

  /** In a session queue a message's lock is its session's lock, as in Service Bus. */
  private sessionHeld(m: StoredMessage, now: number): boolean {
    if (!this.requiresSession || m.sessionId === undefined) return false;
    const s = this.sessions.get(m.sessionId);
    return !!s && !!s.owner && s.lockedUntil > now;
  }

  private locked(token: string, now = Date.now()): StoredMessage {
    const m = this.locks.get(token.toLowerCase());
    if (!m) throw errors.lockLost();
    if (this.requiresSession && m.sessionId !== undefined) {
      if (!this.sessionHeld(m, now)) throw errors.sessionLockLost(m.sessionId);
      return m;
    }
    if (m.lockedUntil === undefined || m.lockedUntil <= now) throw errors.lockLost();
    return m;
  }

  private unlock(m: StoredMessage): void {
    if (m.lockToken) this.locks.delete(m.lockToken);
    m.lockToken = undefined;
    m.lockedUntil = undefined;
    m.lockOwner = undefined;
  }

  complete(token: string): void {
    const m = this.locked(token);
    this.unlock(m);
    this.messages.delete(m.seq);
    this.changed(m.seq);
  }

  abandon(token: string, propertiesToModify?: Record<string, unknown>, now = Date.now()): void {
    const m = this.locked(token);
    this.unlock(m);
    this.modify(m, propertiesToModify);
    this.redeliverOrDeadLetter(m, now);
  }

  defer(token: string, propertiesToModify?: Record<string, unknown>): void {
    const m = this.locked(token);
    this.unlock(m);
    this.modify(m, propertiesToModify);
    m.state = "deferred";
    this.changed(m.seq);
  }

  deadLetter(
    token: string,
    reason?: string,
    description?: string,
    propertiesToModify?: Record<string, unknown>,
    now = Date.now(),
  ): void {
    const m = this.locked(token);
    this.unlock(m);
    this.moveToDeadLetter(m, now, reason, description, propertiesToModify);
  }

  renewLock(token: string, now = Date.now()): number {
    const m = this.locked(token, now);
    if (this.requiresSession && m.sessionId !== undefined) {
      throw errors.notAllowed(
        "Messages in a session are locked by the session; renew the session lock instead.",
      );
    }
    m.lockedUntil = now + this.props.LockDuration;
    return m.lockedUntil;
  }

  private modify(m: StoredMessage, propertiesToModify?: Record<string, unknown>): void {
    if (propertiesToModify && Object.keys(propertiesToModify).length > 0) {
      m.amqp = {
        ...m.amqp,
        application_properties: { ...(m.amqp.application_properties ?? {}), ...propertiesToModify },
      };
    }
  }

  private redeliverOrDeadLetter(m: StoredMessage, now: number): void {
    m.deliveryCount += 1;
    if (!this.isDeadLetterQueue && m.deliveryCount >= this.props.MaxDeliveryCount) {
      this.moveToDeadLetter(
        m,
        now,
        "MaxDeliveryCountExceeded",
        `Message could not be consumed after ${this.props.MaxDeliveryCount} delivery attempts.`,
      );
      return;
    }
    this.makeAvailable(m);
    this.changed(m.seq);
  }

  private moveToDeadLetter(
    m: StoredMessage,
    now: number,
    reason?: string,
    description?: string,
    extra?: Record<string, unknown>,
  ): void {
    this.messages.delete(m.seq);
    if (this.deadLetterQueue) {
      this.deadLetterQueue.acceptDeadLetter(m, now, reason, description, extra);
    }
    this.changed(m.seq);
  }

  private expire(m: StoredMessage, now: number): void {
    this.unlock(m);
    if (this.props.DeadLetteringOnMessageExpiration && this.deadLetterQueue) {
      this.moveToDeadLetter(m, now, "TTLExpiredException", "The message expired and was dead lettered.");
    } else {
      this.messages.delete(m.seq);
      this.changed(m.seq);
    }
  }

  // ---- deferred, peek ------------------------------------------------------------------------------

  /** Locks (or removes, for receive-and-delete) deferred messages by sequence number. */
  receiveDeferred(
    seqs: number[],
    peekLock: boolean,
    sessionId: string | undefined,
    now = Date.now(),
  ): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (const seq of seqs) {
      const m = this.messages.get(seq);
      if (!m || m.state !== "deferred" || (sessionId !== undefined && m.sessionId !== sessionId)) {
        throw errors.messageNotFound(
          `Failed to lock one or more specified messages. The message with sequence number ${seq} was not found or is not deferred.`,
        );
      }
      out.push(m);
    }
    for (const m of out) {
      if (peekLock) this.lock(m, undefined, now);
      else {
        this.messages.delete(m.seq);
        this.changed(m.seq);
      }
    }
    return out;
  }

  /** Messages from `fromSeq` on, in order, without locking (includes locked, deferred, scheduled). */
  peek(fromSeq: number, count: number, sessionId?: string, now = Date.now()): StoredMessage[] {
    const out: StoredMessage[] = [];
    const seqs = [...this.messages.keys()].filter((s) => s >= fromSeq).sort((a, b) => a - b);
    for (const seq of seqs) {
      if (out.length >= count) break;
      const m = this.messages.get(seq) as StoredMessage;
      if (m.expiresAt <= now && !m.lockToken) continue;
      if (sessionId !== undefined && m.sessionId !== sessionId) continue;
      out.push(m);
    }
    return out;
  }

  // ---- sessions ------------------------------------------------------------------------------------

  /**
   * Locks a session for a consumer: the named one, or the next unlocked session with available messages.
   * Returns the session id, or undefined when no session is free.
   */
  acceptSession(consumer: Consumer, sessionId: string | undefined, now = Date.now()): string | undefined {
    if (!this.requiresSession)
      throw errors.notAllowed(`The entity '${this.name}' does not support sessions.`);
    const free = (id: string) => {
      const s = this.sessions.get(id);
      return !s || !s.owner || s.lockedUntil <= now;
    };
    let chosen = sessionId;
    if (chosen === undefined) {
      for (const [id, list] of this.sessionAvailable) {
        if (list.size > 0 && free(id)) {
          chosen = id;
          break;
        }
      }
      if (chosen === undefined) return undefined;
    } else if (!free(chosen)) {
      throw errors.sessionCannotBeLocked(
        `The requested session '${chosen}' cannot be accepted. It may be locked by another receiver.`,
      );
    }
    const info = this.sessions.get(chosen) ?? { lockedUntil: 0 };
    info.owner = consumer;
    info.lockedUntil = now + this.props.LockDuration;
    this.sessions.set(chosen, info);
    consumer.sessionId = chosen;
    return chosen;
  }

  sessionLockedUntil(sessionId: string): number {
    return this.sessions.get(sessionId)?.lockedUntil ?? 0;
  }

  private ownedSession(sessionId: string, now: number): SessionInfo {
    const s = this.sessions.get(sessionId);
    if (!s || !s.owner || s.lockedUntil <= now) throw errors.sessionLockLost(sessionId);
    return s;
  }

  renewSessionLock(sessionId: string, now = Date.now()): number {
    const s = this.ownedSession(sessionId, now);
    s.lockedUntil = now + this.props.LockDuration;
    return s.lockedUntil;
  }

  getSessionState(sessionId: string, now = Date.now()): Buffer | undefined {
    return this.ownedSession(sessionId, now).state;
  }

  setSessionState(sessionId: string, state: Buffer | undefined, now = Date.now()): void {
    this.ownedSession(sessionId, now).state = state;
    this.dirtySessions.add(sessionId);
    this.changed();
  }

  // ---- time ----------------------------------------------------------------------------------------

  /** Expires locks, sessions and messages; activates scheduled messages; prunes duplicate history. */
  sweep(now = Date.now()): void {
    for (const m of [...this.locks.values()]) {
      const expired =
        this.requiresSession && m.sessionId !== undefined
          ? !this.sessionHeld(m, now)
          : (m.lockedUntil ?? 0) <= now;
      if (expired) {
        this.unlock(m);
        this.redeliverOrDeadLetter(m, now);
      }
    }
    for (const m of [...this.messages.values()]) {
      if (m.state === "scheduled" && (m.scheduledFor ?? 0) <= now) {
        m.state = "active";
        m.scheduledFor = undefined;
        m.enqueuedAt = now;
        this.makeAvailable(m);
        this.changed(m.seq);
      } else if (m.expiresAt <= now && !m.lockToken && m.state !== "scheduled") {
        this.expire(m, now);
      }
    }
    for (const [id, s] of this.sessions) {
      if (s.owner && s.lockedUntil <= now) s.owner = undefined;
      if (!s.owner && !s.state && !this.sessionAvailable.get(id)?.size) this.sessions.delete(id);
    }
    for (const [id, until] of this.duplicates) if (until <= now) this.duplicates.delete(id);
    this.deadLetterQueue?.sweep(now);
    this.pump(now);
  }

  // ---- persistence ---------------------------------------------------------------------------------

  snapshot(): QueueSnapshot {
    return {
      nextSeq: this.nextSeq,
      // Locks do not survive a restart: locked messages become available again, like a broker failover.
      messages: [...this.messages.values()].map((m) => ({
        ...m,
        lockToken: undefined,
        lockedUntil: undefined,
        lockOwner: undefined,
      })),
      sessionStates: [...this.sessions]
        .filter(([, s]) => s.state)
        .map(([id, s]) => [id, (s.state as Buffer).toString("base64")]),
      duplicates: [...this.duplicates],
    };
  }

  restore(snapshot: QueueSnapshot): void {
    this.nextSeq = snapshot.nextSeq;
    for (const m of snapshot.messages) {
      this.messages.set(m.seq, m);
      if (m.state === "active") this.makeAvailable(m);
    }
    for (const [id, state] of snapshot.sessionStates)
      this.sessions.set(id, { lockedUntil: 0, state: Buffer.from(state, "base64") });
    for (const [id, until] of snapshot.duplicates) this.duplicates.set(id, until);
  }

  /**
   * What changed since the last call, as resulting state (a message present now, or its sequence number
   * when it is gone), for the write-ahead log; undefined when nothing did.
   */
  takeChanges(): QueueChanges | undefined {
    if (this.dirtyMessages.size === 0 && this.dirtySessions.size === 0 && this.dirtyDuplicates.size === 0)
      return undefined;
    const upserts: StoredMessage[] = [];
    const deletes: number[] = [];
    for (const seq of this.dirtyMessages) {
      const m = this.messages.get(seq);
      if (m) upserts.push(m);
      else deletes.push(seq);
    }
    const sessions: [string, Buffer | undefined][] = [...this.dirtySessions].map((id) => [
      id,
      this.sessions.get(id)?.state,
    ]);
    const duplicates: [string, number][] = [];
    for (const id of this.dirtyDuplicates) {
      const until = this.duplicates.get(id);
      if (until !== undefined) duplicates.push([id, until]);
    }
    this.dirtyMessages.clear();
    this.dirtySessions.clear();
    this.dirtyDuplicates.clear();
    return { nextSeq: this.nextSeq, upserts, deletes, sessions, duplicates };
  }

  private changed(seq?: number): void {
    if (seq !== undefined) this.dirtyMessages.add(seq);
    this.onChange();
  }
}

function sourceName(dlqName: string): string {
  return dlqName.replace(/\/\$DeadLetterQueue$/, "");
}
