/**
 * Typed building blocks for the workflow's orchestrators (`orchestrators/*.ts`): calling an activity by
 * its definition in ./contract.ts, waiting for an event with its payload type, and the one safe way to
 * wait for events against a deadline. Each yields exactly the task it names, once: the Durable replay
 * depends on the sequence of yields, so these add no yield of their own.
 */
import type { OrchestrationContext, RetryOptions, Task } from "durable-functions";
import type { ActivityDef, EventPayloads } from "./contract";

type DurableApi = OrchestrationContext["df"];

/** A task whose `result` has a known type. */
export type TypedTask<T> = Task & { readonly result: T };

/**
 * Schedules an activity and answers its typed result: `const claim = yield* call(df, ACTIVITIES.beginAttempt, input)`.
 * With `retry`, the activity is scheduled with the Durable retry policy (callActivityWithRetry).
 * A failed activity throws here, as a plain `yield` would.
 */
export function* call<I, O>(
  df: DurableApi,
  activity: ActivityDef<I, O>,
  input: I,
  retry?: RetryOptions,
): Generator<Task, O, unknown> {
  const task = retry
    ? df.callActivityWithRetry(activity.name, retry, input)
    : df.callActivity(activity.name, input);
  // The SDK hands back the activity's JSON result; its type is the definition's.
  return (yield task) as O;
}

/** Waits for an event by name, typed with what it carries (EventPayloads). */
export function waitForEvent<K extends keyof EventPayloads>(
  df: DurableApi,
  name: K,
): TypedTask<EventPayloads[K]> {
  return df.waitForExternalEvent(name) as TypedTask<EventPayloads[K]>;
}

/**
 * The longest single timer an orchestrator creates: the Azure Storage backend's maximum short timer
 * (6 days, the extension's MaximumDelayTime) less an hour. The SDK splits a longer timer into pieces
 * (LongTimerTask), and when such a timer is cancelled (an event won the Task.any) the SDK still adds a
 * piece when its pending piece fires while the extension does not: the task ids drift and the instance
 * hangs (docs/durable-engine.md, conformance). So a longer wait is a loop of timers of at most this long.
 *
 * Replay-safe for instances in flight: a wait no longer than this yields exactly the one timer it
 * yielded before (same FireAt). A longer wait that an older release started was one timer, which the
 * Azure Storage backend recorded as pieces (day 3, day 6, the end), each with a task id of its own; the
 * loop below ends when the clock reaches `until`, not when its own timer was meant to, so each recorded
 * piece completes one of its timers (timers are matched by id and kind, never by time) and the wait ends
 * when the recorded one did.
 */
export const MAX_TIMER_MS = 6 * 24 * 3_600_000 - 3_600_000;

/** `until`, or the furthest a single timer may reach from now (MAX_TIMER_MS) when `until` is further. */
export function timerStop(df: DurableApi, until: Date): Date {
  const cap = df.currentUtcDateTime.getTime() + MAX_TIMER_MS;
  return until.getTime() > cap ? new Date(cap) : until;
}

/**
 * A wait for the first of `events`, or `until` (at most MAX_TIMER_MS ahead: use timerStop). Every wait makes a FRESH timer: a timer task that was
 * already yielded must never go into another Task.any. The Durable extension replays each action the SDK
 * returns by calling CreateTimer again, so a re-yielded timer becomes a second timer with a new task id,
 * the host's task numbering drifts from the SDK's, and the orchestration never completes (this was the
 * cancel hang; docs/durable-engine.md, "Yield each task once"). Event waits may be abandoned: the SDK and
 * the extension both hand an event to the newest wait of its name.
 */
export function* waitUntil(df: DurableApi, events: Task[], until: Date): Generator<Task, Task, unknown> {
  const timer = df.createTimer(until);
  const winner = (yield df.Task.any([...events, timer])) as Task;
  if (winner !== timer) timer.cancel();
  return winner;
}

/** One received event: its name and what it carries. */
export type Received<K extends keyof EventPayloads> = { [N in K]: { name: N; value: EventPayloads[N] } }[K];

/**
 * Events of some names, received without loss however the orchestrator waits. Two facts of the SDK
 * (durable-functions 3.5) make the obvious loop lose events:
 * - a Task.any built with a child that has already completed never resolves through it (WhenAnyTask only
 *   reacts to completions that happen after it exists), so an event that completed its wait while the
 *   orchestrator awaited an activity (the pump re-ensure, a Cancel send) was never noticed;
 * - an event wait yielded in two Task.any is queued twice for its name, and an event that reaches the
 *   second copy after the first completed overwrites the task's result: the first event is gone.
 * So each wait is yielded once, in one Task.any; the waits that lost a race stay registered (the SDK and
 * the extension hand an event to the newest wait of its name, and an older one only gets one while no
 * newer wait is pending) and are kept here; every call first takes what already arrived, and yields only
 * when nothing has. One abandoned wait per name per call is the price: proportional to the history.
 */
export class EventInbox<K extends keyof EventPayloads> {
  private readonly waits: { name: K; task: Task }[] = [];

  constructor(
    private readonly df: DurableApi,
    private readonly names: readonly K[],
  ) {}

  /** Every event received so far and not yet taken. */
  take(): Received<K>[] {
    const done = this.waits.filter((w) => w.task.isCompleted);
    for (const w of done) this.waits.splice(this.waits.indexOf(w), 1);
    return done.map((w) => ({ name: w.name, value: w.task.result }) as Received<K>);
  }

  /**
   * What has arrived, waiting for it until `until` if nothing has; an empty list means `until` came.
   * A wait longer than MAX_TIMER_MS is a series of waits of at most that long (see there).
   */
  *next(until: Date): Generator<Task, Received<K>[], unknown> {
    let ready = this.take();
    if (ready.length > 0) return ready;
    for (;;) {
      const stop = timerStop(this.df, until);
      const fresh = this.names.map((name) => ({ name, task: waitForEvent(this.df, name) as Task }));
      this.waits.push(...fresh);
      yield* waitUntil(
        this.df,
        fresh.map((w) => w.task),
        stop,
      );
      ready = this.take();
      if (ready.length > 0 || this.df.currentUtcDateTime.getTime() >= until.getTime()) return ready;
    }
  }
}
