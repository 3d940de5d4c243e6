/**
 * Durable timers an orchestrator may safely create: never longer than MAX_TIMER_MS, and a fresh timer
 * for every wait. Each helper yields exactly what it names and adds no yield of its own.
 */
import type { Task } from "durable-functions";
import type { DurableApi } from "./activities";

/**
 * The longest single timer an orchestrator creates: the Azure Storage backend's maximum short timer
 * (6 days, the extension's MaximumDelayTime) less an hour. The SDK splits a longer timer into pieces
 * (LongTimerTask), and when such a timer is cancelled (an event won the Task.any) the SDK still adds a
 * piece when its pending piece fires while the extension does not: the task ids drift and the instance
 * hangs (docs/durable-engine.md, conformance). So a longer wait is a loop of timers of at most this long.
 *
 * Replay-safe for instances in flight: a wait no longer than this yields exactly the one timer it
 * yielded before (same FireAt). A longer wait that an older release started was one timer, which the
 * Azure Storage backend recorded as pieces (day 3, day 6, the end), each with a task id of its own; a
 * loop that ends when the clock reaches its end, not when its own timer was meant to, completes one of
 * its timers per recorded piece (timers are matched by id and kind, never by time) and ends when the
 * recorded wait did.
 */
export const MAX_TIMER_MS = 6 * 24 * 3_600_000 - 3_600_000;

/** `until`, or the furthest a single timer may reach from now (MAX_TIMER_MS) when `until` is further. */
export function timerStop(df: DurableApi, until: Date): Date {
  const cap = df.currentUtcDateTime.getTime() + MAX_TIMER_MS;
  return until.getTime() > cap ? new Date(cap) : until;
}

/**
 * A wait for the first of `events`, or `until` (at most MAX_TIMER_MS ahead: use timerStop); answers the
 * task that won. Every wait makes a FRESH timer: a timer task that was already yielded must never go into
 * another Task.any. The Durable extension replays each action the SDK returns by calling CreateTimer
 * again, so a re-yielded timer becomes a second timer with a new task id, the host's task numbering
 * drifts from the SDK's, and the orchestration never completes (docs/durable-engine.md, "Yield each task
 * once"). Event waits may be abandoned: the SDK and the extension both hand an event to the newest wait
 * of its name.
 */
export function* waitUntil(df: DurableApi, events: Task[], until: Date): Generator<Task, Task, unknown> {
  const timer = df.createTimer(until);
  const winner = (yield df.Task.any([...events, timer])) as Task;
  if (winner !== timer) timer.cancel();
  return winner;
}
