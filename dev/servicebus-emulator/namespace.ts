/**
 * One emulated namespace: its queues (each with a dead-letter sub-queue), its authorizer, the timer
 * that expires locks and messages and releases scheduled ones, and optional persistence of queued
 * messages to a JSON file so they survive an emulator restart.
 */
import fs from "node:fs";
import path from "node:path";
import { message as rheaMessage } from "rhea";
import { Authorizer } from "./auth";
import type { NamespaceConfig } from "./config";
import { errors } from "./errors";
import { AmqpMessage, Queue, QueueSnapshot } from "./queue";
import { NamespaceStats, viewOf } from "./stats";

const SWEEP_MS = 50;
const PERSIST_DEBOUNCE_MS = 100;

export interface ResolvedEntity {
  queue: Queue;
  /** The queue's name as configured (for messages and errors). */
  name: string;
  deadLetter: boolean;
}

interface PersistedQueue extends Omit<QueueSnapshot, "messages"> {
  messages: (Omit<QueueSnapshot["messages"][number], "amqp"> & { amqp: string })[];
}

export class Namespace {
  readonly queues = new Map<string, Queue>();
  readonly authorizer: Authorizer;
  private readonly timer: NodeJS.Timeout;
  private persistTimer?: NodeJS.Timeout;
  private readonly file?: string;
  /** Namespace-wide counters (see stats.ts); the AMQP layer increments them. */
  readonly counters = { connections: 0, cbsPutTokens: 0 };

  constructor(
    readonly config: NamespaceConfig,
    dataDir?: string,
    private readonly onError: (error: unknown) => void = () => {},
  ) {
    this.authorizer = new Authorizer(config);
    if (dataDir) this.file = path.join(dataDir, `${config.Name.replace(/[^A-Za-z0-9._-]/g, "_")}.json`);
    for (const q of config.Queues) {
      const queue = new Queue(q.Name, q.Properties);
      this.queues.set(q.Name.toLowerCase(), queue);
    }
    this.load();
    for (const queue of this.queues.values()) {
      queue.onChange = () => this.schedulePersist();
      if (queue.deadLetterQueue) queue.deadLetterQueue.onChange = () => this.schedulePersist();
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

  close(): void {
    clearInterval(this.timer);
    if (this.persistTimer) {
      clearTimeout(this.persistTimer);
      this.persistTimer = undefined;
    }
    this.persistNow();
  }

  // ---- persistence ---------------------------------------------------------------------------------

  private schedulePersist(): void {
    if (!this.file || this.persistTimer) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      this.persistNow();
    }, PERSIST_DEBOUNCE_MS);
    this.persistTimer.unref();
  }

  private persistNow(): void {
    if (!this.file) return;
    const data: Record<string, { queue: PersistedQueue; dlq: PersistedQueue }> = {};
    const encode = (s: QueueSnapshot): PersistedQueue => ({
      ...s,
      messages: s.messages.map((m) => ({
        ...m,
        amqp: (rheaMessage.encode(m.amqp as never) as Buffer).toString("base64"),
      })),
    });
    for (const [key, queue] of this.queues) {
      data[key] = {
        queue: encode(queue.snapshot()),
        dlq: encode((queue.deadLetterQueue as Queue).snapshot()),
      };
    }
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(data));
    fs.renameSync(tmp, this.file);
  }

  private load(): void {
    if (!this.file || !fs.existsSync(this.file)) return;
    const data = JSON.parse(fs.readFileSync(this.file, "utf8")) as Record<
      string,
      { queue: PersistedQueue; dlq: PersistedQueue }
    >;
    const decode = (p: PersistedQueue): QueueSnapshot => ({
      ...p,
      messages: p.messages.map((m) => ({
        ...m,
        expiresAt: m.expiresAt ?? Number.MAX_SAFE_INTEGER,
        amqp: rheaMessage.decode(Buffer.from(m.amqp, "base64")) as unknown as AmqpMessage,
      })),
    });
    for (const [key, saved] of Object.entries(data)) {
      const queue = this.queues.get(key);
      if (!queue) continue; // queue removed from the config since
      queue.restore(decode(saved.queue));
      queue.deadLetterQueue?.restore(decode(saved.dlq));
    }
  }
}
