/**
 * The Azure Storage backend's rules the engine follows where the product depends on them
 * (docs/durable-engine.md, "Conformance with the Azure Storage backend"): retry delays and the retry
 * timeout (DTFx RetryInterceptor), long-timer pieces (the extension's CreateTimer loop), what a cancelled
 * long timer does (rewind is in rewind.ts). Pure: episode.ts applies them to an instance and persists the
 * result.
 */
import { EventType, type HistoryEvent } from "./history";
import type { SdkAction, TimerLimits } from "./protocol";
import type { InstanceRecord, LongTimerState, RetryState } from "./store";

/**
 * Events on which the extension takes a task id of its own (a retry timer or attempt, the next piece of
 * a long timer): the SDK takes it where it processes the event, so such an event replays alone.
 */
export function takesTaskId(rec: InstanceRecord, e: HistoryEvent): boolean {
  if (e.EventType === EventType.TaskFailed || e.EventType === EventType.SubOrchestrationInstanceFailed)
    return String(e.TaskScheduledId) in rec.retries;
  if (e.EventType === EventType.TimerFired)
    return String(e.TimerId) in rec.retryTimers || rec.longTimers[String(e.TimerId)]?.canceled === false;
  return false;
}

/** After a failed attempt: a retry timer due at `fireAt`, or (retry timeout elapsed) no timer at all. */
export type RetryStep = { fireAt: number } | { noTimer: string };

/**
 * A failed attempt of a retried task (counted here), as DTFx's RetryInterceptor handles it: after the
 * last attempt a timer due at once (its back-compat "dummy timer"); otherwise, if the retry timeout has
 * not elapsed (from the episode that first scheduled the task to this one's currentUtcDateTime, `at`), a
 * timer for the backoff delay. When it has elapsed DTFx stops retrying WITHOUT a timer and the extension
 * fails the call, but the SDK's RetryableTask waits for a timer after every failure: the instance stays
 * Running forever (azure-functions-durable-js#629). The engine does the same, so a test shows the hang;
 * `noTimer` is the warning that names it.
 */
export function retryAfterFailure(retry: RetryState, at: number, orchestrator: string): RetryStep {
  retry.attempt++;
  const o = retry.options;
  const exhausted = retry.attempt > o.maxNumberOfAttempts;
  const timeout = o.retryTimeoutInMilliseconds;
  if (!exhausted && timeout !== undefined && !(at < retry.firstAttemptAt + timeout))
    return {
      noTimer: `Orchestrator ${orchestrator}: the retry timeout of ${timeout} ms for '${retry.name}' elapsed. The Durable extension stops retrying without a retry timer, the SDK waits for one, and the instance hangs (azure-functions-durable-js#629): bound retries with maxNumberOfAttempts instead of retryTimeoutInMilliseconds.`,
    };
  const interval = Math.min(
    o.firstRetryIntervalInMilliseconds * (o.backoffCoefficient ?? 1) ** (retry.attempt - 2),
    o.maxRetryIntervalInMilliseconds ?? Number.MAX_SAFE_INTEGER,
  );
  return { fireAt: at + (exhausted ? 0 : interval) };
}

/**
 * A timer the orchestrator creates at `at` for `fireAt` (`action`: its index in the flattened actions):
 * when its first TimerCreated fires, and, for one over maximumShortTimerDuration, its long-timer state.
 */
export function firstPiece(
  fireAt: number,
  at: number,
  limits: TimerLimits,
  action: number,
): { pieceAt: number; long?: LongTimerState } {
  if (fireAt - at <= limits.maximumShortTimerMs) return { pieceAt: fireAt };
  const long = { action, fireAt: new Date(fireAt).toISOString(), pieces: 1, canceled: false };
  return { pieceAt: nextPieceAt(fireAt, at, limits) ?? fireAt, long };
}

/**
 * When the next piece of a long timer fires, `at` being the current time (the creation, or the episode
 * in which the previous piece fired); undefined when the timer is done. As the extension's CreateTimer
 * loop: longRunningTimerIntervalDuration at a time while at least that much is left, then what is left.
 */
export function nextPieceAt(fireAt: number, at: number, limits: TimerLimits): number | undefined {
  if (!(at < fireAt)) return undefined;
  return fireAt - at < limits.longRunningTimerIntervalMs ? fireAt : at + limits.longRunningTimerIntervalMs;
}

/**
 * Marks the long timers the orchestrator has cancelled (their action says isCanceled). A cancelled long
 * timer makes no more pieces (the extension's loop ends), but the SDK's LongTimerTask does not look at
 * its cancellation and takes a new task id for a next piece when its pending piece fires: from there the
 * SDK's ids drift from the extension's and the instance hangs (a warning). Worse when a second piece
 * already exists: the extension's replay creates only the first piece before cancelling, so DTFx meets
 * the recorded TimerCreated of the second one with no action, a non-deterministic replay that fails the
 * instance (the failure message).
 */
export function cancelLongTimers(
  rec: InstanceRecord,
  flat: SdkAction[],
): { warnings: string[]; failure?: string } {
  const warnings: string[] = [];
  for (const long of Object.values(rec.longTimers)) {
    if (long.canceled || !flat[long.action]?.isCanceled) continue;
    long.canceled = true;
    if (long.pieces > 1)
      return {
        warnings,
        failure: `Non-Deterministic workflow detected: A previous execution of this orchestration scheduled a timer task but the current replay execution hasn't (yet?) scheduled this task. (Orchestrator '${rec.name}' cancelled a timer longer than maximumShortTimerDuration, fire time ${long.fireAt}, after its second piece was created; the extension replays only its first piece.)`,
      };
    warnings.push(
      `Orchestrator '${rec.name}' (${rec.instanceId}) cancelled a timer longer than maximumShortTimerDuration (fire time ${long.fireAt}). On the Azure Storage backend the SDK's task ids drift from the extension's when its pending piece fires and the instance hangs: cap each timer at the maximum and wait in a loop.`,
    );
  }
  return { warnings };
}
