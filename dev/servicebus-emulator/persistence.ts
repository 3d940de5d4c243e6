/**
 * Durable state of one namespace, with the guarantee Service Bus gives: an operation the broker has
 * acknowledged survives a crash (kill -9) and, as far as the disk honours fdatasync, a power loss.
 *
 * Two files per namespace: `<name>.json`, a snapshot, and `<name>.wal`, a write-ahead log of JSON lines,
 * each the changes of one group of operations. The namespace appends and fdatasyncs a line before it
 * acknowledges the operations in it; start-up replays the log over the snapshot; compaction writes a new
 * snapshot (temporary file, fsync, rename, fsync of the folder) and then empties the log. Every line has a
 * log sequence number (lsn) and the snapshot records the last one it contains, so lines that outlived a
 * compaction interrupted between the rename and the truncation are skipped instead of applied twice.
 *
 * A line records resulting state, not operations (a message's persisted fields, or its removal), so replay
 * needs no broker logic and is the same whatever order the operations had inside one group.
 */
import fs from "node:fs";
import path from "node:path";
import { message as rheaMessage } from "rhea";
import type { AmqpMessage, StoredMessage } from "./message";
import type { QueueSnapshot } from "./queue";

/** A message as stored on disk: the AMQP message encoded, locks left out (they do not survive a restart). */
export type PersistedMessage = Omit<StoredMessage, "amqp" | "lockToken" | "lockedUntil" | "lockOwner"> & {
  amqp: string;
};

export interface PersistedEntity {
  nextSeq: number;
  messages: PersistedMessage[];
  sessionStates: [string, string][];
  duplicates: [string, number][];
}

/** What changed in one entity (a queue or its dead-letter queue) since the last log line. */
export interface EntityChanges {
  nextSeq: number;
  upserts: PersistedMessage[];
  deletes: number[];
  /** Session state by session id, base64; null = removed. */
  sessions: [string, string | null][];
  duplicates: [string, number][];
}

interface LogLine {
  lsn: number;
  entities: Record<string, EntityChanges>;
}

interface SnapshotFile {
  version: 2;
  lsn: number;
  entities: Record<string, PersistedEntity>;
}

/** The first format: `{ <queue>: { queue, dlq } }`, written whole after a debounce. Still read. */
type SnapshotV1 = Record<string, { queue: PersistedEntity; dlq: PersistedEntity }>;

export const DEAD_LETTER_SUFFIX = "/$deadletterqueue";

export function persistMessage(m: StoredMessage): PersistedMessage {
  // Fields listed so a lock (and its owner, a live link) can never reach the disk.
  return {
    seq: m.seq,
    amqp: (rheaMessage.encode(m.amqp as never) as Buffer).toString("base64"),
    size: m.size,
    messageId: m.messageId,
    sessionId: m.sessionId,
    enqueuedAt: m.enqueuedAt,
    expiresAt: m.expiresAt,
    deliveryCount: m.deliveryCount,
    state: m.state,
    scheduledFor: m.scheduledFor,
    deadLetterSource: m.deadLetterSource,
  };
}

export function persistEntity(s: QueueSnapshot): PersistedEntity {
  return { ...s, messages: s.messages.map(persistMessage) };
}

export function reviveEntity(p: PersistedEntity): QueueSnapshot {
  return {
    ...p,
    messages: p.messages.map((m) => ({
      ...m,
      // Files from before expiry was persisted read back as "never expires".
      expiresAt: m.expiresAt ?? Number.MAX_SAFE_INTEGER,
      amqp: rheaMessage.decode(Buffer.from(m.amqp, "base64")) as unknown as AmqpMessage,
    })),
  };
}

function emptyEntity(): PersistedEntity {
  return { nextSeq: 1, messages: [], sessionStates: [], duplicates: [] };
}

function fsyncDir(dir: string): void {
  // Windows cannot open a folder as a file; NTFS journals the rename itself.
  if (process.platform === "win32") return;
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export class NamespaceStore {
  private readonly snapshotFile: string;
  private readonly logFile: string;
  private logFd?: number;
  private lsn = 0;
  private bytes = 0;

  constructor(
    private readonly dir: string,
    name: string,
  ) {
    const base = name.replace(/[^A-Za-z0-9._-]/g, "_");
    this.snapshotFile = path.join(dir, `${base}.json`);
    this.logFile = path.join(dir, `${base}.wal`);
  }

  /** Bytes in the log since the last compaction. */
  get logBytes(): number {
    return this.bytes;
  }

  /** The snapshot with the log replayed over it, by entity id (`queue`, `queue/$deadletterqueue`). */
  load(): Record<string, PersistedEntity> {
    fs.mkdirSync(this.dir, { recursive: true });
    const state = this.readSnapshot();
    const lines = this.readLog();
    const entities = new Map<
      string,
      {
        nextSeq: number;
        messages: Map<number, PersistedMessage>;
        sessions: Map<string, string>;
        duplicates: Map<string, number>;
      }
    >();
    for (const [id, e] of Object.entries(state.entities)) {
      entities.set(id, {
        nextSeq: e.nextSeq,
        messages: new Map(e.messages.map((m) => [m.seq, m])),
        sessions: new Map(e.sessionStates),
        duplicates: new Map(e.duplicates),
      });
    }
    this.lsn = state.lsn;
    for (const line of lines) {
      if (line.lsn <= state.lsn) continue; // already in the snapshot
      this.lsn = line.lsn;
      for (const [id, c] of Object.entries(line.entities)) {
        let e = entities.get(id);
        if (!e) {
          e = { nextSeq: 1, messages: new Map(), sessions: new Map(), duplicates: new Map() };
          entities.set(id, e);
        }
        e.nextSeq = Math.max(e.nextSeq, c.nextSeq);
        for (const seq of c.deletes) e.messages.delete(seq);
        for (const m of c.upserts) e.messages.set(m.seq, m);
        for (const [sid, value] of c.sessions) {
          if (value === null) e.sessions.delete(sid);
          else e.sessions.set(sid, value);
        }
        for (const [mid, until] of c.duplicates) e.duplicates.set(mid, until);
      }
    }
    const out: Record<string, PersistedEntity> = {};
    for (const [id, e] of entities) {
      out[id] = {
        nextSeq: e.nextSeq,
        messages: [...e.messages.values()].sort((a, b) => a.seq - b.seq),
        sessionStates: [...e.sessions],
        duplicates: [...e.duplicates],
      };
    }
    return out;
  }

  /** Appends one line and waits for the disk: only then may the operations in it be acknowledged. */
  append(entities: Record<string, EntityChanges>): void {
    const line: LogLine = { lsn: this.lsn + 1, entities };
    const data = Buffer.from(`${JSON.stringify(line)}\n`);
    const fd = this.openLog();
    let written = 0;
    while (written < data.length) written += fs.writeSync(fd, data, written);
    fs.fdatasyncSync(fd);
    this.lsn = line.lsn;
    this.bytes += data.length;
  }

  /** Writes the whole state as the new snapshot, durably, then empties the log. */
  compact(entities: Record<string, PersistedEntity>): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const snapshot: SnapshotFile = { version: 2, lsn: this.lsn, entities };
    const tmp = `${this.snapshotFile}.tmp`;
    const fd = fs.openSync(tmp, "w");
    try {
      fs.writeFileSync(fd, JSON.stringify(snapshot));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.snapshotFile);
    fsyncDir(this.dir);
    const log = this.openLog();
    fs.ftruncateSync(log, 0);
    fs.fsyncSync(log);
    this.bytes = 0;
  }

  close(): void {
    if (this.logFd !== undefined) fs.closeSync(this.logFd);
    this.logFd = undefined;
  }

  private openLog(): number {
    if (this.logFd === undefined) {
      const existed = fs.existsSync(this.logFile);
      this.logFd = fs.openSync(this.logFile, "a");
      // A new file's name must be durable too, or a power loss could drop the whole log.
      if (!existed) fsyncDir(this.dir);
    }
    return this.logFd;
  }

  private readSnapshot(): SnapshotFile {
    if (!fs.existsSync(this.snapshotFile)) return { version: 2, lsn: 0, entities: {} };
    const data = JSON.parse(fs.readFileSync(this.snapshotFile, "utf8")) as SnapshotFile | SnapshotV1;
    if ((data as SnapshotFile).version === 2) return data as SnapshotFile;
    const entities: Record<string, PersistedEntity> = {};
    for (const [key, saved] of Object.entries(data as SnapshotV1)) {
      entities[key] = saved.queue ?? emptyEntity();
      entities[`${key}${DEAD_LETTER_SUFFIX}`] = saved.dlq ?? emptyEntity();
    }
    return { version: 2, lsn: 0, entities };
  }

  /**
   * The log's complete lines. A crash while appending can leave a torn last line (its operations were
   * never acknowledged): it is dropped and cut off the file, so the next append starts on a line of its own.
   * A bad line before the last one is corruption, which is refused rather than silently skipped.
   */
  private readLog(): LogLine[] {
    if (!fs.existsSync(this.logFile)) return [];
    const text = fs.readFileSync(this.logFile, "utf8");
    const parts = text.split("\n");
    const lines: LogLine[] = [];
    let goodBytes = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      const last = i === parts.length - 1;
      if (last && part === "") break;
      try {
        if (last) throw new Error("no newline");
        lines.push(JSON.parse(part) as LogLine);
        goodBytes += Buffer.byteLength(part) + 1;
      } catch (error) {
        const rest = parts.slice(i + 1).join("\n");
        if (!last && rest.replace(/\0/g, "").trim() !== "")
          throw new Error(`${this.logFile}: line ${i + 1} is corrupt (${String(error)})`);
        fs.truncateSync(this.logFile, goodBytes);
        break;
      }
    }
    this.bytes = goodBytes;
    return lines;
  }
}
