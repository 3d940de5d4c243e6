/**
 * The agent's `agentDeployment` orchestration: one instance per deployment attempt, instance id
 * `agent:<deploymentId>:<attempt>`, so a Deploy delivered twice (a redelivery, a resend, another agent
 * instance, a restart) finds its instance and runs nothing. It plans the Deploy, then runs the deployer
 * one step per activity, honouring a `cancel` event between steps and the command's deadline, and reports
 * every status through an idempotent, retried activity with a sequence decided here (so a replayed or
 * retried send carries the same message id, `<id>:<attempt>:s<sequence>`).
 *
 * Deterministic: time is `currentUtcDateTime`, all I/O is in activities (called by their typed
 * definitions, lib/durable/activities.ts). A task is yielded inside at most one Task.any
 * (docs/durable-engine.md, "Yield each task once"); the `cancel` event comes through an EventInbox
 * (lib/durable/events.ts).
 */
import { RetryOptions, type OrchestrationContext, type Task } from "durable-functions";
import { activity, call, resultOf, schedule } from "../../lib/durable/activities";
import { EventInbox, type Received } from "../../lib/durable/events";
import { createLogger, type Logger, type LogProps } from "../../lib/logging/logger";
import type { Command, Status, StatusState } from "../../lib/messaging/contracts";
import type { Plan, StepResult } from "./deployer";
import { agentStatus } from "./status";

export const AGENT_ORCHESTRATION = "agentDeployment";
export const AGENT_EVENTS = { cancel: "cancel" } as const;

export function agentInstanceId(deploymentId: string, attempt: number): string {
  return `agent:${deploymentId}:${attempt}`;
}

/** A Deploy; or a Cancel that arrived before its Deploy, which ends the attempt before it starts. */
export interface AgentInput {
  command: Command;
}

export interface CancelEvent {
  reason?: string;
}

/** What each of the agent orchestration's events carries. */
export interface AgentEventPayloads {
  cancel: CancelEvent | undefined;
}

export interface PlanInput {
  command: Command;
  instanceId: string;
}

export interface StepInput extends PlanInput {
  step: number;
  steps: number;
}

export const AGENT_ACTIVITIES = {
  plan: activity<PlanInput, Plan>("agentPlan"),
  step: activity<StepInput, StepResult>("agentStep"),
  sendStatus: activity<Status, void>("agentSendStatus"),
} as const;

export type AgentOutcome =
  | "Succeeded"
  | "Failed"
  | "Cancelled"
  | "Rejected"
  /**
   * The deployer chose to answer nothing (demo `ignore`), or nothing after Accepted (demo `stall`), and no
   * Cancel came before the deadline.
   */
  | "Silent"
  /** The deadline had passed before the deployment began: nobody waits for it any more. */
  | "Expired";

export interface AgentResult {
  outcome: AgentOutcome;
  message?: string;
  /** Steps the deployer completed. */
  steps: number;
  /** The last status sequence used. */
  sequence: number;
  /** Statuses that could not be sent within their retries. */
  undelivered: number;
}

export interface AgentCustomStatus {
  phase: "Planning" | "Running" | "Completed";
  step?: number;
  steps?: number;
  sequence: number;
  cancelRequested?: boolean;
  outcome?: AgentOutcome;
}

/**
 * Status sends retry with backoff (about 23 minutes over 50 attempts), so a broker outage delays reports
 * instead of losing them. Bounded by attempts only, never by `retryTimeoutInMilliseconds`: when a retry
 * timeout elapses, DTFx stops retrying without the retry timer the SDK waits for, and the instance hangs
 * forever (azure-functions-durable-js#629; docs/durable-engine.md, conformance). A report that arrives after
 * the Provider concluded changes nothing (the ledger ignores post-terminal reports).
 *
 * Replay-safe for instances in flight: the attempts, backoff and timers are what they were for every send
 * that had not reached the old retry timeout; one that had is hung, and on this code its next replay
 * schedules the retry timer it was missing.
 */
const STATUS_RETRY: RetryOptions = Object.assign(new RetryOptions(1000, 50), {
  backoffCoefficient: 2,
  maxRetryIntervalInMilliseconds: 30_000,
});

/** Logs only on the episode that does the work, never again on each replay. */
function replaySafeLogger(context: OrchestrationContext, bound: LogProps): Logger {
  return createLogger((level, entry) => {
    if (!context.df.isReplaying) context[level](JSON.stringify(entry));
  }, bound);
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function* agentOrchestrator(context: OrchestrationContext): Generator<Task, AgentResult, unknown> {
  const df = context.df;
  const { command } = df.getInput() as AgentInput;
  const instanceId = df.instanceId;
  const log = replaySafeLogger(context, {
    deploymentId: command.deploymentId,
    attempt: command.attempt,
    tenant: command.tenant,
    instanceId,
  });
  const deadline = command.deadline ? Date.parse(command.deadline) : undefined;
  const custom: AgentCustomStatus = { phase: "Planning", sequence: 0 };
  let sequence = 0;
  let undelivered = 0;
  let done = 0;

  const update = (changes: Partial<AgentCustomStatus>) => {
    Object.assign(custom, changes, { sequence });
    df.setCustomStatus(custom);
  };
  const sendStatus = (state: StatusState, progress: number, message?: string, detail?: unknown): Task => {
    sequence += 1;
    const now = df.currentUtcDateTime;
    const status = agentStatus(command, {
      state,
      progress,
      sequence,
      reportedAt: now.toISOString(),
      message,
      detail,
    });
    return schedule(df, AGENT_ACTIVITIES.sendStatus, status, STATUS_RETRY);
  };
  // A status that could not be sent through all its retries does not stop the deployment: the Provider
  // ignores gaps in the sequence, and its own deadline decides whether a missing report matters.
  const settle = function* (send: Task): Generator<Task, void, unknown> {
    try {
      yield send;
    } catch (error) {
      undelivered += 1;
      log.error("status not delivered", { sequence, error: errorText(error) });
    }
  };
  const finish = function* (
    outcome: AgentOutcome,
    report?: { state: StatusState; progress: number; message: string; detail?: unknown },
  ): Generator<Task, AgentResult, unknown> {
    if (report) yield* settle(sendStatus(report.state, report.progress, report.message, report.detail));
    update({ phase: "Completed", outcome });
    log.info("deployment finished", { outcome, steps: done, sequence, undelivered });
    return { outcome, ...(report ? { message: report.message } : {}), steps: done, sequence, undelivered };
  };

  if (command.type === "Cancel") {
    // The Cancel overtook its Deploy: this instance now stands for the attempt, so the Deploy finds it
    // and runs nothing. The Cancelled report lets a Provider waiting for the acknowledgement conclude.
    const message = `cancelled before it started${command.reason ? ` (${command.reason})` : ""}`;
    log.info("cancel arrived before its deploy", {});
    return yield* finish("Cancelled", { state: "Cancelled", progress: 0, message });
  }
  if (deadline !== undefined && df.currentUtcDateTime.getTime() >= deadline) {
    log.warn("deadline passed before the deployment began", { deadline: command.deadline });
    return yield* finish("Expired");
  }
  update({});

  let plan: Plan;
  try {
    plan = yield* call(df, AGENT_ACTIVITIES.plan, { command, instanceId });
  } catch (error) {
    return yield* finish("Failed", { state: "Failed", progress: 0, message: errorText(error) });
  }
  if (plan.kind === "reject")
    return yield* finish("Rejected", { state: "Rejected", progress: 0, message: plan.message });
  // The Cancel, through an inbox (each wait yielded once, none lost while something else is awaited).
  // The reason reported is the latest Cancel's: of several taken at once, the first (see EventInbox).
  const inbox = new EventInbox<AgentEventPayloads>(df, [AGENT_EVENTS.cancel]);
  let latestCancel: CancelEvent | undefined;
  const heard = (events: Received<AgentEventPayloads>[]) => {
    if (events.length > 0) latestCancel = events[0]!.value;
  };
  const because = () => {
    heard(inbox.take());
    const reason = latestCancel?.reason;
    return reason ? ` (${reason})` : "";
  };
  if (plan.kind === "silent") {
    if (plan.afterAccept) yield* settle(sendStatus("Accepted", 0, plan.message ?? "accepted"));
    // Silent, yet in flight until the deadline: a Cancel (the user's, or the Provider's after its
    // timeout) is still acknowledged, as for any deployment that has not ended.
    // Each timer reaches at most MAX_TIMER_MS ahead (timerStop): a longer one is split by the SDK and
    // hangs the instance once cancelled. A deadline within that reach yields the one timer it always did.
    // The wait ends by the clock, not by which timer fired: a 0.1.0 instance's recorded long-timer
    // pieces each complete one of its timers (see MAX_TIMER_MS).
    const received = yield* inbox.next(deadline !== undefined ? new Date(deadline) : undefined);
    if (received.length === 0) return yield* finish("Silent");
    heard(received);
    log.info("cancel honoured", { silent: true });
    return yield* finish("Cancelled", { state: "Cancelled", progress: 0, message: `cancelled${because()}` });
  }

  const steps = plan.steps;
  const share = (step: number) => Math.round((step / steps) * 100);
  const cancelled = (step: number) => {
    log.info("cancel honoured", { beforeStep: step });
    return finish("Cancelled", {
      state: "Cancelled",
      progress: share(step - 1),
      message: `cancelled before step ${step}${because()}`,
    });
  };

  let report = sendStatus("Accepted", 0, plan.message ?? "accepted");
  for (let step = 1; step <= steps; step++) {
    // A cancel that arrives while the previous report is sent stops the deployment before this step.
    const cancelledMeanwhile = yield* inbox.before(report);
    yield* settle(report);
    if (cancelledMeanwhile) {
      update({ cancelRequested: true });
      return yield* cancelled(step);
    }
    if (deadline !== undefined && df.currentUtcDateTime.getTime() >= deadline)
      return yield* finish("Cancelled", {
        state: "Cancelled",
        progress: share(step - 1),
        message: `the deadline ${command.deadline} passed before step ${step}`,
      });
    update({ phase: "Running", step, steps });
    const work = schedule(df, AGENT_ACTIVITIES.step, { command, instanceId, step, steps });
    // A running step is never abandoned: a cancel that arrives meanwhile is honoured once it ends.
    const cancelledDuringStep = yield* inbox.before(work);
    if (cancelledDuringStep) update({ cancelRequested: true });
    let result: StepResult;
    try {
      result = yield* resultOf(work);
    } catch (error) {
      return yield* finish("Failed", {
        state: "Failed",
        progress: share(step - 1),
        message: `step ${step} of ${steps} failed: ${errorText(error)}`,
      });
    }
    done = step;
    if (result.kind === "failed")
      return yield* finish("Failed", {
        state: "Failed",
        progress: result.progress ?? share(step),
        message: result.message,
        detail: result.detail,
      });
    if (result.kind === "succeeded" || step === steps)
      return yield* finish("Succeeded", {
        state: "Succeeded",
        progress: 100,
        message: (result.kind === "succeeded" ? result.message : undefined) ?? `all ${steps} steps done`,
        detail: result.detail,
      });
    if (cancelledDuringStep) return yield* cancelled(step + 1);
    report = sendStatus(
      "InProgress",
      result.progress ?? share(step),
      result.message ?? `step ${step} of ${steps}`,
      result.detail,
    );
  }
  // A plan without steps: accepted, and nothing left to do.
  yield* settle(report);
  return yield* finish("Succeeded", { state: "Succeeded", progress: 100, message: "nothing to do" });
}
