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
import type { OrchestrationContext, Task } from "durable-functions";
import type { Command } from "../messaging/contracts";
import type { Status } from "../messaging/contracts";
import type { Outcome } from "./model";

export const ACTIVITIES = {
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
}

export interface DeploymentCustomStatus {
  phase: string;
  progress: number;
  message?: string;
  sequence?: number;
}

export interface DeploymentResult {
  outcome: Outcome;
  message?: string;
}

const TERMINAL: Record<string, Outcome> = {
  Succeeded: "Succeeded",
  Failed: "Failed",
  Cancelled: "Cancelled",
  Rejected: "Rejected",
};

function command(
  input: DeploymentInput,
  type: Command["type"],
  now: Date,
  deadline: Date,
  reason?: string,
): Command {
  return {
    schemaVersion: 1,
    type,
    deploymentId: input.id,
    attempt: input.attempt,
    tenant: input.tenant,
    ...(type === "Deploy" ? { spec: input.spec } : {}),
    requestedAt: now.toISOString(),
    deadline: deadline.toISOString(),
    ...(reason ? { reason } : {}),
  };
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

  const finish = function* (outcome: Outcome, message?: string): Generator<Task, DeploymentResult, unknown> {
    yield df.callActivity(ACTIVITIES.completeDeployment, {
      tenant: input.tenant,
      id: input.id,
      attempt: input.attempt,
      outcome,
      message,
    });
    df.setCustomStatus({ ...status, phase: "Completed", outcome, ...(message ? { message } : {}) });
    return { outcome, ...(message ? { message } : {}) };
  };
  const sendCancel = (reason: string) =>
    df.callActivity(ACTIVITIES.sendCommand, {
      tenant: input.tenant,
      command: command(input, "Cancel", df.currentUtcDateTime, completionDeadline, reason),
      bestEffort: true,
    });

  yield df.callActivity(ACTIVITIES.sendCommand, {
    tenant: input.tenant,
    command: command(input, "Deploy", started, completionDeadline),
  });
  status.phase = "Sent";
  df.setCustomStatus(status);
  yield df.callActivity(ACTIVITIES.ensureStatusPump, input.tenant);

  let accepted = false;
  let lastSequence = -1;
  // Event tasks live until they complete: a fresh wait per loop would leave the old one holding the event.
  let statusEvent = df.waitForExternalEvent(EVENTS.status);
  const cancelEvent = df.waitForExternalEvent(EVENTS.cancel);
  for (;;) {
    const deadline = accepted ? completionDeadline : acceptanceDeadline;
    const now = df.currentUtcDateTime;
    if (now >= deadline) {
      yield sendCancel(accepted ? "completion timeout" : "acceptance timeout");
      return yield* finish(
        "TimedOut",
        accepted
          ? "The deployment did not complete in time."
          : "The agent did not accept the deployment in time (agent offline?).",
      );
    }
    const wake = new Date(Math.min(deadline.getTime(), now.getTime() + input.pumpReensureSeconds * 1000));
    const timer = df.createTimer(wake);
    const winner = yield df.Task.any([statusEvent, cancelEvent, timer]);
    if (winner === timer) {
      if (df.currentUtcDateTime < deadline) yield df.callActivity(ACTIVITIES.ensureStatusPump, input.tenant);
      continue;
    }
    timer.cancel();
    if (winner === cancelEvent) {
      const reason = (cancelEvent.result as { reason?: string } | undefined)?.reason ?? "cancelled by user";
      yield sendCancel(reason);
      status.message = "Cancel requested";
      df.setCustomStatus(status);
      const grace = df.createTimer(
        new Date(df.currentUtcDateTime.getTime() + input.cancelGraceSeconds * 1000),
      );
      for (;;) {
        const next = yield df.Task.any([statusEvent, grace]);
        if (next === grace)
          return yield* finish(
            "Cancelled",
            `${reason} (the agent did not acknowledge within the grace period)`,
          );
        const s = statusEvent.result as Status;
        statusEvent = df.waitForExternalEvent(EVENTS.status);
        const outcome = TERMINAL[s.state];
        if (outcome) {
          grace.cancel();
          return yield* finish(outcome, s.message ?? reason);
        }
      }
    }
    const s = statusEvent.result as Status;
    statusEvent = df.waitForExternalEvent(EVENTS.status);
    if (s.sequence <= lastSequence) continue; // duplicate or out of order: terminal states are final anyway
    lastSequence = s.sequence;
    if (s.state === "Accepted" || s.state === "InProgress") accepted = true;
    status.phase =
      s.state === "Accepted" ? "Accepted" : s.state === "InProgress" ? "InProgress" : status.phase;
    status.progress = Math.max(status.progress, s.progress);
    status.sequence = s.sequence;
    if (s.message !== undefined) status.message = s.message;
    df.setCustomStatus(status);
    const outcome = TERMINAL[s.state];
    if (outcome) return yield* finish(outcome, s.message);
  }
}

export interface PumpInput {
  tenant: string;
}

export interface PumpResult {
  received: number;
  /** Deployments in flight; only counted when nothing was received (a busy pump goes on regardless). */
  active?: number;
}

export function* statusPumpOrchestrator(
  context: OrchestrationContext,
): Generator<Task, PumpResult | undefined, unknown> {
  const input = context.df.getInput() as PumpInput;
  const result = (yield context.df.callActivity(ACTIVITIES.pumpStatuses, input)) as PumpResult;
  if (result.active === 0 && result.received === 0) return result; // idle tenant: zero polls from here on
  context.df.continueAsNew(input);
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
    bestEffort: true,
  })) as { error?: string };
  if (sent.error) return { ok: false, steps: [{ step: "send", ok: false, detail: sent.error }] };
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
    const timer = df.createTimer(
      new Date(Math.min(deadline.getTime(), now.getTime() + input.pumpReensureSeconds * 1000)),
    );
    const winner = yield df.Task.any([pong, timer]);
    if (winner === pong) {
      timer.cancel();
      const latencyMs = df.currentUtcDateTime.getTime() - started.getTime();
      steps.push({ step: "receive", ok: true });
      return { ok: true, latencyMs, steps };
    }
    yield df.callActivity(ACTIVITIES.ensureStatusPump, input.tenant);
  }
}
