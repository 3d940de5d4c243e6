/**
 * One episode of one instance, and its persistence: take the inbox events that are due, replay the
 * orchestrator on the SDK (protocol.ts), turn the new actions into history and work (activities, timers,
 * outbox messages), and commit it all in one batch transaction. What happens next (running activities,
 * delivering messages, waking the instance at a timer) is the scheduler's job, reached through
 * EpisodeHost.
 */
import { randomUUID } from "node:crypto";
import type { DurableVersioning } from "../host/durable-contract";
import type { RegisteredFunction } from "../host/functions-core";
import type { Clock } from "./clock";
import { EventType, newEvent, toJsonText, type HistoryEvent } from "./history";
import { replay } from "./replay";
import { VERSION_REJECT_RETRY_MS, versionMismatch } from "./versioning";
import { cancelLongTimers, firstPiece, nextPieceAt, retryAfterFailure, takesTaskId } from "./conformance";
import {
  ActionType,
  actionInputText,
  describeOutput,
  reyieldedActions,
  unconsumedEvents,
  type Log,
  type SdkAction,
  type TimerLimits,
} from "./protocol";
import {
  ACTIVE_STATUSES,
  activityToEntity,
  historyRowKey,
  inboxToEntity,
  instanceToEntity,
  outboxToEntity,
  type ActivityItem,
  type DurableStore,
  type InboxItem,
  type InstanceRecord,
  type LongTimerState,
  type Op,
  type OutboxMessage,
  type RetryState,
  type RuntimeStatus,
} from "./store";

/** An instance as the engine holds it in memory. */
export interface LiveInstance {
  record: InstanceRecord;
  history: HistoryEvent[];
  inbox: InboxItem[];
  /** How many history events of the current execution are already in storage. */
  persisted: number;
}

/** What an episode needs from the scheduler around it. */
export interface EpisodeHost {
  readonly clock: Clock;
  /** host.json versioning: which instances this worker may run (see versionMismatch). */
  readonly versioning: DurableVersioning | undefined;
  readonly store: DurableStore;
  readonly log: Log;
  /** The timer limits announced to the SDK; timers are split at them as the extension splits them. */
  readonly timerLimits: TimerLimits;
  orchestrator(name: string): RegisteredFunction | undefined;
  getInstance(instanceId: string): Promise<LiveInstance | undefined>;
  /** Queues another episode for the instance. */
  schedule(instanceId: string): void;
  /** Wakes the instance when the clock reaches `dueAt` (a timer's TimerFired is due). */
  wakeAt(instanceId: string, dueAt: number): void;
  /** Runs the committed activities and delivers the committed outbox messages. */
  dispatch(instanceId: string, activities: ActivityItem[], outbox: OutboxMessage[]): void;
  /** The execution finished with nothing left in its inbox: the instance may leave the cache. */
  release(inst: LiveInstance): void;
}

/** A new inbox item; row keys sort by creation time. */
export function newInboxItem(clock: Clock, event: HistoryEvent, dueAt = 0, executionId?: string): InboxItem {
  return { rowKey: `E|${clock.now().toString(36)}-${randomUUID()}`, event, dueAt, executionId };
}

export class Episodes {
  constructor(private readonly host: EpisodeHost) {}

  private now(): number {
    return this.host.clock.now();
  }

  private isoNow(): string {
    return new Date(this.now()).toISOString();
  }

  /** A history event stamped with the engine's clock (the orchestrator's currentUtcDateTime reads it). */
  private event(type: number, fields: Partial<HistoryEvent> = {}, at = new Date(this.now())): HistoryEvent {
    return newEvent(type, fields, at);
  }

  private inboxItem(event: HistoryEvent, dueAt = 0, executionId?: string): InboxItem {
    return newInboxItem(this.host.clock, event, dueAt, executionId);
  }

  private isControl(e: HistoryEvent): boolean {
    return (
      e.EventType === EventType.ExecutionTerminated ||
      e.EventType === EventType.ExecutionSuspended ||
      e.EventType === EventType.ExecutionResumed
    );
  }

  async run(instanceId: string): Promise<void> {
    const inst = await this.host.getInstance(instanceId);
    if (!inst) return;
    const rec = inst.record;
    const now = this.now();
    const ops: Op[] = [];
    const consume = (item: InboxItem) => {
      inst.inbox.splice(inst.inbox.indexOf(item), 1);
      ops.push(["delete", item.activityRowKey ?? item.rowKey]);
    };
    // Completions addressed to an earlier execution (before continue-as-new or restart) are dropped.
    for (const item of [...inst.inbox])
      if (item.executionId && item.executionId !== rec.executionId) consume(item);

    if (!ACTIVE_STATUSES.has(rec.runtimeStatus)) {
      for (const item of [...inst.inbox]) consume(item);
      if (ops.length) await this.host.store.commit(instanceId, ops);
      return;
    }

    const due = inst.inbox.filter((i) => i.dueAt <= now);
    const later = inst.inbox.filter((i) => i.dueAt > now);
    if (later.length) this.host.wakeAt(instanceId, Math.min(...later.map((i) => i.dueAt)));

    // Terminate / suspend / resume are the engine's own, applied in arrival order.
    for (const item of due.filter((i) => this.isControl(i.event))) {
      consume(item);
      const e = item.event;
      if (e.EventType === EventType.ExecutionTerminated) {
        inst.history.push({ ...e, EventId: -1 });
        await this.finish(inst, ops, "Terminated", e.Input ?? "null");
        return;
      }
      rec.runtimeStatus = e.EventType === EventType.ExecutionSuspended ? "Suspended" : "Running";
      rec.lastUpdatedTime = this.isoNow();
      inst.history.push({ ...e, EventId: -1 });
    }
    let batch = due.filter((i) => !this.isControl(i.event));
    if (rec.runtimeStatus === "Suspended" || batch.length === 0) {
      if (ops.length) await this.persist(inst, ops, [], []);
      return;
    }
    const mismatch = versionMismatch(this.host.versioning, rec.version);
    if (mismatch) {
      if (this.host.versioning?.versionFailureStrategy === "Fail") {
        for (const item of batch) consume(item);
        await this.fail(inst, ops, mismatch);
        return;
      }
      // Reject: the work stays queued for a worker whose version matches; this one looks again later.
      this.host.log("warn", `${mismatch}; left for a matching worker`, { instanceId });
      this.host.wakeAt(instanceId, now + VERSION_REJECT_RETRY_MS);
      if (ops.length) await this.persist(inst, ops, [], []);
      return;
    }
    // A retry or long-timer event changes the SDK's task numbering where it is processed, so it replays
    // on its own.
    const firstRetry = batch.findIndex((i) => takesTaskId(rec, i.event));
    if (firstRetry === 0) batch = [batch[0]];
    else if (firstRetry > 0) batch = batch.slice(0, firstRetry);
    if (batch.length < due.length) this.host.schedule(instanceId);

    const activities: ActivityItem[] = [];
    const outbox: OutboxMessage[] = [];
    const historyStart = inst.history.length;
    // The orchestrator's currentUtcDateTime for this episode, as the extension's CurrentUtcDateTime: retry
    // timeouts and long-timer pieces are measured from it.
    const at = this.now();
    inst.history.push(this.event(EventType.OrchestratorStarted, {}, new Date(at)));
    for (const item of batch) {
      consume(item);
      this.appendIncoming(inst, item.event, at, ops, activities, outbox);
    }
    if (rec.runtimeStatus === "Pending") rec.runtimeStatus = "Running";

    const orchestrator = this.host.orchestrator(rec.name);
    if (!orchestrator) {
      await this.fail(
        inst,
        ops,
        `The function '${rec.name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
      return;
    }
    const replayed = await replay(
      orchestrator,
      {
        instanceId,
        input: rec.input,
        parentInstanceId: rec.parent?.instanceId,
        history: inst.history,
        newFrom: historyStart,
        timerLimits: this.host.timerLimits,
      },
      this.host,
    );
    if (replayed.customStatus !== undefined) rec.customStatus = toJsonText(replayed.customStatus);
    if (!replayed.ok) {
      await this.fail(inst, ops, replayed.reason);
      return;
    }
    const { state, actions: flat } = replayed;
    for (const type of reyieldedActions(flat, rec.actionCount))
      this.host.log(
        "warn",
        `Orchestrator '${rec.name}' (${rec.instanceId}) yielded a task it had already yielded (action type ${type}) in a new Task.any/Task.all. The Durable extension schedules it again as a new task, the SDK's task ids drift from the host's and the instance hangs: create a fresh timer or call instead.`,
      );
    const fresh = flat.slice(rec.actionCount);
    const firstFresh = rec.actionCount;
    rec.actionCount = flat.length;
    // Cancelled timers are not dropped: they fire and their TimerFired is delivered, as on Azure.
    const cancelled = cancelLongTimers(rec, flat);
    for (const warning of cancelled.warnings) this.host.log("warn", warning, { instanceId });
    if (cancelled.failure) {
      await this.fail(inst, ops, cancelled.failure);
      return;
    }
    let continueAsNew: SdkAction | undefined;
    for (const [i, action] of fresh.entries()) {
      if (action.actionType === ActionType.ContinueAsNew) continueAsNew = action;
      else if (!state.isDone || action.actionType !== ActionType.WaitForExternalEvent) {
        const problem = this.applyAction(inst, action, firstFresh + i, at, ops, activities, outbox);
        if (problem) {
          await this.fail(inst, ops, problem);
          return;
        }
      }
    }
    if (continueAsNew) {
      await this.continueAsNew(inst, ops, actionInputText(continueAsNew.input), flat);
      return;
    }
    if (state.isDone) {
      await this.finish(inst, ops, "Completed", toJsonText(state.output));
      return;
    }
    inst.history.push(this.event(EventType.OrchestratorCompleted));
    rec.lastUpdatedTime = this.isoNow();
    await this.persist(inst, ops, activities, outbox);
  }

  private appendIncoming(
    inst: LiveInstance,
    e: HistoryEvent,
    at: number,
    ops: Op[],
    activities: ActivityItem[],
    outbox: OutboxMessage[],
  ): void {
    const rec = inst.record;
    inst.history.push(e);
    if (e.EventType === EventType.ExecutionStarted) return;
    const key = String(e.TaskScheduledId);
    // A retried call that succeeded needs its retry state no more; kept, it would grow the instance row
    // with every call (a rollout batch makes hundreds) past Table Storage's 64 KiB property limit.
    if (
      e.EventType === EventType.TaskCompleted ||
      e.EventType === EventType.SubOrchestrationInstanceCompleted
    )
      delete rec.retries[key];
    if (e.EventType === EventType.TaskFailed || e.EventType === EventType.SubOrchestrationInstanceFailed) {
      const retry = rec.retries[key];
      if (!retry) return;
      delete rec.retries[key];
      this.retryAfterFailure(inst, retry, at, ops);
    } else if (e.EventType === EventType.TimerFired) {
      const long = rec.longTimers[String(e.TimerId)];
      if (long) {
        delete rec.longTimers[String(e.TimerId)];
        this.nextLongTimerPiece(inst, long, at, ops);
        return;
      }
      const retry = rec.retryTimers[String(e.TimerId)];
      if (!retry) return;
      delete rec.retryTimers[String(e.TimerId)];
      if (retry.attempt > retry.options.maxNumberOfAttempts) return;
      const taskId = rec.nextId++;
      rec.retries[String(taskId)] = retry;
      if (retry.kind === "activity") {
        inst.history.push(
          this.event(EventType.TaskScheduled, { EventId: taskId, Name: retry.name, Input: retry.input }),
        );
        activities.push(activityItem(rec, taskId, retry.name, retry.input));
      } else {
        const child = `${retry.childInstanceId ?? `${rec.instanceId}:${taskId}`}`;
        inst.history.push(
          this.event(EventType.SubOrchestrationInstanceCreated, {
            EventId: taskId,
            Name: retry.name,
            Input: retry.input,
            InstanceId: child,
          }),
        );
        outbox.push(this.startMessage(rec, taskId, retry.name, child, retry.input, retry.version));
      }
    }
  }

  /** A failed attempt of a retried task: its retry timer, or none (conformance.ts, retryAfterFailure). */
  private retryAfterFailure(inst: LiveInstance, retry: RetryState, at: number, ops: Op[]): void {
    const rec = inst.record;
    const step = retryAfterFailure(retry, at, `'${rec.name}' (${rec.instanceId})`);
    if ("noTimer" in step) {
      this.host.log("warn", step.noTimer, { instanceId: rec.instanceId });
      return;
    }
    const timerId = rec.nextId++;
    const fireAtIso = new Date(step.fireAt).toISOString();
    inst.history.push(this.event(EventType.TimerCreated, { EventId: timerId, FireAt: fireAtIso }));
    rec.retryTimers[String(timerId)] = retry;
    this.addTimer(inst, ops, timerId, step.fireAt, fireAtIso);
  }

  /**
   * A piece of a long timer fired: unless the timer was cancelled or is done, its next piece, with a new
   * task id taken here as the SDK's LongTimerTask takes one (conformance.ts, nextPieceAt).
   */
  private nextLongTimerPiece(inst: LiveInstance, long: LongTimerState, at: number, ops: Op[]): void {
    const pieceAt = long.canceled
      ? undefined
      : nextPieceAt(Date.parse(long.fireAt), at, this.host.timerLimits);
    if (pieceAt === undefined) return;
    const rec = inst.record;
    const id = rec.nextId++;
    const iso = new Date(pieceAt).toISOString();
    inst.history.push(this.event(EventType.TimerCreated, { EventId: id, FireAt: iso }));
    rec.longTimers[String(id)] = { ...long, pieces: long.pieces + 1 };
    this.addTimer(inst, ops, id, pieceAt, iso);
  }

  private addTimer(inst: LiveInstance, ops: Op[], timerId: number, fireAt: number, fireAtIso: string): void {
    const item = this.inboxItem(
      this.event(EventType.TimerFired, { TimerId: timerId, FireAt: fireAtIso }, new Date(fireAt)),
      fireAt,
      inst.record.executionId,
    );
    inst.inbox.push(item);
    ops.push(["upsert", inboxToEntity(item)]);
    this.host.wakeAt(inst.record.instanceId, fireAt);
  }

  private startMessage(
    rec: InstanceRecord,
    taskId: number,
    name: string,
    child: string,
    input: string | undefined,
    version: string | undefined,
  ): OutboxMessage {
    return {
      rowKey: `O|${randomUUID()}`,
      kind: "start",
      target: child,
      name,
      input,
      parent: { instanceId: rec.instanceId, executionId: rec.executionId, taskId },
      ...(version ? { version } : {}),
    };
  }

  /** Turns one new SDK action into history and work; returns a failure message for unsupported ones. */
  private applyAction(
    inst: LiveInstance,
    a: SdkAction,
    actionIndex: number,
    at: number,
    ops: Op[],
    activities: ActivityItem[],
    outbox: OutboxMessage[],
  ): string | undefined {
    const rec = inst.record;
    switch (a.actionType) {
      case ActionType.WaitForExternalEvent:
        return undefined;
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry: {
        const id = rec.nextId++;
        const name = a.functionName ?? "";
        const input = actionInputText(a.input) ?? "null";
        inst.history.push(this.event(EventType.TaskScheduled, { EventId: id, Name: name, Input: input }));
        if (a.actionType === ActionType.CallActivityWithRetry && a.retryOptions)
          rec.retries[String(id)] = {
            kind: "activity",
            name,
            input,
            options: a.retryOptions,
            attempt: 1,
            firstAttemptAt: at,
          };
        activities.push(activityItem(rec, id, name, input));
        return undefined;
      }
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry: {
        const id = rec.nextId++;
        const name = a.functionName ?? "";
        const input = a.input === undefined ? undefined : toJsonText(a.input);
        const child = a.instanceId || `${rec.instanceId}:${id}`;
        inst.history.push(
          this.event(EventType.SubOrchestrationInstanceCreated, {
            EventId: id,
            Name: name,
            Input: input,
            InstanceId: child,
          }),
        );
        if (a.actionType === ActionType.CallSubOrchestratorWithRetry && a.retryOptions)
          rec.retries[String(id)] = {
            kind: "suborchestration",
            name,
            input: input ?? "null",
            options: a.retryOptions,
            attempt: 1,
            firstAttemptAt: at,
            childInstanceId: a.instanceId || undefined,
            version: a.version || undefined,
          };
        outbox.push(this.startMessage(rec, id, name, child, input, a.version || undefined));
        return undefined;
      }
      case ActionType.CreateTimer: {
        // A timer is created even when the orchestrator already cancelled it (the extension creates it,
        // then cancels it). One longer than maximumShortTimerDuration starts with its first piece.
        const id = rec.nextId++;
        const timer = firstPiece(new Date(a.fireAt ?? at).getTime(), at, this.host.timerLimits, actionIndex);
        const iso = new Date(timer.pieceAt).toISOString();
        inst.history.push(this.event(EventType.TimerCreated, { EventId: id, FireAt: iso }));
        this.addTimer(inst, ops, id, timer.pieceAt, iso);
        if (timer.long) rec.longTimers[String(id)] = timer.long;
        return undefined;
      }
      default:
        return `Orchestrator function '${rec.name}' used an action (type ${a.actionType}) that this local durable engine does not support (entities and durable HTTP are not available).`;
    }
  }

  private async fail(inst: LiveInstance, ops: Op[], reason: string): Promise<void> {
    this.host.log("warn", reason, { instanceId: inst.record.instanceId });
    await this.finish(inst, ops, "Failed", toJsonText(reason));
  }

  /** Ends the execution, drops its pending timers and tells a parent orchestration. */
  private async finish(inst: LiveInstance, ops: Op[], status: RuntimeStatus, output: string): Promise<void> {
    const rec = inst.record;
    rec.runtimeStatus = status;
    rec.output = output;
    rec.lastUpdatedTime = this.isoNow();
    rec.retries = {};
    rec.retryTimers = {};
    rec.longTimers = {};
    inst.history.push(
      this.event(EventType.ExecutionCompleted, { OrchestrationStatus: status, Result: output }),
    );
    for (const item of [...inst.inbox]) {
      if (item.event.EventType !== EventType.TimerFired) continue;
      inst.inbox.splice(inst.inbox.indexOf(item), 1);
      deleteRow(ops, item.rowKey);
    }
    const outbox: OutboxMessage[] = [];
    if (rec.parent && status !== "ContinuedAsNew") {
      const p = rec.parent;
      const event =
        status === "Completed"
          ? this.event(EventType.SubOrchestrationInstanceCompleted, {
              TaskScheduledId: p.taskId,
              Result: output,
            })
          : this.event(EventType.SubOrchestrationInstanceFailed, {
              TaskScheduledId: p.taskId,
              Reason: `Sub-orchestration '${rec.name}' (instance ${rec.instanceId}) ${status.toLowerCase()}: ${describeOutput(output)}`,
              Details: describeOutput(output),
            });
      const rowKey = `O|${randomUUID()}`;
      outbox.push({
        rowKey,
        kind: "event",
        target: p.instanceId,
        item: { rowKey: `E|${rowKey.slice(2)}`, event, dueAt: 0, executionId: p.executionId },
      });
    }
    // Routine ends (a status pump that went idle, a deployment that completed) are debug: the app logs
    // the outcomes a person reads. A failed instance is a warning.
    this.host.log(
      status === "Failed" ? "warn" : "debug",
      `Orchestration ${rec.name} (${rec.instanceId}) ${status}`,
      {
        instanceId: rec.instanceId,
      },
    );
    await this.persist(inst, ops, [], outbox);
    if (inst.inbox.length === 0) this.host.release(inst);
  }

  private async continueAsNew(
    inst: LiveInstance,
    ops: Op[],
    input: string | undefined,
    actions: SdkAction[],
  ): Promise<void> {
    const rec = inst.record;
    const carried = unconsumedEvents(inst.history, actions, new Date(this.now())).map((e) =>
      this.inboxItem(e),
    );
    for (const item of [...inst.inbox]) {
      if (item.event.EventType !== EventType.TimerFired) continue;
      inst.inbox.splice(inst.inbox.indexOf(item), 1);
      deleteRow(ops, item.rowKey);
    }
    // The finished execution's history rows go; unprocessed external events stay queued for the next one.
    for (let i = 0; i < inst.persisted; i++) ops.push(["delete", historyRowKey(rec.executionId, i)]);
    Object.assign(rec, {
      executionId: randomUUID().replace(/-/g, ""),
      input,
      output: undefined,
      nextId: 0,
      actionCount: 0,
      retries: {},
      retryTimers: {},
      longTimers: {},
      runtimeStatus: "Running",
      lastUpdatedTime: this.isoNow(),
    });
    inst.history = [];
    inst.persisted = 0;
    // A new execution keeps the instance's version, as continue-as-new does on Azure.
    const started = this.inboxItem(
      this.event(EventType.ExecutionStarted, {
        Name: rec.name,
        Input: input,
        ...(rec.version ? { Version: rec.version } : {}),
      }),
    );
    inst.inbox.unshift(started, ...carried);
    for (const item of [started, ...carried]) ops.push(["upsert", inboxToEntity(item)]);
    await this.persist(inst, ops, [], []);
    this.host.schedule(rec.instanceId);
  }

  /** Commits the episode (new history, instance row, work items) in one batch, then dispatches work. */
  async persist(
    inst: LiveInstance,
    ops: Op[],
    activities: ActivityItem[],
    outbox: OutboxMessage[],
  ): Promise<void> {
    const rec = inst.record;
    const from = inst.persisted;
    const historyOps: Op[] = inst.history
      .slice(from)
      .map((e, i) => [
        "upsert",
        { rowKey: historyRowKey(rec.executionId, from + i), Event: JSON.stringify(e) },
      ]);
    await this.host.store.commit(rec.instanceId, [
      ...ops,
      ...historyOps,
      ...activities.map((a): Op => ["upsert", activityToEntity(a)]),
      ...outbox.map((m): Op => ["upsert", outboxToEntity(m)]),
      ["upsert", instanceToEntity(rec)],
    ]);
    inst.persisted = inst.history.length;
    this.host.dispatch(rec.instanceId, activities, outbox);
  }
}

/**
 * Deletes a row in the episode's batch. A row this same batch creates (a timer created and dropped in
 * one episode, e.g. a Task.any won at once by an event before the orchestration ends) loses its upsert
 * instead: a batch may name a row only once, and the row never reached storage.
 */
function deleteRow(ops: Op[], rowKey: string): void {
  const created = ops.findIndex((op) => op[0] === "upsert" && op[1].rowKey === rowKey);
  if (created >= 0) ops.splice(created, 1);
  else ops.push(["delete", rowKey]);
}

/** The work item of an activity the execution scheduled under `taskId`. */
export function activityItem(rec: InstanceRecord, taskId: number, name: string, input: string): ActivityItem {
  return {
    rowKey: `A|${rec.executionId}|${taskId}`,
    instanceId: rec.instanceId,
    executionId: rec.executionId,
    taskId,
    name,
    input,
  };
}
