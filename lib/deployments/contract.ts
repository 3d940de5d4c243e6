/**
 * The deployment workflow's typed contract, in one place: the names of its orchestrations, activities and
 * events, what each activity takes and answers, the instance ids, the one command builder and the one
 * map from an agent's state to an outcome. The orchestrations (`orchestrators/*.ts`) call activities
 * through these definitions (`call`, lib/durable/activities.ts) and `activities/deployment.ts` registers one
 * handler per definition, so no call site names an activity by string or casts its result.
 *
 * Names and payload shapes are part of the durable history: renaming one breaks in-flight instances.
 */
import { activity } from "../durable/activities";
import type { Command, Status, StatusState } from "../messaging/contracts";
import type { MaintenanceWindow } from "../tenants/maintenance";
import type { ConfirmedEvents, ConfirmEventsInput } from "./confirm";
import type { Outcome, Phase } from "./model";

export const ORCHESTRATIONS = {
  deployment: "deployment",
  statusPump: "statusPump",
  verify: "verifyTenant",
} as const;

export const EVENTS = {
  status: "status",
  cancel: "cancel",
  pong: "pong",
  /** Raised to whoever a deployment reports to (`rollout.notify`) once its outcome is written. */
  deploymentFinished: "deploymentFinished",
} as const;

/** What each event carries. */
export interface EventPayloads {
  status: Status;
  cancel: CancelRequest | undefined;
  pong: Status;
  deploymentFinished: DeploymentFinished;
}

/** Raised to a deployment's `rollout.notify` instance once its outcome is written. */
export interface DeploymentFinished {
  tenant: string;
  id: string;
  attempt: number;
  outcome: Outcome;
  message?: string;
}

export interface CancelRequest {
  reason?: string;
}

// ---- Instance ids: stable, so a repeated start finds the same instance. ----

/** The `deployment` instance of one attempt. */
export function deploymentInstanceId(tenant: string, id: string, attempt: number): string {
  return `deploy:${tenant}:${id}:${attempt}`;
}

/** The tenant's one `statusPump`. */
export function statusPumpInstanceId(tenant: string): string {
  return `statusPump:${tenant}`;
}

/** One `verifyTenant` round trip. */
export function verifyInstanceId(tenant: string, pingId: string): string {
  return `verify:${tenant}:${pingId}`;
}

// ---- The deployment orchestration ----

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
  /**
   * The tenant's maintenance windows when the deployment started: the Deploy waits for one to open.
   * Absent (or empty) when the tenant has none, when the request ignored them, and in inputs of
   * instances started before windows existed, whose replay must not meet a new yield.
   */
  maintenanceWindows?: MaintenanceWindow[];
  /** The start request said `ignoreMaintenanceWindow: true`; a retry keeps that choice. */
  ignoreMaintenanceWindow?: boolean;
}

export interface DeploymentCustomStatus {
  phase: Phase;
  progress: number;
  attempt?: number;
  message?: string;
  sequence?: number;
  /** While the phase is WaitingForWindow: when the maintenance window opens. */
  windowOpensAt?: string;
}

export interface DeploymentResult {
  outcome: Outcome;
  message?: string;
  /** The attempt this execution ran (a Durable restart runs a new attempt of the same deployment). */
  attempt?: number;
}

/** Agent states that end a deployment, and the outcome each means. */
export const TERMINAL_STATES: Partial<Record<StatusState, Outcome>> = {
  Succeeded: "Succeeded",
  Failed: "Failed",
  Cancelled: "Cancelled",
  Rejected: "Rejected",
};

// ---- The status pump ----

export interface PumpInput {
  tenant: string;
  /** Consecutive failed cycles so far (the backoff grows with it); absent after a good cycle. */
  failures?: number;
  /** Nothing is in flight, only health verdicts are due: the cycle receives briefly (PUMP_HEALTH_IDLE). */
  healthOnly?: boolean;
}

export interface PumpResult {
  received: number;
  /**
   * How many deployments of the tenant are in flight (a count, not a flag); counted only when nothing
   * was received or an outcome was (a busy pump goes on regardless), absent otherwise. 0 ends the pump.
   * The name is part of the activity's recorded output, which pump histories replay: it stays.
   */
  active?: number;
  /**
   * Nothing is in flight but this many successes still owe a health verdict (0.5.0): the pump waits on a
   * durable timer between brief receives instead of long-polling, so it holds no activity slot meanwhile.
   */
  awaitingHealth?: number;
}

/** While only health verdicts are due: a brief receive, then a durable timer before the next. */
export const PUMP_HEALTH_IDLE = { receiveMs: 1_000, waitMs: 10_000 } as const;

/** The pump's retry policy for its own failures (a broker outage, a storage hiccup, a token error). */
export const PUMP_RETRY = { firstMs: 1000, maxMs: 60_000, maxFailures: 12 } as const;

export interface PumpCustomStatus {
  failures: number;
  lastError: string;
  retryAt: string;
}

// ---- The tenant verification ----

export interface VerifyInput {
  tenant: string;
  pingId: string;
  timeoutSeconds: number;
  pumpReensureSeconds: number;
}

export interface VerifyStep {
  /** `dns`: a private tenant's namespace resolves to its private endpoint (checked by the API, not here). */
  step: "credential" | "dns" | "send" | "receive";
  ok: boolean;
  detail?: string;
}

export interface VerifyResult {
  ok: boolean;
  latencyMs?: number;
  steps: VerifyStep[];
}

// ---- Activities ----

export interface BeginAttemptInput {
  tenant: string;
  id: string;
  attempt: number;
  instanceId: string;
  executionKey: string;
  spec: unknown;
  /** The tenant's maintenance window is closed: the record waits in WaitingForWindow until this instant. */
  windowOpensAt?: string;
}

/** What `beginAttempt` answers: the attempt this execution runs, or why it cannot run one. */
export type AttemptClaim = { attempt: number; restartOf?: number } | { error: string };

export interface SendCommandInput {
  tenant: string;
  command: Command;
}

/** What `sendCommand` answers; it never throws, so a foreseeable send failure is never a failed orchestration. */
export type SendResult = { messageId: string } | { error: string; retryable: boolean };

export interface CompleteDeploymentInput {
  tenant: string;
  id: string;
  attempt: number;
  outcome: Outcome;
  message?: string;
}

/** What `completeDeployment` answers: the outcome the ledger holds (the first one written wins). */
export type RecordedOutcome = { outcome: Outcome; message?: string };

export interface PumpStatusesInput {
  tenant: string;
  /** Receive briefly (only health verdicts are due); absent in every history before 0.5.0. */
  healthOnly?: boolean;
}

export const ACTIVITIES = {
  beginAttempt: activity<BeginAttemptInput, AttemptClaim>("beginAttempt"),
  sendCommand: activity<SendCommandInput, SendResult>("sendCommand"),
  /** Input: the tenant's name (a bare string, as in every recorded history). Answers whether it started one. */
  ensureStatusPump: activity<string, boolean>("ensureStatusPump"),
  pumpStatuses: activity<PumpStatusesInput, PumpResult>("pumpStatuses"),
  completeDeployment: activity<CompleteDeploymentInput, RecordedOutcome>("completeDeployment"),
  /** Since release 0.3.0: which received events the ledger confirms (./confirm.ts). */
  confirmEvents: activity<ConfirmEventsInput, ConfirmedEvents>("confirmEvents"),
} as const;

// ---- Commands ----

/** The one way a command is built, in the orchestrations (Deploy, Cancel, Ping) and outside them (Cancel). */
export function buildCommand(c: {
  type: Command["type"];
  deploymentId: string;
  attempt: number;
  tenant: string;
  /** Deploy only. */
  spec?: Record<string, unknown>;
  requestedAt: Date;
  deadline?: Date;
  reason?: string;
}): Command {
  return {
    schemaVersion: 1,
    type: c.type,
    deploymentId: c.deploymentId,
    attempt: c.attempt,
    tenant: c.tenant,
    ...(c.type === "Deploy" ? { spec: c.spec } : {}),
    requestedAt: c.requestedAt.toISOString(),
    ...(c.deadline ? { deadline: c.deadline.toISOString() } : {}),
    ...(c.reason ? { reason: c.reason } : {}),
  };
}
