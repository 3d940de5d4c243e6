/**
 * External events for orchestrators, typed by what each carries (a payload map per app: `P`), and the
 * one safe way to wait for them: EventInbox. Each helper yields exactly what it names, once.
 */
import type { Task } from "durable-functions";
import type { DurableApi, TypedTask } from "./activities";
import { timerStop, waitUntil } from "./timers";

/** Waits for an event by name, typed with what it carries. */
function waitForEvent<P, K extends keyof P & string>(df: DurableApi, name: K): TypedTask<P[K]> {
  return df.waitForExternalEvent(name) as TypedTask<P[K]>;
}

/** One received event: its name and what it carries. */
export type Received<P, K extends keyof P & string = keyof P & string> = {
  [N in K]: { name: N; value: P[N] };
}[K];

/**
 * Events of some names, received without loss however the orchestrator waits. Two facts of the SDK
 * (durable-functions 3.5) make the obvious loop lose events:
 * - a Task.any built with a child that has already completed never resolves through it (WhenAnyTask only
 *   reacts to completions that happen after it exists), so an event that completed its wait while the
 *   orchestrator awaited an activity was never noticed;
 * - an event wait yielded in two Task.any is queued twice for its name, and an event that reaches the
 *   second copy after the first completed overwrites the task's result: the first event is gone.
 * So each wait is yielded once, in one Task.any; the waits that lost a race stay registered (the SDK and
 * the extension hand an event to the newest wait of its name, and an older one only gets one while no
 * newer wait is pending) and are kept here; every call first takes what already arrived, and yields only
 * when nothing has. One abandoned wait per name per yield is the price: proportional to the history.
 *
 * Order: `take` answers events in the order of their waits, oldest wait first. Of several events of one
 * name taken at once, the first is thus the one that arrived last (each arrival completes the newest
 * wait still pending).
 */
export class EventInbox<P, K extends keyof P & string = keyof P & string> {
  private readonly waits: { name: K; task: Task }[] = [];

  constructor(
    private readonly df: DurableApi,
    private readonly names: readonly K[],
  ) {}

  /** Every event received so far and not yet taken. */
  take(): Received<P, K>[] {
    const done = this.waits.filter((w) => w.task.isCompleted);
    for (const w of done) this.waits.splice(this.waits.indexOf(w), 1);
    return done.map((w) => ({ name: w.name, value: w.task.result }) as Received<P, K>);
  }

  /** Whether an event has arrived that is not yet taken. */
  get pending(): boolean {
    return this.waits.some((w) => w.task.isCompleted);
  }

  /**
   * What has arrived, waiting for it until `until` if nothing has; an empty list means `until` came.
   * A wait longer than MAX_TIMER_MS is a series of waits of at most that long (see there). Without
   * `until`, the wait has no timer and ends only with an event.
   */
  *next(until?: Date): Generator<Task, Received<P, K>[], unknown> {
    let ready = this.take();
    if (ready.length > 0) return ready;
    for (;;) {
      const fresh = this.listen();
      if (until === undefined) yield this.df.Task.any(fresh);
      else yield* waitUntil(this.df, fresh, timerStop(this.df, until));
      ready = this.take();
      if (ready.length > 0 || (until && this.df.currentUtcDateTime.getTime() >= until.getTime()))
        return ready;
    }
  }

  /**
   * Whether an event comes before `task` completes: true at once, yielding nothing, when one has arrived
   * already; otherwise one Task.any of `task` and a fresh wait per name. The events stay here for `take`;
   * `task` is not awaited further (yield it, or `resultOf` it, for its result).
   */
  *before(task: Task): Generator<Task, boolean, unknown> {
    if (this.pending) return true;
    const winner = (yield this.df.Task.any([task, ...this.listen()])) as Task;
    return winner !== task;
  }

  /** A fresh wait per name, kept until its event is taken. */
  private listen(): Task[] {
    const fresh = this.names.map((name) => ({ name, task: waitForEvent<P, K>(this.df, name) as Task }));
    this.waits.push(...fresh);
    return fresh.map((w) => w.task);
  }
}
