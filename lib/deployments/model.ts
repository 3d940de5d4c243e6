/**
 * A deployment attempt as the ledger records it: where it is in the workflow (phase), how far (progress),
 * how it ended (outcome), and the last status the customer's agent reported.
 */
import { createHash } from "node:crypto";
import type { Actor } from "../http/auth";
import type { Status, StatusState } from "../messaging/contracts";
import type { Receipt } from "../signing/receipts";

/** In workflow order: the ledger never moves a record backwards in this list. */
export const PHASES = [
  "Requested",
  "WaitingForWindow",
  "Sent",
  "Accepted",
  "InProgress",
  "Completed",
] as const;
export type Phase = (typeof PHASES)[number];

export const OUTCOMES = ["Succeeded", "Failed", "Cancelled", "TimedOut", "Rejected", "Terminated"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Outcomes a user may retry. */
export const RETRYABLE_OUTCOMES: readonly Outcome[] = ["Failed", "TimedOut", "Cancelled", "Terminated"];

interface LastStatus {
  state: StatusState;
  progress: number;
  message?: string;
  sequence: number;
  reportedAt: string;
}

/**
 * How long after a health check's window its verdict may still arrive (the last probe, the send, the
 * status queue, the pump): the rollout's gate and the pump wait this much longer than the window.
 */
export const HEALTH_REPORT_GRACE_MS = 60_000;

/** Until when a verdict on this attempt is due, if one is (it succeeded with a health check, none came yet). */
export function healthDueAt(record: DeploymentRecord): string | undefined {
  if (record.healthWindowSeconds === undefined || record.health || record.outcome !== "Succeeded")
    return undefined;
  if (!record.completedAt) return undefined;
  const due = Date.parse(record.completedAt) + record.healthWindowSeconds * 1000 + HEALTH_REPORT_GRACE_MS;
  return new Date(due).toISOString();
}

/** An agent's health verdict on a deployment that succeeded. */
export interface DeploymentHealth {
  state: HealthState;
  message?: string;
  /** The agent's clock. */
  reportedAt: string;
}

export type HealthState = Extract<StatusState, "Healthy" | "Unhealthy">;
const HEALTH_STATES: ReadonlySet<StatusState> = new Set<StatusState>(["Healthy", "Unhealthy"]);

/** Whether a report is a health verdict (it never moves the deployment, whose outcome is decided). */
export const isHealthState = (state: StatusState): state is HealthState => HEALTH_STATES.has(state);

export interface CancelRequested {
  at: string;
  reason: string;
  /** Who asked: the actor's name (`local` without a principal), or `rollout:<id>` for an abort. */
  by: string;
}

/** One event of an attempt's history, as the dashboard and `GET /api/deployments/{id}` show it. */
interface TimelineEntry {
  /** When the Provider recorded it. */
  at: string;
  source: "provider" | "agent";
  event:
    Phase | Outcome | StatusState | "Suspended" | "Resumed" | "Reconciled" | "Reopened" | "CancelRequested";
  progress?: number;
  message?: string;
  /** Agent reports: their sequence number and the agent's own clock. */
  sequence?: number;
  reportedAt?: string;
  /** Provider entries a person caused (Requested, Terminated): who. Absent on older entries. */
  by?: Actor;
}

/**
 * The timeline lives in the attempt's row, so it is updated under the same ETag as the state it explains;
 * capping entries and message length keeps the row under Table Storage's 64 KiB property limit.
 */
export const TIMELINE_LIMITS = { entries: 40, messageChars: 200 } as const;

export function withTimeline(record: DeploymentRecord, entry: TimelineEntry): DeploymentRecord {
  const message =
    entry.message !== undefined && entry.message.length > TIMELINE_LIMITS.messageChars
      ? `${entry.message.slice(0, TIMELINE_LIMITS.messageChars - 1)}…`
      : entry.message;
  const next = { ...entry, ...(message !== undefined ? { message } : {}) };
  return { ...record, timeline: [...(record.timeline ?? []), next].slice(-TIMELINE_LIMITS.entries) };
}

export interface DeploymentRecord {
  id: string;
  tenant: string;
  attempt: number;
  /** The orchestration instance that runs this attempt; status dispatching uses it. */
  instanceId: string;
  /**
   * Which execution of that instance claimed the attempt (`<instanceId>@<start time>`): a Durable restart
   * (same or new instance id) is a new execution, so it claims a new attempt instead of this one.
   */
  executionKey?: string;
  /** The instance is suspended through the Durable API (shown until it resumes). */
  suspended?: boolean;
  phase: Phase;
  progress: number;
  outcome?: Outcome;
  /**
   * The outcome is reconciliation's record of a failure of the Provider's own (the instance Failed), not
   * the orchestration's decision: a rewind reopens the record (`DeploymentLedger.reopen`) and the
   * orchestration's own outcome then replaces it.
   */
  providerFailure?: boolean;
  message?: string;
  /** SHA-256 of the canonical spec, so audits can tell attempts apart without storing the spec twice. */
  specDigest: string;
  /**
   * SHA-256 of the canonical start request body (spec, timeouts, deploymentId) that created the deployment,
   * so a repeated Idempotency-Key can be told from a reuse of the key for another request. Absent on rows
   * written before it existed and on retry attempts (the request that created the deployment is attempt 1's).
   */
  requestDigest?: string;
  /**
   * Who started this attempt (start or retry; `local` without a principal). Absent on rows written by
   * 0.2.0 or earlier and on a rollout's deployments (the rollout records its starter).
   */
  requestedBy?: Actor;
  /**
   * The release this attempt deploys (its spec rendered with the tenant's parameters; `specDigest` is the
   * digest of what was sent). Absent for a raw spec and on rows written before releases existed (0.4.0).
   */
  release?: string;
  /** Who terminated it through the API (outcome Terminated by a user). Absent otherwise and on older rows. */
  terminatedBy?: Actor;
  requestedAt: string;
  updatedAt: string;
  completedAt?: string;
  previousAttempt?: number;
  /**
   * Set on a rollout's deployment: the rollout, and the orchestration instance that is told (event
   * `deploymentFinished`) once the outcome is written, so it can start the next tenant.
   */
  rollout?: { id: string; notify: string };
  /**
   * Set on a rollout's rollback deployment (onHalt "rollback"): the id of the rollout's deployment whose
   * release this one takes back (the tenant's previous release). Absent otherwise and before 0.5.0.
   */
  rollbackOf?: string;
  /** Phase WaitingForWindow: when the tenant's maintenance window opens and the Deploy goes out. */
  windowOpensAt?: string;
  lastStatus?: LastStatus;
  /**
   * The agent's health verdict after it succeeded (the command's spec carried a health check, docs/
   * messages.md "Health reports"); the first one is kept. Absent otherwise and on rows before 0.5.0.
   */
  health?: DeploymentHealth;
  /**
   * The spec carried a health check of this window (seconds): once the attempt has succeeded, a verdict
   * is due within the window and HEALTH_REPORT_GRACE_MS, and the tenant's status pump waits for it.
   * Absent otherwise and on rows before 0.5.0.
   */
  healthWindowSeconds?: number;
  /**
   * The agent's signed terminal status, verified with the tenant's receipt keys before it was recorded
   * (lib/signing/receipts.ts); the first verified one is kept. Absent for tenants without receipt keys and
   * on rows written before receipts existed. Stored in its own column (./ledger.ts).
   */
  receipt?: Receipt;
  /**
   * A cancel recorded through the API (a user, or a rollout's abort) before the `cancel` event was raised:
   * since release 0.3.0 the orchestration acts on a cancel event only when this is set, and with this
   * reason (docs/security.md, "Outcomes come only from the channel"). The first request wins.
   */
  cancelRequested?: CancelRequested;
  /** Oldest first; the last TIMELINE_LIMITS.entries events. */
  timeline?: TimelineEntry[];
  /** ETag of the row, for optimistic concurrency. */
  etag?: string;
}

/**
 * An actor as stored, read tolerantly: an object with a name, or (never written by a release, but cheap to
 * accept) a bare name. Anything else is no actor.
 */
export function storedActor(value: unknown): Actor | undefined {
  if (typeof value === "string" && value !== "") return { name: value };
  if (!value || typeof value !== "object") return undefined;
  const { name, objectId } = value as { name?: unknown; objectId?: unknown };
  if (typeof name !== "string") return undefined;
  return { name, ...(typeof objectId === "string" ? { objectId } : {}) };
}

export function isTerminal(record: Pick<DeploymentRecord, "phase">): boolean {
  return record.phase === "Completed";
}

const PHASE_OF_STATE: Partial<Record<StatusState, Phase>> = {
  Accepted: "Accepted",
  InProgress: "InProgress",
};

/** The phase a reopened record returns to: the agent's last acted-on state, else Sent. */
export function phaseBeforeOutcome(record: DeploymentRecord): Phase {
  const state = record.lastStatus?.state;
  return (state && PHASE_OF_STATE[state]) ?? "Sent";
}

/**
 * Folds an agent's status report into a record: progress, phase (Accepted / InProgress), the last status
 * and the timeline. It never sets an outcome: the deployment orchestration decides the outcome and writes
 * it once (a timed-out deployment whose agent then acknowledges the Cancel stays TimedOut). The agent's
 * own terminal state is kept in `lastStatus` and the timeline, with its verified `receipt` when it came
 * with one. Returns undefined when the report changes nothing: another attempt's, a stale or duplicate sequence, or a report after the outcome.
 */
export function applyStatus(
  record: DeploymentRecord,
  status: Status,
  now: string,
  receipt?: Receipt,
): DeploymentRecord | undefined {
  const applied = applyReport(record, status, now);
  // A receipt comes only with a verified terminal status (the dispatcher's check); the first one is kept.
  return applied && receipt && !record.receipt && AGENT_ENDS.has(status.state)
    ? { ...applied, receipt }
    : applied;
}

function applyReport(record: DeploymentRecord, status: Status, now: string): DeploymentRecord | undefined {
  if (status.attempt !== record.attempt || status.deploymentId !== record.id) return undefined;
  if (record.lastStatus && status.sequence <= record.lastStatus.sequence) return undefined;
  if (status.state === "Pong") return undefined;
  if (isHealthState(status.state)) return applyHealth(record, status, now);
  // After the outcome is decided only the agent's own end is kept, in the timeline: it never changes
  // the outcome, but a deployment our side failed (or timed out) still shows what the customer's
  // agent finally did.
  if (isTerminal(record))
    return AGENT_ENDS.has(status.state)
      ? withTimeline({ ...record, lastStatus: lastStatusOf(status) }, agentEntry(status, now))
      : undefined;
  const next = PHASE_OF_STATE[status.state];
  const phase = next && PHASES.indexOf(next) > PHASES.indexOf(record.phase) ? next : record.phase;
  const updated: DeploymentRecord = {
    ...record,
    phase,
    progress: Math.max(record.progress, status.progress),
    ...(status.message !== undefined ? { message: status.message } : {}),
    updatedAt: now,
    lastStatus: lastStatusOf(status),
  };
  return withTimeline(updated, agentEntry(status, now));
}

/**
 * A health verdict is kept once the agent has said it succeeded (its Succeeded report, or the outcome
 * that report decided): the first one wins, and it changes neither the phase, the outcome nor the last
 * status, so the deployment's own workflow never sees it.
 */
function applyHealth(record: DeploymentRecord, status: Status, now: string): DeploymentRecord | undefined {
  const succeeded = record.outcome === "Succeeded" || record.lastStatus?.state === "Succeeded";
  if (!succeeded || record.health || !isHealthState(status.state)) return undefined;
  const health: DeploymentHealth = {
    state: status.state,
    ...(status.message !== undefined ? { message: status.message } : {}),
    reportedAt: status.reportedAt,
  };
  return withTimeline({ ...record, health, updatedAt: now }, agentEntry(status, now));
}

/** The agent states that end its run. */
const AGENT_ENDS: ReadonlySet<Status["state"]> = new Set(["Succeeded", "Failed", "Cancelled", "Rejected"]);

function lastStatusOf(status: Status): NonNullable<DeploymentRecord["lastStatus"]> {
  return {
    state: status.state,
    progress: status.progress,
    ...(status.message !== undefined ? { message: status.message } : {}),
    sequence: status.sequence,
    reportedAt: status.reportedAt,
  };
}

function agentEntry(status: Status, now: string): TimelineEntry {
  return {
    at: now,
    source: "agent",
    event: status.state,
    progress: status.progress,
    ...(status.message !== undefined ? { message: status.message } : {}),
    sequence: status.sequence,
    reportedAt: status.reportedAt,
  };
}

/** SHA-256 of the canonical (key-sorted) JSON of a spec, so audits can tell attempts apart. */
export function specDigest(spec: unknown): string {
  const canonical = JSON.stringify(spec, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
  return `sha256:${createHash("sha256").update(canonical).digest("hex")}`;
}
