/**
 * One emulated namespace: its queues (each with a dead-letter sub-queue), its authorizer, the timer
 * that expires locks and messages and releases scheduled ones, and optional persistence (persistence.ts):
 * with a data folder, every change is in the write-ahead log before the operation that made it is
 * acknowledged, so an acknowledged send or settlement survives kill -9, as on Service Bus.
 */
import { Authorizer } from "./auth";
import type { NamespaceConfig } from "./config";
import { errors } from "./errors";
import {
  DEAD_LETTER_SUFFIX,
  EntityChanges,
  NamespaceStore,
  PersistedEntity,
  persistEntity,
  persistMessage,
  reviveEntity,
} from "./persistence";
import { Queue } from "./queue";
import { NamespaceStats, viewOf } from "./stats";

const SWEEP_MS = 50;
/** The log is folded into a new snapshot past this size, so a restart replays little. */
const COMPACT_LOG_BYTES = 4 * 1024 * 1024;

export interface ResolvedEntity {
  queue: Queue;
  /** The queue's name as configured (for messages and errors). */
  name: string;
  deadLetter: boolean;
}

export class Namespace {
  readonly queues = new Map<string, Queue>();
  readonly authorizer: Authorizer;
  private readonly timer: NodeJS.Timeout;
  private readonly store?: NamespaceStore;
  private flushScheduled = false;
  private closed = false;
  private waiting: ((error?: unknown) => void)[] = [];
  /** Namespace-wide counters (see stats.ts); the AMQP layer increments them. */
  readonly counters = { connections: 0, cbsPutTokens: 0 };

  constructor(
    readonly config: NamespaceConfig,
    dataDir?: string,
    private readonly onError: (error: unknown) => void = () => {},
  ) {
    this.authorizer = new Authorizer(config);
    if (dataDir) this.store = new NamespaceStore(dataDir, config.Name);
    for (const q of config.Queues) {
      const queue = new Queue(q.Name, q.Properties);
      this.queues.set(q.Name.toLowerCase(), queue);
    }
    this.load();
    for (const queue of this.queues.values()) {
      queue.onChange = () => this.scheduleFlush();
      if (queue.deadLetterQueue) queue.deadLetterQueue.onChange = () => this.scheduleFlush();
    }
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const queue of this.queues.values()) {
        try {
          queue.sweep(now);
        } catch (error) {
          // A timer callback must never take the emulator down; the next sweep retries.
          this.onError(error);
        }
      }
    }, SWEEP_MS);
    this.timer.unref();
  }

  /** `queue`, `queue/$DeadLetterQueue` (case-insensitive) → the entity, or an entity-not-found error. */
  resolve(address: string): ResolvedEntity {
    const path = address
      .replace(/^amqps?:\/\/[^/]+\//i, "")
      .replace(/^sb:\/\/[^/]+\//i, "")
      .replace(/^\/+/, "");
    const dlq = /\/\$deadletterqueue$/i.test(path);
    const name = dlq ? path.replace(/\/\$deadletterqueue$/i, "") : path;
    const queue = this.queues.get(name.toLowerCase());
    if (!queue) throw errors.entityNotFound(`sb://${this.config.Fqdn ?? this.config.Name}/${path}`);
    return {
      queue: dlq ? (queue.deadLetterQueue as Queue) : queue,
      name: dlq ? `${queue.name}/$DeadLetterQueue` : queue.name,
      deadLetter: dlq,
    };
  }

  /** A snapshot of the operation counters, per queue and dead-letter queue. */
  stats(): NamespaceStats {
    const entities: NamespaceStats["entities"] = {};
    for (const queue of this.queues.values()) {
      entities[queue.name] = viewOf(queue.stats);
      if (queue.deadLetterQueue) entities[queue.deadLetterQueue.name] = viewOf(queue.deadLetterQueue.stats);
    }
    return { ...this.counters, entities };
  }

  /**
   * Runs `then` once every change made so far is on disk: the broker acknowledges an operation (a send,
   * a settlement, a receive-and-delete delivery, a $management change) only from here. Changes made in
   * one turn of the event loop share one log append and one fdatasync (group commit). In memory, `then`
   * runs at once. `error` is set when the log could not be written; the operation must then be refused.
   */
  afterDurable(then: (error?: unknown) => void): void {
    if (!this.store) return then();
    this.waiting.push(then);
    this.scheduleFlush();
  }

  close(): void {
    clearInterval(this.timer);
    if (!this.store || this.closed) return;
    this.flush();
    this.closed = true;
    this.store.compact(this.entities());
    this.store.close();
  }

  // ---- persistence ---------------------------------------------------------------------------------

  private scheduleFlush(): void {
    if (!this.store || this.flushScheduled) return;
    this.flushScheduled = true;
    // After the I/O callbacks of this turn: every frame read in it joins the same append.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const store = this.store;
    if (!store || this.closed) return;
    const waiting = this.waiting;
    this.waiting = [];
    let failure: unknown;
    try {
      const changes: Record<string, EntityChanges> = {};
      for (const [id, queue] of this.entitiesById()) {
        const c = queue.takeChanges();
        if (!c) continue;
        changes[id] = {
          nextSeq: c.nextSeq,
          upserts: c.upserts.map(persistMessage),
          deletes: c.deletes,
          sessions: c.sessions.map(([sid, state]) => [sid, state ? state.toString("base64") : null]),
          duplicates: c.duplicates,
        };
      }
      if (Object.keys(changes).length > 0) store.append(changes);
      if (store.logBytes > COMPACT_LOG_BYTES) store.compact(this.entities());
    } catch (error) {
      failure = error;
      this.onError(error);
    }
    for (const then of waiting) {
      try {
        then(failure);
      } catch (error) {
        // An acknowledgement to a link that closed meanwhile; nothing more to do for it.
        this.onError(error);
      }
    }
  }

  private *entitiesById(): Generator<[string, Queue]> {
    for (const [key, queue] of this.queues) {
      yield [key, queue];
      if (queue.deadLetterQueue) yield [`${key}${DEAD_LETTER_SUFFIX}`, queue.deadLetterQueue];
    }
  }

  private entities(): Record<string, PersistedEntity> {
    const out: Record<string, PersistedEntity> = {};
    for (const [id, queue] of this.entitiesById()) out[id] = persistEntity(queue.snapshot());
    return out;
  }

  private load(): void {
    if (!this.store) return;
    const saved = this.store.load();
    for (const [id, queue] of this.entitiesById()) {
      const entity = saved[id];
      if (entity) queue.restore(reviveEntity(entity)); // queues removed from the config are dropped
    }
    // Start from a compact state: a snapshot of what was loaded and an empty log.
    this.store.compact(this.entities());
  }
}
