/**
 * The agent's `agentDeployment` orchestration: one instance per deployment attempt, instance id
 * `agent:<deploymentId>:<attempt>`, so a Deploy delivered twice (a redelivery, a resend, another agent
 * instance, a restart) finds its instance and runs nothing. It plans the Deploy, then runs the deployer
 * one step per activity, honouring a `cancel` event between steps and the command's deadline, and reports
 * every status through an idempotent, retried activity with a sequence decided here (so a replayed or
 * retried send carries the same message id, `<id>:<attempt>:s<sequence>`).
 *
 * The orchestrator reads as that flow: each phase is a named generator below (delegated to with `yield*`,
 * adding no yield of its own), sharing one execution's state (`AgentRun`).
 *
 * Deterministic: time is `currentUtcDateTime`, all I/O is in activities (called by their typed
 * definitions, lib/durable/activities.ts). A task is yielded inside at most one Task.any
 * (docs/durable-engine.md, "Yield each task once"); the `cancel` event comes through an EventInbox
 * (lib/durable/events.ts).
 */
import { RetryOptions, type OrchestrationContext, type Task } from "durable-functions";
import {
  activity,
  call,
  resultOf,
  schedule,
  type DurableApi,
  type TypedTask,
} from "../../lib/durable/activities";
import { EventInbox, type Received } from "../../lib/durable/events";
import { createLogger, type Logger, type LogProps } from "../../lib/logging/logger";
import { sinceVersion } from "../../lib/durable/version";
import {
  type Command,
  type HealthCheck,
  healthCheckOf,
  probeCount,
  type Status,
  type StatusState,
} from "../../lib/messaging/contracts";
import type { Plan, ProbeResult, StepResult } from "./deployer";
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
interface AgentEventPayloads {
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

export interface ProbeInput extends PlanInput {
  check: HealthCheck;
  /** 1-based. */
  probe: number;
  probes: number;
  /** The window's end (ISO 8601): the probe should answer by then. */
  deadline: string;
}

export const AGENT_ACTIVITIES = {
  plan: activity<PlanInput, Plan>("agentPlan"),
  step: activity<StepInput, StepResult>("agentStep"),
  probe: activity<ProbeInput, ProbeResult>("agentProbe"),
  sendStatus: activity<Status, void>("agentSendStatus"),
} as const;

type AgentOutcome =
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
  /** The health verdict reported after success (the command's spec carried a health check). */
  health?: "Healthy" | "Unhealthy";
}

interface AgentCustomStatus {
  phase: "Planning" | "Running" | "Probing" | "Completed";
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
  const run = startRun(context, command);

  if (command.type === "Cancel") {
    // The Cancel overtook its Deploy: this instance now stands for the attempt, so the Deploy finds it
    // and runs nothing. The Cancelled report lets a Provider waiting for the acknowledgement conclude.
    const message = `cancelled before it started${command.reason ? ` (${command.reason})` : ""}`;
    run.log.info("cancel arrived before its deploy", {});
    return yield* finish(run, "Cancelled", { state: "Cancelled", progress: 0, message });
  }
  if (run.deadline !== undefined && df.currentUtcDateTime.getTime() >= run.deadline) {
    run.log.warn("deadline passed before the deployment began", { deadline: command.deadline });
    return yield* finish(run, "Expired");
  }
  update(run, {});

  // Plan the Deploy, then run it step by step, or stay silent as the plan says.
  let plan: Plan;
  try {
    plan = yield* call(df, AGENT_ACTIVITIES.plan, { command, instanceId: run.instanceId });
  } catch (error) {
    return yield* finish(run, "Failed", { state: "Failed", progress: 0, message: errorText(error) });
  }
  if (plan.kind === "reject")
    return yield* finish(run, "Rejected", { state: "Rejected", progress: 0, message: plan.message });
  if (plan.kind === "silent") return yield* staySilent(run, plan);
  const result = yield* runSteps(run, plan);
  return yield* watchHealth(run, result);
}

/** One execution of the orchestration: what its phases share. */
interface AgentRun {
  df: DurableApi;
  command: Command;
  instanceId: string;
  log: Logger;
  /** The command's deadline (epoch ms), if it has one. */
  deadline?: number;
  custom: AgentCustomStatus;
  /** The last status sequence used. */
  sequence: number;
  undelivered: number;
  /** Steps the deployer completed. */
  done: number;
  /** The Cancel, through an inbox (each wait yielded once, none lost while something else is awaited). */
  inbox: EventInbox<AgentEventPayloads>;
  /** The latest Cancel taken from the inbox. */
  latestCancel?: CancelEvent;
}

function startRun(context: OrchestrationContext, command: Command): AgentRun {
  const df = context.df;
  return {
    df,
    command,
    instanceId: df.instanceId,
    log: replaySafeLogger(context, {
      deploymentId: command.deploymentId,
      attempt: command.attempt,
      tenant: command.tenant,
      instanceId: df.instanceId,
    }),
    ...(command.deadline ? { deadline: Date.parse(command.deadline) } : {}),
    custom: { phase: "Planning", sequence: 0 },
    sequence: 0,
    undelivered: 0,
    done: 0,
    inbox: new EventInbox(df, [AGENT_EVENTS.cancel]),
  };
}

/**
 * A silent plan: nothing more is reported (but Accepted when the plan says so), yet the attempt is in
 * flight until the deadline: a Cancel (the user's, or the Provider's after its timeout) is still
 * acknowledged, as for any deployment that has not ended. The wait ends by the clock, not by which timer
 * fired: a 0.1.0 instance's recorded long-timer pieces each complete one of its timers (MAX_TIMER_MS).
 */
function* staySilent(
  run: AgentRun,
  plan: Extract<Plan, { kind: "silent" }>,
): Generator<Task, AgentResult, unknown> {
  if (plan.afterAccept) yield* settle(run, sendStatus(run, "Accepted", 0, plan.message ?? "accepted"));
  const received = yield* run.inbox.next(run.deadline !== undefined ? new Date(run.deadline) : undefined);
  if (received.length === 0) return yield* finish(run, "Silent");
  heard(run, received);
  run.log.info("cancel honoured", { silent: true });
  return yield* finish(run, "Cancelled", {
    state: "Cancelled",
    progress: 0,
    message: `cancelled${because(run)}`,
  });
}

/**
 * A plan of steps: Accepted, then each step as its own activity, InProgress after each, until the
 * deployer ends it, the last step is done, a Cancel is honoured between steps or the deadline passes.
 */
function* runSteps(
  run: AgentRun,
  plan: Extract<Plan, { kind: "run" }>,
): Generator<Task, AgentResult, unknown> {
  const { df, command } = run;
  const steps = plan.steps;
  let report = sendStatus(run, "Accepted", 0, plan.message ?? "accepted");
  for (let step = 1; step <= steps; step++) {
    // A cancel that arrives while the previous report is sent stops the deployment before this step.
    const cancelledMeanwhile = yield* run.inbox.before(report);
    yield* settle(run, report);
    if (cancelledMeanwhile) {
      update(run, { cancelRequested: true });
      return yield* cancelled(run, step, steps);
    }
    if (run.deadline !== undefined && df.currentUtcDateTime.getTime() >= run.deadline)
      return yield* finish(run, "Cancelled", {
        state: "Cancelled",
        progress: share(step - 1, steps),
        message: `the deadline ${command.deadline} passed before step ${step}`,
      });
    update(run, { phase: "Running", step, steps });
    const next = yield* runStep(run, step, steps);
    if ("ended" in next) return next.ended;
    report = next.report;
  }
  // A plan without steps: accepted, and nothing left to do.
  yield* settle(run, report);
  return yield* finish(run, "Succeeded", { state: "Succeeded", progress: 100, message: "nothing to do" });
}

/**
 * One deployer step, never abandoned: a Cancel that arrives meanwhile is honoured once it ends. Answers
 * the attempt's result when the step ended it, else the InProgress report it sends.
 */
function* runStep(
  run: AgentRun,
  step: number,
  steps: number,
): Generator<Task, { ended: AgentResult } | { report: TypedTask<void> }, unknown> {
  const work = schedule(run.df, AGENT_ACTIVITIES.step, {
    command: run.command,
    instanceId: run.instanceId,
    step,
    steps,
  });
  const cancelledDuringStep = yield* run.inbox.before(work);
  if (cancelledDuringStep) update(run, { cancelRequested: true });
  let result: StepResult;
  try {
    result = yield* resultOf(work);
  } catch (error) {
    const message = `step ${step} of ${steps} failed: ${errorText(error)}`;
    return {
      ended: yield* finish(run, "Failed", { state: "Failed", progress: share(step - 1, steps), message }),
    };
  }
  run.done = step;
  if (result.kind === "failed")
    return {
      ended: yield* finish(run, "Failed", {
        state: "Failed",
        progress: result.progress ?? share(step, steps),
        message: result.message,
        detail: result.detail,
      }),
    };
  if (result.kind === "succeeded" || step === steps)
    return {
      ended: yield* finish(run, "Succeeded", {
        state: "Succeeded",
        progress: 100,
        message: (result.kind === "succeeded" ? result.message : undefined) ?? `all ${steps} steps done`,
        detail: result.detail,
      }),
    };
  if (cancelledDuringStep) return { ended: yield* cancelled(run, step + 1, steps) };
  const message = result.message ?? `step ${step} of ${steps}`;
  return {
    report: sendStatus(run, "InProgress", result.progress ?? share(step, steps), message, result.detail),
  };
}

/**
 * After a success, when the command's spec carries a health check this agent reads (version 1): probe
 * every intervalSeconds, each probe its own activity after a durable timer, until windowSeconds have
 * passed by the clock (a slow probe shortens the window's count, never lengthens it: the Provider waits
 * only the window and a grace); report Unhealthy at the first failed probe (a probe that could not run
 * at all counts as failed), else Healthy after the last (a signed status, docs/messages.md "Health
 * reports"). A Cancel now changes nothing: the deployment has ended. Only instances started by 0.5.0 or
 * later probe; older ones replay as they ran (they ended with the success).
 */
function* watchHealth(run: AgentRun, result: AgentResult): Generator<Task, AgentResult, unknown> {
  const { df } = run;
  const check = healthCheckOf(run.command.spec);
  if (result.outcome !== "Succeeded" || !check || !sinceVersion(df.version, "0.5.0")) return result;
  const probes = probeCount(check);
  const started = df.currentUtcDateTime.getTime();
  const end = started + check.windowSeconds * 1000;
  update(run, { phase: "Probing" });
  let verdict: ProbeResult = { healthy: true };
  let probe = 0;
  while (verdict.healthy && probe < probes && df.currentUtcDateTime.getTime() < end) {
    probe++;
    const at = Math.max(started + probe * check.intervalSeconds * 1000, df.currentUtcDateTime.getTime());
    yield df.createTimer(new Date(Math.min(at, end)));
    verdict = yield* probeOnce(run, check, probe, probes, new Date(end).toISOString());
  }
  const state = verdict.healthy ? "Healthy" : "Unhealthy";
  const message = verdict.message ?? (verdict.healthy ? `${probe} probes passed` : "a probe failed");
  yield* settle(run, sendStatus(run, state, 100, message));
  update(run, { phase: "Completed" });
  run.log.info("health reported", { health: state, probes: probe });
  return { ...result, sequence: run.sequence, undelivered: run.undelivered, health: state };
}

/** One probe; an activity that could not run at all (a host timeout, a crash loop) is a failed probe. */
function* probeOnce(
  run: AgentRun,
  check: HealthCheck,
  probe: number,
  probes: number,
  deadline: string,
): Generator<Task, ProbeResult, unknown> {
  const input = { command: run.command, instanceId: run.instanceId, check, probe, probes, deadline };
  try {
    return yield* call(run.df, AGENT_ACTIVITIES.probe, input);
  } catch (error) {
    return { healthy: false, message: `probe ${probe} could not run: ${errorText(error)}` };
  }
}

/** The attempt's progress after `step` of `steps`, in percent. */
const share = (step: number, steps: number) => Math.round((step / steps) * 100);

function update(run: AgentRun, changes: Partial<AgentCustomStatus>): void {
  Object.assign(run.custom, changes, { sequence: run.sequence });
  run.df.setCustomStatus(run.custom);
}

/** Schedules the next status report (its sequence decided here, so a replayed send carries the same id). */
function sendStatus(
  run: AgentRun,
  state: StatusState,
  progress: number,
  message?: string,
  detail?: unknown,
): TypedTask<void> {
  run.sequence += 1;
  const now = run.df.currentUtcDateTime;
  const status = agentStatus(run.command, {
    state,
    progress,
    sequence: run.sequence,
    reportedAt: now.toISOString(),
    message,
    detail,
  });
  return schedule(run.df, AGENT_ACTIVITIES.sendStatus, status, STATUS_RETRY);
}

/**
 * Awaits a status report. One that could not be sent through all its retries does not stop the
 * deployment: the Provider ignores gaps in the sequence, and its own deadline decides whether a missing
 * report matters.
 */
function* settle(run: AgentRun, send: Task): Generator<Task, void, unknown> {
  try {
    yield send;
  } catch (error) {
    run.undelivered += 1;
    run.log.error("status not delivered", { sequence: run.sequence, error: errorText(error) });
  }
}

function* finish(
  run: AgentRun,
  outcome: AgentOutcome,
  report?: { state: StatusState; progress: number; message: string; detail?: unknown },
): Generator<Task, AgentResult, unknown> {
  if (report)
    yield* settle(run, sendStatus(run, report.state, report.progress, report.message, report.detail));
  update(run, { phase: "Completed", outcome });
  const { done, sequence, undelivered } = run;
  run.log.info("deployment finished", { outcome, steps: done, sequence, undelivered });
  return { outcome, ...(report ? { message: report.message } : {}), steps: done, sequence, undelivered };
}

/** Ends the attempt Cancelled before `step` (the Cancel was heard). */
function cancelled(run: AgentRun, step: number, steps: number): Generator<Task, AgentResult, unknown> {
  run.log.info("cancel honoured", { beforeStep: step });
  return finish(run, "Cancelled", {
    state: "Cancelled",
    progress: share(step - 1, steps),
    message: `cancelled before step ${step}${because(run)}`,
  });
}

/** Keeps the latest of the Cancels taken: of several taken at once, the first (see EventInbox). */
function heard(run: AgentRun, events: Received<AgentEventPayloads>[]): void {
  if (events.length > 0) run.latestCancel = events[0]!.value;
}

/** The latest Cancel's reason, for a report: " (reason)", or nothing. */
function because(run: AgentRun): string {
  heard(run, run.inbox.take());
  const reason = run.latestCancel?.reason;
  return reason ? ` (${reason})` : "";
}
