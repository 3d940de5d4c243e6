/**
 * Non-determinism detection, as the Durable Task Framework does it on Azure: every task the history
 * recorded (TaskScheduled, SubOrchestrationInstanceCreated, TimerCreated, EventSent) must be scheduled
 * again by the replay at the same task id, as the same kind of action, with the same name (activities,
 * sub-orchestrations, events; compared case-insensitively, as function names are). Inputs, fire times
 * and sub-orchestration instance ids are not compared. Actions past the recorded ones are new work.
 *
 * `checkDeterminism(history, actions)` takes one execution's history and the SDK's flattened actions of a
 * replay over it, and returns undefined or the first difference. It numbers the actions as the engine
 * and the SDK do: one id per non-event action in order, plus the ids a retried call takes for its retry
 * timer and each further attempt (recorded right after the failure / the retry timer's firing, see
 * episode.ts). Pure: no state, no storage, no time.
 */
import { EventType, type HistoryEvent } from "./history";
import { ActionType, AZURE_STORAGE_TIMER_LIMITS, type SdkAction } from "./protocol";

export interface NonDeterminism {
  taskId: number;
  /** What the history recorded at that id, e.g. `activity 'sendCommand'`. */
  expected: string;
  /** What the replay scheduled there, e.g. `activity 'sendCommandV2'`, or `nothing`. */
  actual: string;
  message: string;
}

/** EventSent (14): never written by this engine (no entities), recorded on Azure by event-sending code. */
const EVENT_SENT = 14;

type Kind = "activity" | "sub-orchestration" | "timer" | "event" | "other";

const EVENT_KINDS: Partial<Record<number, Kind>> = {
  [EventType.TaskScheduled]: "activity",
  [EventType.SubOrchestrationInstanceCreated]: "sub-orchestration",
  [EventType.TimerCreated]: "timer",
  [EVENT_SENT]: "event",
};

function actionKind(a: SdkAction): Kind {
  switch (a.actionType) {
    case ActionType.CallActivity:
    case ActionType.CallActivityWithRetry:
      return "activity";
    case ActionType.CallSubOrchestrator:
    case ActionType.CallSubOrchestratorWithRetry:
      return "sub-orchestration";
    case ActionType.CreateTimer:
      return "timer";
    default:
      return "other";
  }
}

/** The actions that take a task id of their own: not event waits, not continue-as-new. */
function numbered(actions: SdkAction[]): SdkAction[] {
  return actions.filter(
    (a) => a.actionType !== ActionType.WaitForExternalEvent && a.actionType !== ActionType.ContinueAsNew,
  );
}

function describeEvent(kind: Kind, e: HistoryEvent): string {
  return kind === "timer" ? "timer" : `${kind} '${e.Name ?? ""}'`;
}

function describeAction(a: SdkAction | undefined): string {
  if (!a) return "nothing";
  const kind = actionKind(a);
  if (kind === "timer") return "timer";
  if (kind === "other") return `an action of type ${a.actionType}`;
  return `${kind} '${a.functionName ?? ""}'`;
}

interface RetryProgress {
  attempt: number;
  maxAttempts: number;
}

/**
 * `maximumShortTimerMs`: what the backend announced (AZURE_STORAGE_TIMER_LIMITS by default): only a timer
 * asked for further ahead than that, from the episode that created it, is recorded as pieces.
 */
export function checkDeterminism(
  history: HistoryEvent[],
  actions: SdkAction[],
  maximumShortTimerMs = AZURE_STORAGE_TIMER_LIMITS.maximumShortTimerMs,
): NonDeterminism | undefined {
  const replayed = numbered(actions);
  let next = 0;
  const retryTasks = new Map<number, RetryProgress>();
  const retryTimers = new Map<number, RetryProgress>();
  // The engine records a retry's timer right after the attempt's failure, and the next attempt right
  // after that timer fires: those ids belong to the retried call, not to a new action.
  let pendingTimer: RetryProgress | undefined;
  let pendingAttempt: RetryProgress | undefined;
  // A timer longer than maximumShortTimerDuration is one CreateTimer action, but the extension records it
  // as pieces: the next piece's TimerCreated right after the previous piece fires, each with its own id.
  const longTimers = new Map<number, number>();
  let pendingPiece: number | undefined;
  let episodeAt = 0;

  for (const e of history) {
    switch (e.EventType) {
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceFailed: {
        const retry = retryTasks.get(Number(e.TaskScheduledId));
        if (retry) {
          retryTasks.delete(Number(e.TaskScheduledId));
          retry.attempt++;
          pendingTimer = retry;
        }
        continue;
      }
      case EventType.TaskCompleted:
      case EventType.SubOrchestrationInstanceCompleted:
        retryTasks.delete(Number(e.TaskScheduledId));
        continue;
      case EventType.OrchestratorStarted:
        episodeAt = Date.parse(e.Timestamp);
        continue;
      case EventType.TimerFired: {
        const finalAt = longTimers.get(Number(e.TimerId));
        if (finalAt !== undefined) {
          longTimers.delete(Number(e.TimerId));
          if (Date.parse(e.FireAt ?? "") < finalAt) pendingPiece = finalAt;
        }
        const retry = retryTimers.get(Number(e.TimerId));
        if (retry) {
          retryTimers.delete(Number(e.TimerId));
          if (retry.attempt <= retry.maxAttempts) pendingAttempt = retry;
        }
        continue;
      }
    }
    const kind = EVENT_KINDS[e.EventType];
    if (!kind) continue;
    const taskId = Number(e.EventId);
    // The engine writes a long timer's next piece right after the previous piece fires, before any other
    // task of the episode: anything else first means there was no next piece.
    const piece = pendingPiece;
    pendingPiece = undefined;
    if (piece !== undefined && kind === "timer") {
      if (Date.parse(e.FireAt ?? "") < piece) longTimers.set(taskId, piece);
      continue;
    }
    if (pendingTimer && kind === "timer") {
      retryTimers.set(taskId, pendingTimer);
      pendingTimer = undefined;
      continue;
    }
    if (pendingAttempt && (kind === "activity" || kind === "sub-orchestration")) {
      retryTasks.set(taskId, pendingAttempt);
      pendingAttempt = undefined;
      continue;
    }
    const action = replayed[next++];
    const expected = describeEvent(kind, e);
    const actual = describeAction(action);
    const sameKind = action !== undefined && actionKind(action) === kind;
    const sameName =
      kind === "timer" || (e.Name ?? "").toLowerCase() === (action?.functionName ?? "").toLowerCase();
    if (!sameKind || !sameName) {
      const what = action
        ? `the replay scheduled ${actual} there instead`
        : "the replay did not schedule it (yet)";
      return {
        taskId,
        expected,
        actual,
        message: `Non-deterministic orchestration: the history recorded ${expected} at task id ${taskId}, but ${what}. The orchestrator's code changed while this instance was in flight.`,
      };
    }
    if (action.retryOptions)
      retryTasks.set(taskId, { attempt: 1, maxAttempts: action.retryOptions.maxNumberOfAttempts });
    if (kind === "timer" && action.fireAt !== undefined) {
      const finalAt = new Date(action.fireAt).getTime();
      if (finalAt - episodeAt > maximumShortTimerMs && Date.parse(e.FireAt ?? "") < finalAt)
        longTimers.set(taskId, finalAt);
    }
  }
  return undefined;
}
