/**
 * The durable engine's scheduler: it owns the instances in memory, runs each instance's episodes one at
 * a time (episode.ts replays the SDK and commits), runs activities, delivers messages between instances,
 * wakes instances at their timers and, in time-skipping mode, moves the clock to the next timer as soon
 * as nothing else can run. The management API (management-api.ts) sees it through ManagementBackend.
 *
 * Files: protocol.ts (the SDK), episode.ts (one episode's state and persistence), conformance.ts (the
 * Azure Storage backend's timer and retry rules), rewind.ts, engine.ts (scheduling and delivery),
 * management-api.ts (HTTP), clock.ts (time), store.ts (Table Storage), history.ts.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { InvocationContext } from "@azure/functions";
import type { DurableEngine, DurableEngineOptions } from "../host/durable-contract";
import type { RegisteredFunction } from "../host/functions-core";
import { VirtualClock, systemClock, type Clock, type ClockTimer } from "./clock";
import { Episodes, newInboxItem, type EpisodeHost, type LiveInstance } from "./episode";
import { DurableEngineError } from "./errors";
import { EventType, newEvent, toJsonText, type HistoryEvent } from "./history";
import { ManagementApi, type ManagementBackend } from "./management-api";
import { rewindInstance } from "./rewind";
import {
  AZURE_STORAGE_TIMER_LIMITS,
  errorMessage as message,
  forwardUserLog,
  type LogLevel,
  type TimerLimits,
} from "./protocol";
import {
  ACTIVE_STATUSES,
  DurableStore,
  inboxToEntity,
  instanceToEntity,
  type ActivityItem,
  type InboxItem,
  type InstanceRecord,
  type OutboxMessage,
  type ParentLink,
} from "./store";

// The contract with the host is declared once, beside the host.
export type { DurableEngine, DurableEngineOptions } from "../host/durable-contract";
export { DurableEngineError } from "./errors";
export { VirtualClock, systemClock, type Clock } from "./clock";

export function createDurableEngine(options: DurableEngineOptions): DurableEngine {
  return new Engine(options);
}

const RECOVERY_DELAY_MS = 1000;
/**
 * How long stop() waits for work in flight (abandoned work runs again after a restart: at least once).
 * Below the supervisor's 10 s grace (dev/supervisor.ts), so that a host that also closes its server and
 * triggers after the drain still stops on its own rather than being killed.
 */
const STOP_GRACE_MS = 8_000;

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

export class Engine implements DurableEngine, EpisodeHost, ManagementBackend {
  readonly store: DurableStore;
  readonly hubName: string;
  readonly clock: Clock;
  readonly timerLimits: TimerLimits;
  private readonly live = new Map<string, LiveInstance>();
  private readonly loading = new Map<string, Promise<LiveInstance | undefined>>();
  /** Per-instance serialization: the tail of each instance's episode chain. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly queued = new Set<string>();
  private readonly timers = new Set<ClockTimer>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly runningActivities = new Set<string>();
  private readonly wakeUps = new Map<string, ClockTimer>();
  private readonly activityGate: Gate;
  private readonly orchestrationGate: Gate;
  private readonly episodes: Episodes;
  private readonly api: ManagementApi;
  /** Time skipping: the virtual clock to move forward when the engine is idle. */
  private readonly skipping: VirtualClock | undefined;
  /** Management calls (start, raise, terminate) between their request and their scheduled episode. */
  private accepting = 0;
  private skipQueued = false;
  private running = false;

  constructor(readonly options: DurableEngineOptions) {
    if (!/^[A-Za-z][A-Za-z0-9]{2,44}$/.test(options.hubName))
      throw new DurableEngineError(
        `Task hub name "${options.hubName}" is invalid: use 3-45 letters and digits, starting with a letter.`,
        500,
      );
    this.hubName = options.hubName;
    this.timerLimits = {
      maximumShortTimerMs: options.maximumShortTimerMs ?? AZURE_STORAGE_TIMER_LIMITS.maximumShortTimerMs,
      longRunningTimerIntervalMs:
        options.longRunningTimerIntervalMs ?? AZURE_STORAGE_TIMER_LIMITS.longRunningTimerIntervalMs,
    };
    const { maximumShortTimerMs: max, longRunningTimerIntervalMs: piece } = this.timerLimits;
    if (!(piece > 0 && piece <= max))
      throw new DurableEngineError(
        `longRunningTimerIntervalMs (${piece}) must be positive and at most maximumShortTimerMs (${max}).`,
        500,
      );
    if (options.timeSkipping) {
      const clock = options.clock ?? new VirtualClock();
      if (!(clock instanceof VirtualClock))
        throw new DurableEngineError("Time skipping needs a VirtualClock (or no clock option).", 500);
      this.clock = this.skipping = clock;
    } else this.clock = options.clock ?? systemClock;
    this.store = new DurableStore(options.storageConnectionString, `DurableDev${options.hubName}`);
    this.activityGate = new Gate(options.maxConcurrentActivities ?? 10);
    this.orchestrationGate = new Gate(options.maxConcurrentOrchestrations ?? 10);
    this.episodes = new Episodes(this);
    this.api = new ManagementApi(this);
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  readonly log = (level: LogLevel, message: string, props?: Record<string, unknown>): void => {
    this.options.log?.(level, message, props);
  };

  now(): number {
    return this.clock.now();
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
    for (const t of this.timers) this.clock.clearTimer(t);
    this.timers.clear();
    this.wakeUps.clear();
    const deadline = this.clock.now() + STOP_GRACE_MS;
    while (this.inFlight.size > 0 && this.clock.now() < deadline) {
      let timer: ClockTimer | undefined;
      await Promise.race([
        Promise.allSettled([...this.inFlight]),
        new Promise<void>((r) => (timer = this.clock.setTimer(r, deadline))),
      ]);
      if (timer) this.clock.clearTimer(timer);
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

  private track<T>(p: Promise<T>): void {
    const tracked = p.catch((e) => this.log("error", `Durable engine background work failed: ${message(e)}`));
    this.inFlight.add(tracked);
    void tracked.finally(() => {
      this.inFlight.delete(tracked);
      if (this.inFlight.size === 0) this.skipWhenIdle();
    });
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
  startInstance(
    name: string,
    instanceId: string,
    input: string | undefined,
    parent?: ParentLink,
    version?: string,
  ): Promise<void> {
    return this.accept(() =>
      this.createInstance(name, instanceId, input, parent, version ?? this.defaultVersion),
    );
  }

  get versioning() {
    return this.options.versioning;
  }

  /** host.json `defaultVersion`: every orchestration started without a version gets it. */
  get defaultVersion(): string | undefined {
    return this.options.versioning?.defaultVersion;
  }

  /** Queues a control or external event for a running instance; false when it is not running. */
  enqueue(instanceId: string, event: HistoryEvent): Promise<boolean> {
    return this.accept(() => this.enqueueNow(instanceId, event));
  }

  /** A management call in progress holds time still until its episode is scheduled. */
  private async accept<T>(call: () => Promise<T>): Promise<T> {
    this.accepting++;
    try {
      return await call();
    } finally {
      this.accepting--;
      if (this.inFlight.size === 0) this.skipWhenIdle();
    }
  }

  private async createInstance(
    name: string,
    instanceId: string,
    input: string | undefined,
    parent: ParentLink | undefined,
    version: string | undefined,
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
    const now = new Date(this.clock.now()).toISOString();
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
      longTimers: {},
      parent,
      ...(version ? { version } : {}),
    };
    const started = this.inboxItem(
      this.event(EventType.ExecutionStarted, {
        Name: name,
        Input: input,
        ...(version ? { Version: version } : {}),
      }),
    );
    await this.store.commit(instanceId, [
      ["upsert", instanceToEntity(record)],
      ["upsert", inboxToEntity(started)],
    ]);
    this.live.set(instanceId, { record, history: [], inbox: [started], persisted: 0 });
    this.schedule(instanceId);
  }

  private async enqueueNow(instanceId: string, event: HistoryEvent): Promise<boolean> {
    const inst = await this.getInstance(instanceId);
    if (!inst) throw new DurableEngineError(`No instance with ID '${instanceId}' was found.`, 404);
    if (!ACTIVE_STATUSES.has(inst.record.runtimeStatus)) return false;
    const item = this.inboxItem(event);
    await this.store.commit(instanceId, [["upsert", inboxToEntity(item)]]);
    inst.inbox.push(item);
    this.schedule(instanceId);
    return true;
  }

  /** Rewinds a Failed instance and its failed sub-orchestrations (rewind.ts). */
  rewind(instanceId: string, reason: string): Promise<void> {
    return this.accept(() => this.rewindNow(instanceId, reason));
  }

  private async rewindNow(instanceId: string, reason: string): Promise<void> {
    const inst = await this.getInstance(instanceId);
    // A child that did not fail (terminated, or never started) is left as it is: its parent then waits.
    if (!inst || inst.record.runtimeStatus !== "Failed") return;
    this.live.set(instanceId, inst);
    const { children } = await rewindInstance(this.episodes, this.clock, this.log, inst, reason);
    for (const child of children) await this.rewindNow(child, reason);
    if (children.length === 0) this.schedule(instanceId);
  }

  async purge(instanceId: string): Promise<boolean> {
    const inst = this.live.get(instanceId);
    if (inst && ACTIVE_STATUSES.has(inst.record.runtimeStatus))
      this.log("warn", `Purging instance ${instanceId} while it is ${inst.record.runtimeStatus}`);
    this.live.delete(instanceId);
    return this.store.purge(instanceId);
  }

  private inboxItem(event: HistoryEvent, dueAt = 0, executionId?: string): InboxItem {
    return newInboxItem(this.clock, event, dueAt, executionId);
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
          await this.episodes.run(instanceId);
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
    const t = this.clock.setTimer(() => {
      this.timers.delete(t);
      this.track(
        this.store.loadInstance(instanceId).then((loaded) => {
          if (!loaded || !this.running) return;
          for (const a of loaded.activities)
            if (!this.runningActivities.has(`${instanceId}/${a.rowKey}`)) this.track(this.runActivity(a));
          this.schedule(instanceId);
        }),
      );
    }, this.clock.now() + RECOVERY_DELAY_MS);
    this.timers.add(t);
  }

  /** One wake-up per instance, at its earliest due timer; later ones are re-armed by that episode. */
  wakeAt(instanceId: string, dueAt: number): void {
    if (!this.running) return;
    const armed = this.wakeUps.get(instanceId);
    if (armed && armed.dueAt <= dueAt) return;
    if (armed) {
      this.clock.clearTimer(armed);
      this.timers.delete(armed);
    }
    const timer = this.clock.setTimer(() => {
      this.timers.delete(timer);
      if (this.wakeUps.get(instanceId) === timer) this.wakeUps.delete(instanceId);
      this.schedule(instanceId);
    }, dueAt);
    this.timers.add(timer);
    this.wakeUps.set(instanceId, timer);
  }

  /**
   * Time skipping: when nothing can run (no episode queued or running, no activity or delivery in
   * flight, no management call being accepted), the clock jumps to the earliest wake-up and fires it.
   * Checked on a later turn of the event loop, after the work that just ended has settled.
   */
  private skipWhenIdle(): void {
    if (!this.skipping || this.skipQueued) return;
    this.skipQueued = true;
    setImmediate(() => {
      this.skipQueued = false;
      if (!this.skipping || !this.running || this.inFlight.size > 0 || this.accepting > 0) return;
      let next: number | undefined;
      for (const t of this.wakeUps.values()) if (next === undefined || t.dueAt < next) next = t.dueAt;
      if (next !== undefined) this.skipping.advanceTo(next);
    });
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
    const started = this.clock.now();
    if (!f) {
      const reason = `The function '${item.name}' doesn't exist, is disabled, or is not an activity function.`;
      return this.event(EventType.TaskFailed, {
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
      logHandler: (level, ...args) => forwardUserLog(this.log, f.name, level, args),
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
        "debug",
        `Executed '${f.name}' (Succeeded, Id=${invocationId}, Duration=${this.clock.now() - started}ms)`,
      );
      return this.event(EventType.TaskCompleted, { TaskScheduledId: item.taskId, Result: toJsonText(value) });
    } catch (e) {
      this.log(
        "warn",
        `Executed '${f.name}' (Failed, Id=${invocationId}, Duration=${this.clock.now() - started}ms)`,
      );
      return this.event(EventType.TaskFailed, {
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
        if (this.orchestrator(m.name))
          await this.startInstance(m.name, m.target, m.input, m.parent, m.version);
        else {
          const reason = `The function '${m.name}' doesn't exist, is disabled, or is not an orchestrator function.`;
          await this.deliver(source, {
            rowKey: m.rowKey,
            kind: "event",
            target: m.parent.instanceId,
            item: {
              rowKey: `E|${m.rowKey.slice(2)}`,
              event: this.event(EventType.SubOrchestrationInstanceFailed, {
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

  /** A history event stamped with the engine's clock. */
  private event(type: number, fields: Partial<HistoryEvent>): HistoryEvent {
    return newEvent(type, fields, new Date(this.clock.now()));
  }

  // ---- EpisodeHost -----------------------------------------------------------------------------------

  dispatch(instanceId: string, activities: ActivityItem[], outbox: OutboxMessage[]): void {
    for (const a of activities) this.track(this.runActivity(a));
    for (const m of outbox) this.track(this.deliver(instanceId, m));
  }

  release(inst: LiveInstance): void {
    if (this.live.get(inst.record.instanceId) === inst) this.live.delete(inst.record.instanceId);
  }
}
