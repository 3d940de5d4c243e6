/**
 * Typed activities for orchestrators: an activity's definition (its name, with its input and result
 * types), scheduling it, and awaiting it. Call sites name no activity by string and cast no result.
 * Each helper yields exactly the task it names, once, and adds no yield of its own: the Durable replay
 * depends on the sequence of yields.
 */
import type { OrchestrationContext, RetryOptions, Task } from "durable-functions";

export type DurableApi = OrchestrationContext["df"];

/** An activity's name, with its input and result types riding along (never read at run time). */
export interface ActivityDef<I, O> {
  readonly name: string;
  /** Type carrier only: `ActivityInput` / `ActivityResult` read it. */
  readonly types?: { input: I; result: O };
}
export type ActivityInput<A> = A extends ActivityDef<infer I, unknown> ? I : never;
export type ActivityResult<A> = A extends ActivityDef<unknown, infer O> ? O : never;

export function activity<I, O>(name: string): ActivityDef<I, O> {
  return { name };
}

/** A task whose `result` has a known type. */
export type TypedTask<T> = Task & { readonly result: T };

/**
 * Schedules an activity without awaiting it (for a Task.any or a later `resultOf`); with `retry`, with
 * the Durable retry policy (callActivityWithRetry).
 */
export function schedule<I, O>(
  df: DurableApi,
  activity: ActivityDef<I, O>,
  input: I,
  retry?: RetryOptions,
): TypedTask<O> {
  const task = retry
    ? df.callActivityWithRetry(activity.name, retry, input)
    : df.callActivity(activity.name, input);
  // The SDK hands back the activity's JSON result; its type is the definition's.
  return task as TypedTask<O>;
}

/** Awaits a scheduled task (one yield) and answers its typed result; a failed task throws here. */
export function* resultOf<T>(task: TypedTask<T>): Generator<Task, T, unknown> {
  return (yield task) as T;
}

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
  return yield* resultOf(schedule(df, activity, input, retry));
}
