/**
 * The durable engine: runs orchestrations by replaying the real durable-functions SDK over histories it
 * keeps (in memory, persisted to Table Storage per episode), and turns the actions the SDK returns into
 * activity executions, timers, sub-orchestrations and new executions. It never interprets generator
 * semantics itself; it only mirrors the SDK's task numbering to label history events.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { format } from "node:util";
import { InvocationContext } from "@azure/functions";
import type { DurableEngine, DurableEngineOptions } from "../host/durable-contract";
import type { RegisteredFunction } from "../host/functions-core";
import { EventType, newEvent, toJsonText, type HistoryEvent } from "./history";
import {
  ACTIVE_STATUSES,
  DurableStore,
  activityToEntity,
  historyRowKey,
  inboxToEntity,
  instanceToEntity,
  outboxToEntity,
  type ActivityItem,
  type InboxItem,
  type InstanceRecord,
  type Op,
  type OutboxMessage,
  type ParentLink,
  type RetryOptionsWire,
  type RetryState,
  type RuntimeStatus,
} from "./store";
import { ManagementApi } from "./management-api";

// The contract with the host is declared once, beside the host.
export type { DurableEngine, DurableEngineOptions } from "../host/durable-contract";

export class DurableEngineError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
    this.name = "DurableEngineError";
  }
}

export function createDurableEngine(options: DurableEngineOptions): DurableEngine {
  return new Engine(options);
}

interface LiveInstance {
  record: InstanceRecord;
  history: HistoryEvent[];
  inbox: InboxItem[];
  /** How many history events of the current execution are already in storage. */
  persisted: number;
}

interface SdkState {
  isDone?: boolean;
  actions?: unknown[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

interface SdkAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  instanceId?: string;
  retryOptions?: RetryOptionsWire;
  fireAt?: string | Date;
  isCanceled?: boolean;
  compoundActions?: SdkAction[];
}

const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  WhenAny: 11,
  WhenAll: 12,
} as const;

const OUT_OF_PROC_MARKER = "$OutOfProcData$:";
const MAX_TIMEOUT = 2 ** 31 - 1;
const RECOVERY_DELAY_MS = 1000;
const STOP_GRACE_MS = 10_000;

/** A FIFO gate limiting how many tasks of one kind run at once. */
class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

export class Engine implements DurableEngine {
  readonly store: DurableStore;
  readonly hubName: string;
  private readonly live = new Map<string, LiveInstance>();
  private readonly loading = new Map<string, Promise<LiveInstance | undefined>>();
  /** Per-instance serialization: the tail of each instance's episode chain. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly queued = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly runningActivities = new Set<string>();
  private readonly wakeUps = new Map<string, { dueAt: number; timer: NodeJS.Timeout }>();
  private readonly activityGate: Gate;
  private readonly orchestrationGate: Gate;
  private readonly api: ManagementApi;
  private running = false;

  constructor(readonly options: DurableEngineOptions) {
    if (!/^[A-Za-z][A-Za-z0-9]{2,44}$/.test(options.hubName))
      throw new DurableEngineError(
        `Task hub name "${options.hubName}" is invalid: use 3-45 letters and digits, starting with a letter.`,
        500,
      );
    this.hubName = options.hubName;
    this.store = new DurableStore(options.storageConnectionString, `DurableDev${options.hubName}`);
    this.activityGate = new Gate(options.maxConcurrentActivities ?? 10);
    this.orchestrationGate = new Gate(options.maxConcurrentOrchestrations ?? 10);
    this.api = new ManagementApi(this);
  }

  log(level: "debug" | "info" | "warn" | "error", message: string, props?: Record<string, unknown>): void {
    this.options.log?.(level, message, props);
  }

  async start(): Promise<void> {
    try {
      await this.store.init();
    } catch (e) {
      throw new DurableEngineError(
        `The durable engine cannot use Table Storage at ${this.store.endpoint} (AzureWebJobsStorage): ${message(e)}`,
        500,
      );
    }
    this.running = true;
    const work = await this.store.pendingWork();
    for (const { source, message } of work.outbox) this.track(this.deliver(source, message));
    for (const activity of work.activities) this.track(this.runActivity(activity));
    for (const id of work.inbox.keys()) this.schedule(id);
    this.log("info", `Durable engine started for task hub ${this.hubName}`, {
      resumedInstances: work.inbox.size,
      resumedActivities: work.activities.length,
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.wakeUps.clear();
    const deadline = Date.now() + STOP_GRACE_MS;
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.inFlight]),
        new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now())))),
      ]);
      clearTimeout(timer);
    }
    if (this.inFlight.size > 0)
      this.log("warn", `Durable engine stopped with ${this.inFlight.size} work items still running`);
  }

  handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    return this.api.handle(req, res);
  }

  clientBindingData(): unknown {
    return this.api.clientBindingData();
  }

  /** Forwards a function's own `context.log` output at the matching level. */
  private userLog(functionName: string, level: string, args: unknown[]): void {
    const mapped =
      level === "error" || level === "critical"
        ? "error"
        : level === "warning"
          ? "warn"
          : level === "information"
            ? "info"
            : "debug";
    const text = format(...args);
    // Structured JSON entries (as this project's logger writes) get their fields merged, as the host's
    // other triggers do, so an orchestration's or activity's fields are searchable like any other.
    const fields = jsonObject(text);
    if (fields) {
      const { message: inner, level: _level, time: _time, ...rest } = fields;
      this.log(mapped, String(inner ?? ""), { functionName, ...rest });
    } else this.log(mapped, text, { functionName });
  }

  private track<T>(p: Promise<T>): void {
    const tracked = p.catch((e) => this.log("error", `Durable engine background work failed: ${message(e)}`));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  // ---- instances -------------------------------------------------------------------------------------

  orchestrator(name: string): RegisteredFunction | undefined {
    const f = this.options.registry.get(name);
    return f && f.trigger.type.toLowerCase() === "orchestrationtrigger" ? f : undefined;
  }

  private activity(name: string): RegisteredFunction | undefined {
    const f = this.options.registry.get(name);
    return f && f.trigger.type.toLowerCase() === "activitytrigger" ? f : undefined;
  }

  /** The instance as currently known: in memory when this engine touched it, otherwise from storage. */
  async getInstance(instanceId: string): Promise<LiveInstance | undefined> {
    const cached = this.live.get(instanceId);
    if (cached) return cached;
    let pending = this.loading.get(instanceId);
    if (!pending) {
      pending = this.store.loadInstance(instanceId).then((loaded) => {
        this.loading.delete(instanceId);
        const cachedMeanwhile = this.live.get(instanceId);
        if (cachedMeanwhile || !loaded) return cachedMeanwhile;
        const inst = {
          record: loaded.record,
          history: loaded.history,
          inbox: loaded.inbox,
          persisted: loaded.history.length,
        };
        // Only instances with work ahead stay cached; finished ones are read from storage when asked.
        if (ACTIVE_STATUSES.has(inst.record.runtimeStatus) || inst.inbox.length > 0)
          this.live.set(instanceId, inst);
        return inst;
      });
      this.loading.set(instanceId, pending);
    }
    return pending;
  }

  /** Creates (or replaces a finished) instance and queues its ExecutionStarted event. */
  async startInstance(
    name: string,
    instanceId: string,
    input: string | undefined,
    parent?: ParentLink,
  ): Promise<void> {
    const existing = await this.getInstance(instanceId);
    if (existing && ACTIVE_STATUSES.has(existing.record.runtimeStatus) && !parent)
      throw new DurableEngineError(
        `An Orchestration instance with the ID ${instanceId} already exists with status ${existing.record.runtimeStatus}.`,
        // The extension fails the same request with 500 (a dedupe exception it does not map).
        500,
      );
    if (existing) {
      await this.store.purge(instanceId);
      this.live.delete(instanceId);
    }
    const now = new Date().toISOString();
    const record: InstanceRecord = {
      instanceId,
      name,
      executionId: randomUUID().replace(/-/g, ""),
      runtimeStatus: "Pending",
      input,
      createdTime: now,
      lastUpdatedTime: now,
      nextId: 0,
      actionCount: 0,
      retries: {},
      retryTimers: {},
      timers: {},
      parent,
    };
    const started = this.inboxItem(newEvent(EventType.ExecutionStarted, { Name: name, Input: input }));
    await this.store.commit(instanceId, [
      ["upsert", instanceToEntity(record)],
      ["upsert", inboxToEntity(started)],
    ]);
    this.live.set(instanceId, { record, history: [], inbox: [started], persisted: 0 });
    this.schedule(instanceId);
  }

  /** Queues a control or external event for a running instance; false when it is not running. */
  async enqueue(instanceId: string, event: HistoryEvent): Promise<boolean> {
    const inst = await this.getInstance(instanceId);
    if (!inst) throw new DurableEngineError(`No instance with ID '${instanceId}' was found.`, 404);
    if (!ACTIVE_STATUSES.has(inst.record.runtimeStatus)) return false;
    const item = this.inboxItem(event);
    await this.store.commit(instanceId, [["upsert", inboxToEntity(item)]]);
    inst.inbox.push(item);
    this.schedule(instanceId);
    return true;
  }

  async purge(instanceId: string): Promise<boolean> {
    const inst = this.live.get(instanceId);
    if (inst && ACTIVE_STATUSES.has(inst.record.runtimeStatus))
      this.log("warn", `Purging instance ${instanceId} while it is ${inst.record.runtimeStatus}`);
    this.live.delete(instanceId);
    return this.store.purge(instanceId);
  }

  private inboxItem(event: HistoryEvent, dueAt = 0, executionId?: string): InboxItem {
    return { rowKey: `E|${Date.now().toString(36)}-${randomUUID()}`, event, dueAt, executionId };
  }

  // ---- scheduling ------------------------------------------------------------------------------------

  /** Runs an episode for the instance after any in progress: one instance never replays concurrently. */
  schedule(instanceId: string): void {
    if (!this.running || this.queued.has(instanceId)) return;
    this.queued.add(instanceId);
    const previous = this.chains.get(instanceId) ?? Promise.resolve();
    const next = previous.then(() =>
      this.orchestrationGate.run(async () => {
        this.queued.delete(instanceId);
        if (!this.running) return;
        try {
          await this.runEpisode(instanceId);
        } catch (e) {
          this.log("error", `Orchestration episode for ${instanceId} failed: ${message(e)}`, { instanceId });
          this.recoverLater(instanceId);
        }
      }),
    );
    this.chains.set(instanceId, next);
    this.track(next);
    const forget = () => {
      if (this.chains.get(instanceId) === next) this.chains.delete(instanceId);
    };
    next.then(forget, forget);
  }

  /**
   * After a failed episode the in-memory state may be ahead of storage: drop it, and after a pause reload
   * the instance and rerun its activities whose results were only in memory.
   */
  private recoverLater(instanceId: string): void {
    this.live.delete(instanceId);
    if (!this.running) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.track(
        this.store.loadInstance(instanceId).then((loaded) => {
          if (!loaded || !this.running) return;
          for (const a of loaded.activities)
            if (!this.runningActivities.has(`${instanceId}/${a.rowKey}`)) this.track(this.runActivity(a));
          this.schedule(instanceId);
        }),
      );
    }, RECOVERY_DELAY_MS);
    this.timers.add(t);
  }

  /** One wake-up per instance, at its earliest due timer; later ones are re-armed by that episode. */
  private wakeAt(instanceId: string, dueAt: number): void {
    if (!this.running) return;
    const armed = this.wakeUps.get(instanceId);
    if (armed && armed.dueAt <= dueAt) return;
    if (armed) {
      clearTimeout(armed.timer);
      this.timers.delete(armed.timer);
    }
    const delay = Math.min(Math.max(0, dueAt - Date.now()), MAX_TIMEOUT);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.wakeUps.get(instanceId)?.timer === timer) this.wakeUps.delete(instanceId);
      this.schedule(instanceId);
    }, delay);
    this.timers.add(timer);
    this.wakeUps.set(instanceId, { dueAt, timer });
  }

  // ---- episodes --------------------------------------------------------------------------------------

  private isRetryEvent(rec: InstanceRecord, e: HistoryEvent): boolean {
    if (e.EventType === EventType.TaskFailed || e.EventType === EventType.SubOrchestrationInstanceFailed)
      return String(e.TaskScheduledId) in rec.retries;
    if (e.EventType === EventType.TimerFired) return String(e.TimerId) in rec.retryTimers;
    return false;
  }

  private isControl(e: HistoryEvent): boolean {
    return (
      e.EventType === EventType.ExecutionTerminated ||
      e.EventType === EventType.ExecutionSuspended ||
      e.EventType === EventType.ExecutionResumed
    );
  }

  private async runEpisode(instanceId: string): Promise<void> {
    const inst = await this.getInstance(instanceId);
    if (!inst) return;
    const rec = inst.record;
    const now = Date.now();
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
      if (ops.length) await this.store.commit(instanceId, ops);
      return;
    }

    const due = inst.inbox.filter((i) => i.dueAt <= now);
    const later = inst.inbox.filter((i) => i.dueAt > now);
    if (later.length) this.wakeAt(instanceId, Math.min(...later.map((i) => i.dueAt)));

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
      rec.lastUpdatedTime = new Date().toISOString();
      inst.history.push({ ...e, EventId: -1 });
    }
    let batch = due.filter((i) => !this.isControl(i.event));
    if (rec.runtimeStatus === "Suspended" || batch.length === 0) {
      if (ops.length) await this.persist(inst, ops, [], []);
      return;
    }
    // A retry event changes the SDK's task numbering where it is processed, so it replays on its own.
    const firstRetry = batch.findIndex((i) => this.isRetryEvent(rec, i.event));
    if (firstRetry === 0) batch = [batch[0]];
    else if (firstRetry > 0) batch = batch.slice(0, firstRetry);
    if (batch.length < due.length) this.schedule(instanceId);

    const activities: ActivityItem[] = [];
    const outbox: OutboxMessage[] = [];
    const historyStart = inst.history.length;
    inst.history.push(newEvent(EventType.OrchestratorStarted));
    for (const item of batch) {
      consume(item);
      this.appendIncoming(inst, item.event, ops, activities, outbox);
    }
    if (rec.runtimeStatus === "Pending") rec.runtimeStatus = "Running";

    const orchestrator = this.orchestrator(rec.name);
    if (!orchestrator) {
      await this.fail(
        inst,
        ops,
        `The function '${rec.name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
      return;
    }
    let state: SdkState;
    const invokedAt = Date.now();
    try {
      state = await this.invokeOrchestrator(orchestrator, inst, historyStart);
      this.log(
        "debug",
        `Executed '${rec.name}' (Succeeded, Id=${instanceId}, Duration=${Date.now() - invokedAt}ms)`,
      );
    } catch (e) {
      this.log(
        "debug",
        `Executed '${rec.name}' (Failed, Id=${instanceId}, Duration=${Date.now() - invokedAt}ms)`,
      );
      const failed = parseFailure(e);
      if (failed.customStatus !== undefined) rec.customStatus = toJsonText(failed.customStatus);
      await this.fail(inst, ops, `Orchestrator function '${rec.name}' failed: ${failed.message}`);
      return;
    }
    if (state.customStatus !== undefined) rec.customStatus = toJsonText(state.customStatus);

    const flat = flatten(state.actions ?? []);
    this.warnReyielded(rec, flat);
    const fresh = flat.slice(rec.actionCount);
    const firstFresh = rec.actionCount;
    rec.actionCount = flat.length;
    this.dropCancelledTimers(inst, flat, ops);
    let continueAsNew: SdkAction | undefined;
    for (const [i, action] of fresh.entries()) {
      if (action.actionType === ActionType.ContinueAsNew) continueAsNew = action;
      else if (!state.isDone || action.actionType !== ActionType.WaitForExternalEvent) {
        const problem = this.applyAction(inst, action, firstFresh + i, ops, activities, outbox);
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
    inst.history.push(newEvent(EventType.OrchestratorCompleted));
    rec.lastUpdatedTime = new Date().toISOString();
    await this.persist(inst, ops, activities, outbox);
  }

  private invokeOrchestrator(f: RegisteredFunction, inst: LiveInstance, newFrom: number): Promise<SdkState> {
    const rec = inst.record;
    const history = inst.history.map((e, i) => (i < newFrom ? { ...e, IsPlayed: true } : e));
    const context = new InvocationContext({
      functionName: f.name,
      invocationId: randomUUID(),
      logHandler: (level, ...args) => this.userLog(f.name, level, args),
      options: { trigger: f.trigger as never, extraInputs: [], extraOutputs: [] },
    });
    const trigger = {
      history,
      input: rec.input === undefined ? undefined : JSON.parse(rec.input),
      instanceId: rec.instanceId,
      isReplaying: newFrom > 0,
      parentInstanceId: rec.parent?.instanceId,
      upperSchemaVersion: 1,
      upperSchemaVersionNew: 2,
      maximumShortTimerDuration: "10675199.02:48:05.4775807",
      longRunningTimerIntervalDuration: "3.00:00:00",
      defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
    };
    return Promise.resolve(f.handler(trigger, context) as Promise<SdkState>);
  }

  /**
   * A task the orchestrator yields again inside a new Task.any / Task.all appears twice in the SDK's
   * actions (the same object). The extension replays every action it gets, so on Azure the repeat becomes a
   * second timer or activity with a new id and the SDK's numbering drifts from the host's: the instance
   * hangs. This engine does the same, faithfully, and says why (docs/durable-engine.md, "Yield each task once").
   */
  private warnReyielded(rec: InstanceRecord, flat: SdkAction[]): void {
    const seen = new Set<SdkAction>();
    for (const [i, a] of flat.entries()) {
      if (a.actionType === ActionType.WaitForExternalEvent) continue;
      if (seen.has(a) && i >= rec.actionCount)
        this.log(
          "warn",
          `Orchestrator '${rec.name}' (${rec.instanceId}) yielded a task it had already yielded (action type ${a.actionType}) in a new Task.any/Task.all. The Durable extension schedules it again as a new task, the SDK's task ids drift from the host's and the instance hangs: create a fresh timer or call instead.`,
        );
      seen.add(a);
    }
  }

  /** Appends an incoming event, doing the host-side retry bookkeeping the SDK expects. */
  private appendIncoming(
    inst: LiveInstance,
    e: HistoryEvent,
    ops: Op[],
    activities: ActivityItem[],
    outbox: OutboxMessage[],
  ): void {
    const rec = inst.record;
    inst.history.push(e);
    if (e.EventType === EventType.ExecutionStarted) return;
    const key = String(e.TaskScheduledId);
    if (e.EventType === EventType.TaskFailed || e.EventType === EventType.SubOrchestrationInstanceFailed) {
      const retry = rec.retries[key];
      if (!retry) return;
      delete rec.retries[key];
      retry.attempt++;
      const timerId = rec.nextId++;
      const o = retry.options;
      const exhausted = retry.attempt > o.maxNumberOfAttempts;
      const interval = Math.min(
        o.firstRetryIntervalInMilliseconds * (o.backoffCoefficient ?? 1) ** (retry.attempt - 2),
        o.maxRetryIntervalInMilliseconds ?? Number.MAX_SAFE_INTEGER,
      );
      const fireAt = Date.now() + (exhausted ? 0 : interval);
      const fireAtIso = new Date(fireAt).toISOString();
      inst.history.push(newEvent(EventType.TimerCreated, { EventId: timerId, FireAt: fireAtIso }));
      rec.retryTimers[String(timerId)] = retry;
      this.addTimer(inst, ops, timerId, fireAt, fireAtIso);
    } else if (e.EventType === EventType.TimerFired) {
      const retry = rec.retryTimers[String(e.TimerId)];
      if (!retry) return;
      delete rec.retryTimers[String(e.TimerId)];
      if (retry.attempt > retry.options.maxNumberOfAttempts) return;
      const taskId = rec.nextId++;
      rec.retries[String(taskId)] = retry;
      const timedOut =
        retry.options.retryTimeoutInMilliseconds !== undefined &&
        Date.now() - retry.firstAttemptAt > retry.options.retryTimeoutInMilliseconds;
      if (retry.kind === "activity") {
        inst.history.push(
          newEvent(EventType.TaskScheduled, { EventId: taskId, Name: retry.name, Input: retry.input }),
        );
        if (timedOut) this.enqueueLocal(inst, ops, this.retryTimeoutFailure(retry, taskId));
        else activities.push(this.activityItem(rec, taskId, retry.name, retry.input));
      } else {
        const child = `${retry.childInstanceId ?? `${rec.instanceId}:${taskId}`}`;
        inst.history.push(
          newEvent(EventType.SubOrchestrationInstanceCreated, {
            EventId: taskId,
            Name: retry.name,
            Input: retry.input,
            InstanceId: child,
          }),
        );
        if (timedOut) this.enqueueLocal(inst, ops, this.retryTimeoutFailure(retry, taskId));
        else outbox.push(this.startMessage(rec, taskId, retry.name, child, retry.input));
      }
    }
  }

  /**
   * A timer the orchestrator cancelled (its action now says isCanceled) will never be awaited: drop its
   * pending TimerFired so it does not wake the instance. Fired timers leave the map as well.
   */
  private dropCancelledTimers(inst: LiveInstance, flat: SdkAction[], ops: Op[]): void {
    const rec = inst.record;
    for (const [index, timerId] of Object.entries(rec.timers)) {
      const pending = inst.inbox.find(
        (i) => i.event.EventType === EventType.TimerFired && i.event.TimerId === timerId,
      );
      if (!pending) delete rec.timers[index];
      else if (flat[Number(index)]?.isCanceled) {
        delete rec.timers[index];
        inst.inbox.splice(inst.inbox.indexOf(pending), 1);
        ops.push(["delete", pending.rowKey]);
      }
    }
  }

  private retryTimeoutFailure(retry: RetryState, taskId: number): HistoryEvent {
    const type = retry.kind === "activity" ? EventType.TaskFailed : EventType.SubOrchestrationInstanceFailed;
    const reason = `Retry timeout of ${retry.options.retryTimeoutInMilliseconds} ms for '${retry.name}' elapsed.`;
    return newEvent(type, { TaskScheduledId: taskId, Reason: reason, Details: reason });
  }

  private enqueueLocal(inst: LiveInstance, ops: Op[], e: HistoryEvent): void {
    const item = this.inboxItem(e, 0, inst.record.executionId);
    inst.inbox.push(item);
    ops.push(["upsert", inboxToEntity(item)]);
    this.schedule(inst.record.instanceId);
  }

  private addTimer(inst: LiveInstance, ops: Op[], timerId: number, fireAt: number, fireAtIso: string): void {
    const item = this.inboxItem(
      newEvent(EventType.TimerFired, { TimerId: timerId, FireAt: fireAtIso }, new Date(fireAt)),
      fireAt,
      inst.record.executionId,
    );
    inst.inbox.push(item);
    ops.push(["upsert", inboxToEntity(item)]);
    this.wakeAt(inst.record.instanceId, fireAt);
  }

  private activityItem(rec: InstanceRecord, taskId: number, name: string, input: string): ActivityItem {
    return {
      rowKey: `A|${rec.executionId}|${taskId}`,
      instanceId: rec.instanceId,
      executionId: rec.executionId,
      taskId,
      name,
      input,
    };
  }

  private startMessage(
    rec: InstanceRecord,
    taskId: number,
    name: string,
    child: string,
    input: string | undefined,
  ): OutboxMessage {
    return {
      rowKey: `O|${randomUUID()}`,
      kind: "start",
      target: child,
      name,
      input,
      parent: { instanceId: rec.instanceId, executionId: rec.executionId, taskId },
    };
  }

  /** Turns one new SDK action into history and work; returns a failure message for unsupported ones. */
  private applyAction(
    inst: LiveInstance,
    a: SdkAction,
    actionIndex: number,
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
        inst.history.push(newEvent(EventType.TaskScheduled, { EventId: id, Name: name, Input: input }));
        if (a.actionType === ActionType.CallActivityWithRetry && a.retryOptions)
          rec.retries[String(id)] = {
            kind: "activity",
            name,
            input,
            options: a.retryOptions,
            attempt: 1,
            firstAttemptAt: Date.now(),
          };
        activities.push(this.activityItem(rec, id, name, input));
        return undefined;
      }
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry: {
        const id = rec.nextId++;
        const name = a.functionName ?? "";
        const input = a.input === undefined ? undefined : toJsonText(a.input);
        const child = a.instanceId || `${rec.instanceId}:${id}`;
        inst.history.push(
          newEvent(EventType.SubOrchestrationInstanceCreated, {
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
            firstAttemptAt: Date.now(),
            childInstanceId: a.instanceId || undefined,
          };
        outbox.push(this.startMessage(rec, id, name, child, input));
        return undefined;
      }
      case ActionType.CreateTimer: {
        const id = rec.nextId++;
        const fireAt = new Date(a.fireAt ?? Date.now());
        const iso = fireAt.toISOString();
        inst.history.push(newEvent(EventType.TimerCreated, { EventId: id, FireAt: iso }));
        this.addTimer(inst, ops, id, fireAt.getTime(), iso);
        if (!a.isCanceled) rec.timers[String(actionIndex)] = id;
        return undefined;
      }
      default:
        return `Orchestrator function '${rec.name}' used an action (type ${a.actionType}) that this local durable engine does not support (entities and durable HTTP are not available).`;
    }
  }

  private async fail(inst: LiveInstance, ops: Op[], reason: string): Promise<void> {
    this.log("warn", reason, { instanceId: inst.record.instanceId });
    await this.finish(inst, ops, "Failed", toJsonText(reason));
  }

  /** Ends the execution, drops its pending timers and tells a parent orchestration. */
  private async finish(inst: LiveInstance, ops: Op[], status: RuntimeStatus, output: string): Promise<void> {
    const rec = inst.record;
    rec.runtimeStatus = status;
    rec.output = output;
    rec.lastUpdatedTime = new Date().toISOString();
    rec.retries = {};
    rec.retryTimers = {};
    rec.timers = {};
    inst.history.push(
      newEvent(EventType.ExecutionCompleted, { OrchestrationStatus: status, Result: output }),
    );
    for (const item of [...inst.inbox]) {
      if (item.event.EventType !== EventType.TimerFired) continue;
      inst.inbox.splice(inst.inbox.indexOf(item), 1);
      ops.push(["delete", item.rowKey]);
    }
    const outbox: OutboxMessage[] = [];
    if (rec.parent && status !== "ContinuedAsNew") {
      const p = rec.parent;
      const event =
        status === "Completed"
          ? newEvent(EventType.SubOrchestrationInstanceCompleted, {
              TaskScheduledId: p.taskId,
              Result: output,
            })
          : newEvent(EventType.SubOrchestrationInstanceFailed, {
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
    this.log("info", `Orchestration ${rec.name} (${rec.instanceId}) ${status}`, {
      instanceId: rec.instanceId,
    });
    await this.persist(inst, ops, [], outbox);
    if (inst.inbox.length === 0 && this.live.get(rec.instanceId) === inst) this.live.delete(rec.instanceId);
  }

  private async continueAsNew(
    inst: LiveInstance,
    ops: Op[],
    input: string | undefined,
    actions: SdkAction[],
  ): Promise<void> {
    const rec = inst.record;
    const carried = unconsumedEvents(inst.history, actions).map((e) => this.inboxItem(e));
    for (const item of [...inst.inbox]) {
      if (item.event.EventType !== EventType.TimerFired) continue;
      inst.inbox.splice(inst.inbox.indexOf(item), 1);
      ops.push(["delete", item.rowKey]);
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
      timers: {},
      runtimeStatus: "Running",
      lastUpdatedTime: new Date().toISOString(),
    });
    inst.history = [];
    inst.persisted = 0;
    const started = this.inboxItem(newEvent(EventType.ExecutionStarted, { Name: rec.name, Input: input }));
    inst.inbox.unshift(started, ...carried);
    for (const item of [started, ...carried]) ops.push(["upsert", inboxToEntity(item)]);
    await this.persist(inst, ops, [], []);
    this.schedule(rec.instanceId);
  }

  /** Commits the episode (new history, instance row, work items) in one batch, then dispatches work. */
  private async persist(
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
    await this.store.commit(rec.instanceId, [
      ...ops,
      ...historyOps,
      ...activities.map((a): Op => ["upsert", activityToEntity(a)]),
      ...outbox.map((m): Op => ["upsert", outboxToEntity(m)]),
      ["upsert", instanceToEntity(rec)],
    ]);
    inst.persisted = inst.history.length;
    for (const a of activities) this.track(this.runActivity(a));
    for (const m of outbox) this.track(this.deliver(rec.instanceId, m));
  }

  // ---- activities and cross-instance messages --------------------------------------------------------

  private runActivity(item: ActivityItem): Promise<void> {
    const key = `${item.instanceId}/${item.rowKey}`;
    return this.activityGate.run(async () => {
      if (!this.running || this.runningActivities.has(key)) return;
      this.runningActivities.add(key);
      let result: HistoryEvent;
      try {
        result = await this.executeActivity(item);
      } finally {
        this.runningActivities.delete(key);
      }
      // Stopping: the result is not recorded; the persisted work item reruns on the next start.
      if (!this.running) return;
      const inst = await this.getInstance(item.instanceId);
      if (!inst || inst.inbox.some((i) => i.activityRowKey === item.rowKey)) return;
      if (!ACTIVE_STATUSES.has(inst.record.runtimeStatus) || inst.record.executionId !== item.executionId) {
        // Nobody will consume this result; only the work item has to go.
        await this.store.commit(item.instanceId, [["delete", item.rowKey]]);
        return;
      }
      inst.inbox.push({
        rowKey: `E|${item.rowKey.slice(2)}`,
        event: result,
        dueAt: 0,
        executionId: item.executionId,
        activityRowKey: item.rowKey,
      });
      this.schedule(item.instanceId);
    });
  }

  private async executeActivity(item: ActivityItem): Promise<HistoryEvent> {
    const f = this.activity(item.name);
    const started = Date.now();
    if (!f) {
      const reason = `The function '${item.name}' doesn't exist, is disabled, or is not an activity function.`;
      return newEvent(EventType.TaskFailed, {
        TaskScheduledId: item.taskId,
        Reason: reason,
        Details: reason,
      });
    }
    const invocationId = randomUUID();
    // Activities may declare a durable client input (e.g. to start or signal another orchestration).
    const extraInputs = Object.entries(f.bindings)
      .filter(([name, b]) => b.direction === "in" && name !== f.trigger.name)
      .map(([name, b]) => ({ ...b, name }));
    const context = new InvocationContext({
      functionName: f.name,
      invocationId,
      logHandler: (level, ...args) => this.userLog(f.name, level, args),
      options: { trigger: f.trigger as never, extraInputs: extraInputs as never, extraOutputs: [] },
    });
    for (const input of extraInputs) {
      if (input.type === "durableClient" || input.type === "orchestrationClient") {
        context.extraInputs.set(input.name, this.clientBindingData());
      }
    }
    try {
      const value = await f.handler(JSON.parse(item.input), context);
      this.log(
        "info",
        `Executed '${f.name}' (Succeeded, Id=${invocationId}, Duration=${Date.now() - started}ms)`,
      );
      return newEvent(EventType.TaskCompleted, { TaskScheduledId: item.taskId, Result: toJsonText(value) });
    } catch (e) {
      this.log(
        "warn",
        `Executed '${f.name}' (Failed, Id=${invocationId}, Duration=${Date.now() - started}ms)`,
      );
      return newEvent(EventType.TaskFailed, {
        TaskScheduledId: item.taskId,
        Reason: `Activity function '${f.name}' failed: ${message(e)}`,
        Details: (e instanceof Error && e.stack) || message(e),
      });
    }
  }

  /** Delivers an outbox message to its target instance, then removes it (at-least-once, idempotent). */
  private async deliver(source: string, m: OutboxMessage): Promise<void> {
    if (m.kind === "start") {
      const existing = await this.getInstance(m.target);
      const alreadyStarted =
        existing?.record.parent?.instanceId === m.parent.instanceId &&
        existing.record.parent.taskId === m.parent.taskId &&
        existing.record.parent.executionId === m.parent.executionId;
      if (!alreadyStarted) {
        if (this.orchestrator(m.name)) await this.startInstance(m.name, m.target, m.input, m.parent);
        else {
          const reason = `The function '${m.name}' doesn't exist, is disabled, or is not an orchestrator function.`;
          await this.deliver(source, {
            rowKey: m.rowKey,
            kind: "event",
            target: m.parent.instanceId,
            item: {
              rowKey: `E|${m.rowKey.slice(2)}`,
              event: newEvent(EventType.SubOrchestrationInstanceFailed, {
                TaskScheduledId: m.parent.taskId,
                Reason: reason,
                Details: reason,
              }),
              dueAt: 0,
              executionId: m.parent.executionId,
            },
          });
          return;
        }
      }
    } else {
      await this.store.deliver(m.target, [["upsert", inboxToEntity(m.item)]]);
      const inst = await this.getInstance(m.target);
      if (inst && !inst.inbox.some((i) => i.rowKey === m.item.rowKey)) inst.inbox.push(m.item);
      this.schedule(m.target);
    }
    await this.store.commit(source, [["delete", m.rowKey]]);
  }
}

/** Flattens the SDK's cumulative action list (one or more inner arrays, compound actions nested). */
function flatten(actions: unknown[][]): SdkAction[] {
  const out: SdkAction[] = [];
  const visit = (a: SdkAction) => {
    if (a.actionType === ActionType.WhenAll || a.actionType === ActionType.WhenAny)
      (a.compoundActions ?? []).forEach(visit);
    else out.push(a);
  };
  for (const group of actions) for (const a of group ?? []) visit(a as SdkAction);
  return out;
}

/**
 * External events the finished execution received but never waited for: each wait consumes one event of
 * its name, in arrival order, so the surplus of each name is carried into the next execution.
 */
function unconsumedEvents(history: HistoryEvent[], actions: SdkAction[]): HistoryEvent[] {
  const waits = new Map<string, number>();
  for (const a of actions)
    if (a.actionType === ActionType.WaitForExternalEvent) {
      const name = String((a as { externalEventName?: string }).externalEventName);
      waits.set(name, (waits.get(name) ?? 0) + 1);
    }
  return history
    .filter((e) => {
      if (e.EventType !== EventType.EventRaised) return false;
      const left = waits.get(e.Name ?? "") ?? 0;
      if (left > 0) {
        waits.set(e.Name ?? "", left - 1);
        return false;
      }
      return true;
    })
    .map((e) => newEvent(EventType.EventRaised, { Name: e.Name, Input: e.Input }));
}

/** The SDK JSON-encodes string inputs once more for activities and continue-as-new; undo that. */
function actionInputText(input: unknown): string | undefined {
  if (input === undefined) return undefined;
  return typeof input === "string" ? input : toJsonText(input);
}

function parseFailure(e: unknown): { message: string; customStatus?: unknown } {
  const text = message(e);
  const at = text.indexOf(OUT_OF_PROC_MARKER);
  if (at >= 0) {
    try {
      const state = JSON.parse(text.slice(at + OUT_OF_PROC_MARKER.length)) as SdkState;
      return { message: state.error ?? text.slice(0, at), customStatus: state.customStatus };
    } catch {
      return { message: text.slice(0, at) };
    }
  }
  return { message: text };
}

function describeOutput(output: string): string {
  const v = JSON.parse(output) as unknown;
  return typeof v === "string" ? v : output;
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
