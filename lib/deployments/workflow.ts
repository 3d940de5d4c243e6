/**
 * The deployment workflow's orchestrations, as deterministic generator functions (registered by
 * `orchestrators/*.ts`). All I/O is in activities; time comes from `context.df.currentUtcDateTime`.
 *
 * deployment: send Deploy → ensure the tenant's status pump → wait for statuses with an acceptance and
 * a completion deadline, re-ensuring the pump periodically → outcome. A `cancel` event sends Cancel and
 * waits a grace period for the agent's Cancelled. statusPump: one batch per execution, then
 * continueAsNew; it stops when the tenant has nothing in flight. The two never share an orchestrator,
 * so `Task.any` and `continueAsNew` are never combined (an upstream SDK issue).
 */
import { RetryOptions, type OrchestrationContext, type Task } from "durable-functions";
import type { Command, Status, StatusState } from "../messaging/contracts";
import type { Outcome } from "./model";

export const ACTIVITIES = {
  beginAttempt: "beginAttempt",
  sendCommand: "sendCommand",
  ensureStatusPump: "ensureStatusPump",
  pumpStatuses: "pumpStatuses",
  completeDeployment: "completeDeployment",
} as const;

export const ORCHESTRATIONS = {
  deployment: "deployment",
  statusPump: "statusPump",
  verify: "verifyTenant",
} as const;
export const EVENTS = { status: "status", cancel: "cancel", pong: "pong" } as const;

export function verifyInstanceId(tenant: string, pingId: string): string {
  return `verify:${tenant}:${pingId}`;
}

export function statusPumpInstanceId(tenant: string): string {
  return `statusPump:${tenant}`;
}

export interface DeploymentInput {
  tenant: string;
  id: string;
  attempt: number;
  spec: Record<string, unknown>;
  requestedAt: string;
  acceptanceTimeoutSeconds: number;
  completionTimeoutSeconds: number;
  pumpReensureSeconds: number;
  cancelGraceSeconds: number;
  /** Absent in inputs of instances started before these settings existed. */
  commandSendAttempts?: number;
  commandRetrySeconds?: number;
}

export interface DeploymentCustomStatus {
  phase: string;
  progress: number;
  attempt?: number;
  message?: string;
  sequence?: number;
}

export interface DeploymentResult {
  outcome: Outcome;
  message?: string;
  /** The attempt this execution ran (a Durable restart runs a new attempt of the same deployment). */
  attempt?: number;
}

/** What `beginAttempt` answers: the attempt this execution runs, or why it cannot run one. */
export type AttemptClaim = { attempt: number; restartOf?: number } | { error: string };

/** What `sendCommand` answers; it never throws, so a foreseeable send failure is never a failed orchestration. */
export type SendResult = { messageId: string } | { error: string; retryable: boolean };

/** What `completeDeployment` answers: the outcome the ledger holds (the first one written wins). */
export type RecordedOutcome = { outcome: Outcome; message?: string };

/** Agent states that end a deployment, and the outcome each means. */
export const TERMINAL_STATES: Partial<Record<StatusState, Outcome>> = {
  Succeeded: "Succeeded",
  Failed: "Failed",
  Cancelled: "Cancelled",
  Rejected: "Rejected",
};

const MAX_SEND_BACKOFF_MS = 60_000;

/**
 * The ledger activities ride out a Table Storage hiccup (about a minute and a half in all) instead of
 * failing the orchestration; if storage stays away longer the instance fails and reconciliation records it.
 */
const LEDGER_RETRY: RetryOptions = Object.assign(new RetryOptions(1000, 8), {
  backoffCoefficient: 2,
  maxRetryIntervalInMilliseconds: 30_000,
});

function command(
  input: DeploymentInput,
  attempt: number,
  type: Command["type"],
  now: Date,
  deadline: Date,
  reason?: string,
): Command {
  return {
    schemaVersion: 1,
    type,
    deploymentId: input.id,
    attempt,
    tenant: input.tenant,
    ...(type === "Deploy" ? { spec: input.spec } : {}),
    requestedAt: now.toISOString(),
    deadline: deadline.toISOString(),
    ...(reason ? { reason } : {}),
  };
}

/**
 * A wait for the next status, a cancel, or `until`. Every wait makes a FRESH timer: a timer task that was
 * already yielded must never go into another Task.any. The Durable extension replays each action the SDK
 * returns by calling CreateTimer again, so a re-yielded timer becomes a second timer with a new task id,
 * the host's task numbering drifts from the SDK's, and the orchestration never completes (this was the
 * cancel hang; docs/durable-engine.md, "Yield each task once"). Event waits may be abandoned: the SDK and
 * the extension both hand an event to the newest wait of its name.
 */
function* waitUntil(
  df: OrchestrationContext["df"],
  events: Task[],
  until: Date,
): Generator<Task, Task, unknown> {
  const timer = df.createTimer(until);
  const winner = (yield df.Task.any([...events, timer])) as Task;
  if (winner !== timer) timer.cancel();
  return winner;
}

export function* deploymentOrchestrator(
  context: OrchestrationContext,
): Generator<Task, DeploymentResult, unknown> {
  const df = context.df;
  const input = df.getInput() as DeploymentInput;
  const started = df.currentUtcDateTime;
  const acceptanceDeadline = new Date(started.getTime() + input.acceptanceTimeoutSeconds * 1000);
  const completionDeadline = new Date(started.getTime() + input.completionTimeoutSeconds * 1000);
  const status: DeploymentCustomStatus = { phase: "Requested", progress: 0 };
  df.setCustomStatus(status);

  // 1. Claim the attempt in the ledger. A Durable restart of this instance runs with the same input but
  //    is a new attempt (its own record, messages and outcome), exactly like POST .../retry.
  const claim = (yield df.callActivityWithRetry(ACTIVITIES.beginAttempt, LEDGER_RETRY, {
    tenant: input.tenant,
    id: input.id,
    attempt: input.attempt,
    instanceId: df.instanceId,
    executionKey: `${df.instanceId}@${started.toISOString()}`,
    spec: input.spec,
  })) as AttemptClaim;
  if ("error" in claim) {
    status.phase = "Completed";
    df.setCustomStatus({ ...status, outcome: "Failed", message: claim.error });
    return { outcome: "Failed", message: claim.error, attempt: input.attempt };
  }
  const attempt = claim.attempt;
  status.attempt = attempt;

  // The outcome is decided here and written once; what the ledger then holds is what this returns.
  const finish = function* (outcome: Outcome, message?: string): Generator<Task, DeploymentResult, unknown> {
    const recorded = (yield df.callActivityWithRetry(ACTIVITIES.completeDeployment, LEDGER_RETRY, {
      tenant: input.tenant,
      id: input.id,
      attempt,
      outcome,
      message,
    })) as RecordedOutcome;
    df.setCustomStatus({
      ...status,
      phase: "Completed",
      outcome: recorded.outcome,
      ...(recorded.message !== undefined ? { message: recorded.message } : {}),
    });
    return { ...recorded, attempt };
  };
  const send = (type: Command["type"], reason?: string) =>
    df.callActivity(ACTIVITIES.sendCommand, {
      tenant: input.tenant,
      command: command(input, attempt, type, df.currentUtcDateTime, completionDeadline, reason),
    });

  // 2. Send Deploy; transient failures are retried with backoff (on durable timers) until the attempts or
  //    the completion deadline run out, then the deployment ends Failed with the cause.
  const attempts = input.commandSendAttempts ?? 5;
  let backoffMs = (input.commandRetrySeconds ?? 2) * 1000;
  for (let i = 1; ; i++) {
    const sent = (yield send("Deploy")) as SendResult;
    if (!("error" in sent)) break;
    const retryAt = new Date(df.currentUtcDateTime.getTime() + backoffMs);
    if (!sent.retryable || i >= attempts || retryAt >= completionDeadline)
      return yield* finish(
        "Failed",
        `The Deploy command could not be delivered after ${i} attempt(s): ${sent.error}`,
      );
    status.message = `Deploy not delivered (attempt ${i} of ${attempts}): ${sent.error}; retrying`;
    df.setCustomStatus(status);
    yield df.createTimer(retryAt);
    backoffMs = Math.min(backoffMs * 2, MAX_SEND_BACKOFF_MS);
  }
  status.phase = "Sent";
  delete status.message;
  df.setCustomStatus(status);
  yield df.callActivity(ACTIVITIES.ensureStatusPump, input.tenant);

  // 3. Wait for the agent's statuses, a cancel, or a deadline; re-ensure the pump on the way.
  let accepted = false;
  let lastSequence = -1;
  // An event task lives until it completes: a fresh wait while the old one is pending would split events.
  let statusEvent = df.waitForExternalEvent(EVENTS.status);
  const cancelEvent = df.waitForExternalEvent(EVENTS.cancel);
  for (;;) {
    const deadline = accepted ? completionDeadline : acceptanceDeadline;
    const now = df.currentUtcDateTime;
    if (now >= deadline) {
      yield send("Cancel", accepted ? "completion timeout" : "acceptance timeout");
      return yield* finish(
        "TimedOut",
        accepted
          ? "The deployment did not complete in time."
          : "The agent did not accept the deployment in time (agent offline?).",
      );
    }
    const wake = new Date(Math.min(deadline.getTime(), now.getTime() + input.pumpReensureSeconds * 1000));
    const winner = yield* waitUntil(df, [statusEvent, cancelEvent], wake);
    if (winner === cancelEvent) {
      // 4. Cancel: tell the agent, then wait a grace period for its acknowledgement.
      const reason = (cancelEvent.result as { reason?: string } | undefined)?.reason ?? "cancelled by user";
      yield send("Cancel", reason);
      status.message = "Cancel requested";
      df.setCustomStatus(status);
      const graceEnd = new Date(df.currentUtcDateTime.getTime() + input.cancelGraceSeconds * 1000);
      for (;;) {
        const next = yield* waitUntil(df, [statusEvent], graceEnd);
        if (next !== statusEvent)
          return yield* finish(
            "Cancelled",
            `${reason} (the agent did not acknowledge within the grace period)`,
          );
        const s = statusEvent.result as Status;
        statusEvent = df.waitForExternalEvent(EVENTS.status);
        const outcome = s.attempt === attempt ? TERMINAL_STATES[s.state] : undefined;
        if (outcome) return yield* finish(outcome, s.message ?? reason);
      }
    }
    if (winner !== statusEvent) {
      if (df.currentUtcDateTime < deadline) yield df.callActivity(ACTIVITIES.ensureStatusPump, input.tenant);
      continue;
    }
    const s = statusEvent.result as Status;
    statusEvent = df.waitForExternalEvent(EVENTS.status);
    // Another attempt's, a duplicate or out of order: terminal states are final anyway.
    if (s.attempt !== attempt || s.sequence <= lastSequence) continue;
    lastSequence = s.sequence;
    if (s.state === "Accepted" || s.state === "InProgress") accepted = true;
    status.phase =
      s.state === "Accepted" ? "Accepted" : s.state === "InProgress" ? "InProgress" : status.phase;
    status.progress = Math.max(status.progress, s.progress);
    status.sequence = s.sequence;
    if (s.message !== undefined) status.message = s.message;
    df.setCustomStatus(status);
    const outcome = TERMINAL_STATES[s.state];
    if (outcome) return yield* finish(outcome, s.message);
  }
}

export interface PumpInput {
  tenant: string;
  /** Consecutive failed cycles so far (the backoff grows with it); absent after a good cycle. */
  failures?: number;
}

export interface PumpResult {
  received: number;
  /** Deployments in flight; only counted when nothing was received (a busy pump goes on regardless). */
  active?: number;
}

/** The pump's retry policy for its own failures (a broker outage, a storage hiccup, a token error). */
export const PUMP_RETRY = { firstMs: 1000, maxMs: 60_000, maxFailures: 12 } as const;

export interface PumpCustomStatus {
  failures: number;
  lastError: string;
  retryAt: string;
}

/**
 * One cycle per execution, then continueAsNew. A failed cycle does not fail the pump: it waits (1 s,
 * doubling up to a minute) and tries again, so a broker outage or a storage hiccup costs at most a minute
 * of status latency after it ends, instead of a dead pump until a waiting deployment re-ensures it. After
 * PUMP_RETRY.maxFailures failures in a row (about eight minutes) it stops; the deployments still waiting
 * re-ensure it, so a tenant with nothing in flight is not retried forever.
 */
export function* statusPumpOrchestrator(
  context: OrchestrationContext,
): Generator<Task, PumpResult | undefined, unknown> {
  const df = context.df;
  const input = df.getInput() as PumpInput;
  let result: PumpResult;
  try {
    result = (yield df.callActivity(ACTIVITIES.pumpStatuses, { tenant: input.tenant })) as PumpResult;
  } catch (error) {
    const failures = (input.failures ?? 0) + 1;
    const lastError = error instanceof Error ? error.message.slice(0, 500) : String(error);
    if (failures >= PUMP_RETRY.maxFailures) {
      df.setCustomStatus({ failures, lastError, retryAt: "" } satisfies PumpCustomStatus);
      return { received: 0 };
    }
    const delayMs = Math.min(PUMP_RETRY.firstMs * 2 ** (failures - 1), PUMP_RETRY.maxMs);
    const retryAt = new Date(df.currentUtcDateTime.getTime() + delayMs);
    df.setCustomStatus({ failures, lastError, retryAt: retryAt.toISOString() } satisfies PumpCustomStatus);
    yield df.createTimer(retryAt);
    df.continueAsNew({ tenant: input.tenant, failures });
    return undefined;
  }
  if (result.active === 0 && result.received === 0) return result; // idle tenant: zero polls from here on
  df.continueAsNew({ tenant: input.tenant });
  return undefined;
}

export interface VerifyInput {
  tenant: string;
  pingId: string;
  timeoutSeconds: number;
  pumpReensureSeconds: number;
}

export interface VerifyStep {
  step: "credential" | "send" | "receive";
  ok: boolean;
  detail?: string;
}

export interface VerifyResult {
  ok: boolean;
  latencyMs?: number;
  steps: VerifyStep[];
}

/** Ping → Pong through both queues, with the round-trip latency or the step that failed. */
export function* verifyOrchestrator(context: OrchestrationContext): Generator<Task, VerifyResult, unknown> {
  const df = context.df;
  const input = df.getInput() as VerifyInput;
  const started = df.currentUtcDateTime;
  const deadline = new Date(started.getTime() + input.timeoutSeconds * 1000);
  const sent = (yield df.callActivity(ACTIVITIES.sendCommand, {
    tenant: input.tenant,
    command: {
      schemaVersion: 1,
      type: "Ping",
      deploymentId: input.pingId,
      attempt: 1,
      tenant: input.tenant,
      requestedAt: started.toISOString(),
      deadline: deadline.toISOString(),
    },
  })) as SendResult;
  if ("error" in sent) return { ok: false, steps: [{ step: "send", ok: false, detail: sent.error }] };
  const steps: VerifyStep[] = [{ step: "send", ok: true }];
  yield df.callActivity(ACTIVITIES.ensureStatusPump, input.tenant);
  const pong = df.waitForExternalEvent(EVENTS.pong);
  for (;;) {
    const now = df.currentUtcDateTime;
    if (now >= deadline) {
      steps.push({
        step: "receive",
        ok: false,
        detail: `no Pong within ${input.timeoutSeconds} s: is the agent running and allowed to send to the status queue?`,
      });
      return { ok: false, steps };
    }
    const wake = new Date(Math.min(deadline.getTime(), now.getTime() + input.pumpReensureSeconds * 1000));
    const winner = yield* waitUntil(df, [pong], wake);
    if (winner === pong) {
      const latencyMs = df.currentUtcDateTime.getTime() - started.getTime();
      steps.push({ step: "receive", ok: true });
      return { ok: true, latencyMs, steps };
    }
    yield df.callActivity(ACTIVITIES.ensureStatusPump, input.tenant);
  }
}
