/**
 * Durable state in one Azure Table (Azurite locally). Every row of an instance shares its partition, so
 * an episode's appended history, instance row, consumed and produced work items commit in one batch
 * transaction. Row keys: `I` instance, `H|<execution>|<seq>` history, `E|<id>` inbox event (timers carry
 * a due time), `A|<id>` activity work item, `O|<id>` outbox message for another instance.
 */
import { TableClient, TableTransaction, type TableEntityResult } from "@azure/data-tables";
import type { HistoryEvent } from "./history";

export type RuntimeStatus =
  "Pending" | "Running" | "Completed" | "ContinuedAsNew" | "Failed" | "Canceled" | "Terminated" | "Suspended";

export const ACTIVE_STATUSES: ReadonlySet<RuntimeStatus> = new Set(["Pending", "Running", "Suspended"]);

export interface RetryState {
  kind: "activity" | "suborchestration";
  name: string;
  /** JSON text of the activity input, or the sub-orchestration input. */
  input: string;
  options: RetryOptionsWire;
  attempt: number;
  firstAttemptAt: number;
  childInstanceId?: string;
  /** A sub-orchestration's version, for each attempt. */
  version?: string;
}

export interface RetryOptionsWire {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

/**
 * A timer longer than the backend's maximumShortTimerDuration, run as the extension runs it: one piece of
 * longRunningTimerIntervalDuration after another until `fireAt`, each piece a timer with its own task id.
 */
export interface LongTimerState {
  /** Index of the CreateTimer action in the flattened actions (its `isCanceled` is read there). */
  action: number;
  /** The orchestrator's fire time (ISO). */
  fireAt: string;
  /** Pieces created so far. */
  pieces: number;
  canceled?: boolean;
}

export interface ParentLink {
  instanceId: string;
  executionId: string;
  taskId: number;
}

export interface InstanceRecord {
  instanceId: string;
  name: string;
  executionId: string;
  runtimeStatus: RuntimeStatus;
  input?: string;
  output?: string;
  customStatus?: string;
  createdTime: string;
  lastUpdatedTime: string;
  /** Next task id, mirroring the SDK's sequence numbers. */
  nextId: number;
  /** Flattened actions already turned into history. */
  actionCount: number;
  /** Retryable tasks by current attempt id, and retry timers by timer id. */
  retries: Record<string, RetryState>;
  retryTimers: Record<string, RetryState>;
  /** Long timers by the id of their pending piece (a timer over maximumShortTimerDuration is split). */
  longTimers: Record<string, LongTimerState>;
  parent?: ParentLink;
  /** The orchestration version it was started with, for life (none: started before versioning). */
  version?: string;
}

export interface InboxItem {
  rowKey: string;
  event: HistoryEvent;
  /** Epoch ms before which the event is not delivered (timers). */
  dueAt: number;
  /** Execution a completion belongs to; completions for an older execution are dropped. */
  executionId?: string;
  /**
   * Set for activity results kept only in memory: the episode that consumes one deletes this activity
   * row instead, so a crash before that commit reruns the activity (at-least-once) and saves a write.
   */
  activityRowKey?: string;
}

export interface ActivityItem {
  rowKey: string;
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  input: string;
}

export type OutboxMessage =
  | { rowKey: string; kind: "event"; target: string; item: InboxItem }
  | {
      rowKey: string;
      kind: "start";
      target: string;
      name: string;
      input?: string;
      parent: ParentLink;
      /** The sub-orchestration's version; none: the engine's default version. */
      version?: string;
    };

export type Op = ["upsert", Record<string, unknown>] | ["delete", string];

const HISTORY_PAD = 8;

export function historyRowKey(executionId: string, seq: number): string {
  return `H|${executionId}|${String(seq).padStart(HISTORY_PAD, "0")}`;
}

export function instanceToEntity(r: InstanceRecord): Record<string, unknown> {
  return {
    rowKey: "I",
    Name: r.name,
    ExecutionId: r.executionId,
    RuntimeStatus: r.runtimeStatus,
    Input: r.input,
    Output: r.output,
    CustomStatus: r.customStatus,
    CreatedTime: r.createdTime,
    LastUpdatedTime: r.lastUpdatedTime,
    NextId: r.nextId,
    ActionCount: r.actionCount,
    Retries: JSON.stringify(r.retries),
    RetryTimers: JSON.stringify(r.retryTimers),
    LongTimers: JSON.stringify(r.longTimers),
    Parent: r.parent ? JSON.stringify(r.parent) : undefined,
    Version: r.version,
  };
}

type Row = TableEntityResult<Record<string, unknown>>;

export function entityToInstance(e: Row): InstanceRecord {
  const str = (k: string) => (typeof e[k] === "string" ? (e[k] as string) : undefined);
  return {
    instanceId: e.partitionKey as string,
    name: str("Name") ?? "",
    executionId: str("ExecutionId") ?? "",
    runtimeStatus: (str("RuntimeStatus") ?? "Pending") as RuntimeStatus,
    input: str("Input"),
    output: str("Output"),
    customStatus: str("CustomStatus"),
    createdTime: str("CreatedTime") ?? "",
    lastUpdatedTime: str("LastUpdatedTime") ?? "",
    nextId: Number(e.NextId ?? 0),
    actionCount: Number(e.ActionCount ?? 0),
    retries: JSON.parse(str("Retries") ?? "{}"),
    retryTimers: JSON.parse(str("RetryTimers") ?? "{}"),
    longTimers: JSON.parse(str("LongTimers") ?? "{}"),
    parent: str("Parent") ? JSON.parse(str("Parent") as string) : undefined,
    version: str("Version"),
  };
}

export function inboxToEntity(i: InboxItem): Record<string, unknown> {
  return { rowKey: i.rowKey, Event: JSON.stringify(i.event), DueAt: i.dueAt, ExecutionId: i.executionId };
}

function entityToInbox(e: Row): InboxItem {
  return {
    rowKey: e.rowKey as string,
    event: JSON.parse(e.Event as string),
    dueAt: Number(e.DueAt ?? 0),
    executionId: typeof e.ExecutionId === "string" ? e.ExecutionId : undefined,
  };
}

export function activityToEntity(a: ActivityItem): Record<string, unknown> {
  return { rowKey: a.rowKey, ExecutionId: a.executionId, TaskId: a.taskId, Name: a.name, Input: a.input };
}

function entityToActivity(e: Row): ActivityItem {
  return {
    rowKey: e.rowKey as string,
    instanceId: e.partitionKey as string,
    executionId: e.ExecutionId as string,
    taskId: Number(e.TaskId),
    name: e.Name as string,
    input: e.Input as string,
  };
}

export function outboxToEntity(m: OutboxMessage): Record<string, unknown> {
  return { rowKey: m.rowKey, Message: JSON.stringify(m) };
}

/** What a freshly started engine must pick up again. */
export interface PendingWork {
  inbox: Map<string, InboxItem[]>;
  activities: ActivityItem[];
  outbox: { source: string; message: OutboxMessage }[];
}

export interface InstanceQuery {
  runtimeStatus?: RuntimeStatus[];
  createdTimeFrom?: string;
  createdTimeTo?: string;
  instanceIdPrefix?: string;
  top?: number;
  continuationToken?: string;
}

const MAX_BATCH = 100;

export class DurableStore {
  private readonly table: TableClient;

  constructor(connectionString: string, tableName: string) {
    // Plain-http endpoints (Azurite, UseDevelopmentStorage=true) need the client's explicit consent.
    const probe = TableClient.fromConnectionString(connectionString, tableName);
    this.table = TableClient.fromConnectionString(connectionString, tableName, {
      allowInsecureConnection: probe.url.startsWith("http:"),
      // The store is local (Azurite): fail fast rather than back off for seconds on an absent emulator.
      retryOptions: { maxRetries: 3, retryDelayInMs: 50, maxRetryDelayInMs: 500 },
    });
  }

  /** The table service address, for error messages (never the key). */
  get endpoint(): string {
    return this.table.url;
  }

  async init(): Promise<void> {
    await this.table.createTable();
  }

  /** Applies the operations of one partition; atomically when they fit one batch. */
  async commit(partition: string, ops: Op[]): Promise<void> {
    for (let i = 0; i < ops.length; i += MAX_BATCH) {
      const tx = new TableTransaction();
      for (const [kind, arg] of ops.slice(i, i + MAX_BATCH)) {
        if (kind === "upsert")
          tx.upsertEntity({ ...arg, partitionKey: partition, rowKey: arg.rowKey as string }, "Replace");
        else tx.deleteEntity(partition, arg);
      }
      await this.table.submitTransaction(tx.actions);
    }
  }

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    try {
      return entityToInstance(await this.table.getEntity(instanceId, "I"));
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }

  /** Loads an instance with the history of its current execution and its pending inbox. */
  async loadInstance(
    instanceId: string,
  ): Promise<
    | { record: InstanceRecord; history: HistoryEvent[]; inbox: InboxItem[]; activities: ActivityItem[] }
    | undefined
  > {
    // A point read first: most lookups are for instances that do not exist yet (a new start), and a
    // partition query costs Azurite a scan of the whole table, which grows with every instance.
    if (!(await this.getInstance(instanceId))) return undefined;
    const rows: Row[] = [];
    const filter = `PartitionKey eq '${escapeOData(instanceId)}'`;
    for await (const row of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } }))
      rows.push(row);
    const instanceRow = rows.find((r) => r.rowKey === "I");
    if (!instanceRow) return undefined;
    const record = entityToInstance(instanceRow);
    const prefix = `H|${record.executionId}|`;
    const history = rows
      .filter((r) => (r.rowKey as string).startsWith(prefix))
      .sort((a, b) => ((a.rowKey as string) < (b.rowKey as string) ? -1 : 1))
      .map((r) => JSON.parse(r.Event as string) as HistoryEvent);
    const inbox = rows.filter((r) => (r.rowKey as string).startsWith("E|")).map(entityToInbox);
    const activities = rows.filter((r) => (r.rowKey as string).startsWith("A|")).map(entityToActivity);
    return { record, history, inbox, activities };
  }

  async pendingWork(): Promise<PendingWork> {
    const work: PendingWork = { inbox: new Map(), activities: [], outbox: [] };
    const filter =
      "(RowKey ge 'A|' and RowKey lt 'A}') or (RowKey ge 'E|' and RowKey lt 'E}') or (RowKey ge 'O|' and RowKey lt 'O}')";
    for await (const row of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      const key = row.rowKey as string;
      const pk = row.partitionKey as string;
      if (key.startsWith("A|")) work.activities.push(entityToActivity(row));
      else if (key.startsWith("E|")) {
        const list = work.inbox.get(pk) ?? [];
        list.push(entityToInbox(row));
        work.inbox.set(pk, list);
      } else work.outbox.push({ source: pk, message: JSON.parse(row.Message as string) });
    }
    return work;
  }

  async queryInstances(q: InstanceQuery): Promise<{ records: InstanceRecord[]; continuationToken?: string }> {
    const parts = ["RowKey eq 'I'"];
    if (q.runtimeStatus?.length)
      parts.push(`(${q.runtimeStatus.map((s) => `RuntimeStatus eq '${escapeOData(s)}'`).join(" or ")})`);
    if (q.createdTimeFrom) parts.push(`CreatedTime ge '${escapeOData(q.createdTimeFrom)}'`);
    if (q.createdTimeTo) parts.push(`CreatedTime le '${escapeOData(q.createdTimeTo)}'`);
    if (q.instanceIdPrefix)
      parts.push(
        `PartitionKey ge '${escapeOData(q.instanceIdPrefix)}' and PartitionKey lt '${escapeOData(q.instanceIdPrefix)}\uffff'`,
      );
    const pages = this.table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter: parts.join(" and ") } })
      .byPage({ maxPageSize: q.top ?? 1000, continuationToken: q.continuationToken });
    const records: InstanceRecord[] = [];
    for await (const page of pages) {
      records.push(...page.map(entityToInstance));
      if (q.top !== undefined) return { records, continuationToken: page.continuationToken };
    }
    return { records };
  }

  /** Deletes every row of an instance; returns whether it existed. */
  async purge(instanceId: string): Promise<boolean> {
    const keys: string[] = [];
    const filter = `PartitionKey eq '${escapeOData(instanceId)}'`;
    for await (const row of this.table.listEntities({ queryOptions: { filter, select: ["RowKey"] } }))
      keys.push(row.rowKey as string);
    if (keys.length === 0) return false;
    await this.commit(
      instanceId,
      keys.map((k): Op => ["delete", k]),
    );
    return keys.includes("I");
  }

  async deliver(target: string, ops: Op[]): Promise<void> {
    await this.commit(target, ops);
  }
}

function escapeOData(value: string): string {
  return value.replace(/'/g, "''");
}
