/**
 * A rollout: one spec deployed to many tenants in waves, under a concurrency cap and an error budget
 * (AWS SSM rate-control semantics), with bake time and approval gates between waves. This module holds
 * the request schema, the record shapes and the pure planning rules (targets → waves, budgets → counts);
 * ./store.ts persists them and orchestrators/rollout.ts runs them.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { deploymentId as deploymentIdSchema } from "../messaging/contracts";
import { deploymentRequestFields, specOrRelease } from "../deployments/start";
import type { Outcome } from "../deployments/model";
import type { Actor } from "../http/auth";
import type { FieldError } from "../http/problem";
import { matchesSelector, parseSelector, SelectorError, type Selector } from "../tenants/selector";

export type RolloutState =
  | "Scheduled"
  | "Running"
  | "Baking"
  | "WaitingForApproval"
  | "Paused"
  | "RollingBack"
  | "Succeeded"
  | "Halted"
  | "Aborted";
export const TERMINAL_ROLLOUT_STATES: readonly RolloutState[] = ["Succeeded", "Halted", "Aborted"];

export type WaveState = "Pending" | "Running" | "Baking" | "WaitingForApproval" | "Completed" | "Skipped";

/** Outcomes that spend the error budget (a cancel, by abort or by a user, does not). */
const FAILED_OUTCOMES: readonly Outcome[] = ["Failed", "TimedOut", "Rejected", "Terminated"];

/** A tenant's place in a rollout: Pending → Running (a deployment) → its outcome, or Skipped. */
export type TenantPhase = "Pending" | "Running" | "Completed" | "Skipped";

/**
 * A tenant's rollback (onHalt "rollback"): Pending → Running (a deployment of its previous release) →
 * Completed (with rollbackOutcome); NotPossible when it has no previous release; Skipped when an abort
 * came before it started. Absent on tenants that were not rolled back and on rows before 0.5.0.
 */
export type TenantRollback = "Pending" | "Running" | "Completed" | "NotPossible" | "Skipped";

/** What a rollout does when it halts: stop (the default, and every rollout before 0.5.0) or roll back. */
export const ON_HALT = ["stop", "rollback"] as const;
export type OnHalt = (typeof ON_HALT)[number];

/** The header's account of a rollback: its state and its tenants' counts (RollbackSummary.tenants = all). */
export interface RollbackSummary {
  state: "Running" | "Completed" | "Aborted";
  tenants: number;
  succeeded: number;
  failed: number;
  notPossible: number;
}

export const DEFAULTS = { maxConcurrency: 10, maxErrors: 0, bakeSeconds: 0 } as const;
/** Targets one rollout may name; the plan rides in the orchestration's input. */
const MAX_TARGETS = 10_000;

/** How far ahead `notBefore` may be: a durable timer that long is a series of timers (lib/durable/timers.ts). */
export const MAX_NOT_BEFORE_DAYS = 90;

const ROLLOUT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;
const TENANT = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/;

/** `n` (a count) or `"n%"` (of the targets). */
const budget = (min: number) =>
  z.union([
    z.number().int().min(min),
    z
      .string()
      .regex(/^\d{1,3}%$/, 'must be a count or a percentage such as "10%"')
      .refine(
        (v) => {
          const p = Number(v.slice(0, -1));
          return p >= Math.max(min, 1) && p <= 100;
        },
        `must be a percentage from ${Math.max(min, 1)}% to 100%`,
      ),
  ]);

const selectorText = z
  .string()
  .min(1)
  .max(1024)
  .superRefine((v, ctx) => {
    try {
      parseSelector(v);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: e instanceof SelectorError ? e.message : String(e) });
    }
  });

const tenantList = z
  .array(z.string().regex(TENANT, "must be a registered tenant name"))
  .min(1)
  .max(MAX_TARGETS);

const waveSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(64),
    selector: selectorText.optional(),
    tenants: tenantList.optional(),
    percent: z.number().gt(0).max(100).optional(),
  })
  .refine((w) => [w.selector, w.tenants, w.percent].filter((v) => v !== undefined).length <= 1, {
    message: "takes one of selector, tenants or percent",
  });

export const startRolloutSchema = z
  .strictObject({
    rolloutId: z.string().regex(ROLLOUT_ID, "must be 1-40 letters, digits, '_' or '-'").optional(),
    ...deploymentRequestFields,
    targets: z
      .strictObject({ tenants: tenantList.optional(), selector: selectorText.optional() })
      .refine((t) => t.tenants !== undefined || t.selector !== undefined, {
        message: "must name tenants or a selector",
      }),
    waves: z.array(waveSchema).min(1).max(20).optional(),
    maxConcurrency: budget(1).optional(),
    maxErrors: budget(0).optional(),
    bakeSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400)
      .optional(),
    approval: z.enum(["none", "afterEachWave"]).optional(),
    /** What a halt does: "rollback" redeploys the previous release where this one succeeded (needs `release`). */
    onHalt: z.enum(ON_HALT).optional(),
    /** Start no wave before this instant (ISO 8601 with a zone); the window is checked by notBeforeError. */
    notBefore: z.iso
      .datetime({ offset: true, message: "must be an ISO 8601 timestamp with a zone" })
      .optional(),
  })
  .superRefine((body, ctx) => {
    specOrRelease(body, ctx);
    // A raw spec has no "previous release": only a release can be rolled back from.
    if (body.onHalt === "rollback" && body.release === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["onHalt"],
        message: '"rollback" needs the rollout to name a release (a raw spec has no previous release)',
      });
    const names = new Set<string>();
    body.waves?.forEach((w, i) => {
      if (names.has(w.name))
        ctx.addIssue({ code: "custom", path: ["waves", i, "name"], message: "is used twice" });
      names.add(w.name);
    });
  });
type StartRolloutRequest = z.infer<typeof startRolloutSchema>;

/**
 * `notBefore` against the clock: it must be after `now` and at most MAX_NOT_BEFORE_DAYS ahead. Checked
 * when a rollout is created, not when a start is repeated (a repeat answers the rollout as it stands).
 */
export function notBeforeError(notBefore: string | undefined, now: number): FieldError | undefined {
  if (notBefore === undefined) return undefined;
  const at = Date.parse(notBefore);
  if (at <= now) return { field: "notBefore", message: "must be in the future" };
  if (at - now > MAX_NOT_BEFORE_DAYS * 86_400_000)
    return { field: "notBefore", message: `must be at most ${MAX_NOT_BEFORE_DAYS} days ahead` };
  return undefined;
}

/** One wave as planned: its tenants in the order they start. */
export interface PlannedWave {
  name: string;
  tenants: string[];
}

/** The resolved options a rollout runs with (budgets as counts). */
export interface RolloutOptions {
  maxConcurrency: number;
  maxErrors: number;
  bakeSeconds: number;
  approval: "none" | "afterEachWave";
  acceptanceTimeoutSeconds?: number;
  completionTimeoutSeconds?: number;
  ignoreMaintenanceWindow?: boolean;
  /** What a halt does; absent means "stop" (and on every header 0.4.0 or earlier wrote). */
  onHalt?: OnHalt;
}

export interface RolloutControl {
  /** Pause asked: no new deployment starts until resume. */
  paused?: boolean;
  /** Abort asked: in-flight deployments were cancelled, the rest are skipped. */
  aborted?: boolean;
  /** Waves (by index) the Provider approved past their gate. */
  approved?: number[];
}

/** A control a person gave through the API: who, when, and for approve the wave it passed. */
export interface RolloutControlEntry {
  action: "approve" | "pause" | "resume" | "abort";
  by: Actor;
  at: string;
  /** approve: the wave (by index) approved past its gate. */
  wave?: number;
}

/** Control entries a header keeps (the newest): bounded, so a loop of pause/resume cannot grow the row. */
export const MAX_CONTROL_ENTRIES = 50;

/** The rollout's header record. Per-tenant progress lives in RolloutTenant rows. */
export interface RolloutRecord {
  id: string;
  state: RolloutState;
  /** The raw spec, or the release's spec (unrendered: each tenant's parameters are merged at its start). */
  spec: Record<string, unknown>;
  /** The release the rollout ships; absent for a raw spec and on rollouts started before 0.4.0. */
  release?: string;
  options: RolloutOptions;
  /** Wave names and sizes, in order; the tenants are in the tenant rows. */
  waves: { name: string; size: number; state: WaveState }[];
  /** The wave in progress (or the last one run). */
  currentWave: number;
  control: RolloutControl;
  /** SHA-256 of the canonical start body, for Idempotency-Key repeats. */
  requestDigest: string;
  /** The rollout this one retries, if any. */
  retryOf?: string;
  /** Start no wave before this instant (ISO 8601, as given): the rollout is Scheduled until then. */
  notBefore?: string;
  /** Who started it (start or retry). Absent on rollouts started by 0.2.0 or earlier. */
  startedBy?: Actor;
  /** Approve / pause / resume / abort as given, oldest first. Absent before the first (and on headers 0.2.0 or earlier wrote). */
  controls?: RolloutControlEntry[];
  /** The rollback a halt started (onHalt "rollback"); absent otherwise and on headers before 0.5.0. */
  rollback?: RollbackSummary;
  message?: string;
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
  etag?: string;
}

/**
 * A succeeded tenant's health under a health-gated rollout: the agent's verdict, or Unknown when none came
 * by the gate's deadline (an agent of 0.4.0 or older never reports one). Only Unhealthy counts against
 * maxErrors.
 */
export type TenantHealth = "Healthy" | "Unhealthy" | "Unknown";

export interface RolloutTenant {
  tenant: string;
  wave: number;
  phase: TenantPhase;
  deploymentId?: string;
  attempt?: number;
  outcome?: Outcome;
  message?: string;
  health?: TenantHealth;
  healthMessage?: string;
  updatedAt?: string;
  /** The tenant's rollback, if the rollout rolled it back (fields below); absent otherwise. */
  rollback?: TenantRollback;
  /** The release it is (or was to be) rolled back to. */
  rollbackRelease?: string;
  rollbackDeploymentId?: string;
  rollbackOutcome?: Outcome;
  /** Why NotPossible, or what the rollback deployment said. */
  rollbackMessage?: string;
}

export function isFailure(outcome: Outcome | undefined): boolean {
  return outcome !== undefined && FAILED_OUTCOMES.includes(outcome);
}

/** Whether a tenant row spends the error budget: a failed outcome, or a success found unhealthy. */
export function spendsBudget(t: Pick<RolloutTenant, "outcome" | "health">): boolean {
  return isFailure(t.outcome) || t.health === "Unhealthy";
}

/** A budget as a count: percentages of `total` round up for concurrency (at least 1), down for errors. */
export function resolveBudget(
  value: number | string | undefined,
  total: number,
  fallback: number,
  kind: "concurrency" | "errors",
): number {
  if (value === undefined) return fallback;
  if (typeof value === "number") return value;
  const share = (Number(value.slice(0, -1)) / 100) * total;
  return kind === "concurrency" ? Math.max(1, Math.ceil(share)) : Math.floor(share);
}

export interface CandidateTenant {
  name: string;
  labels: Record<string, string>;
  state: string;
}

/**
 * Resolves targets and waves against the registered tenants. Tenants are taken in name order; a wave by
 * selector or list takes the matching targets not yet in an earlier wave, a wave by percent takes that
 * share of all targets (rounded up, at least one) from those left, and whatever no wave took goes into a
 * last wave named "rest". Answers the plan, or the field errors a 400 names.
 */
export function planRollout(
  body: Pick<StartRolloutRequest, "targets" | "waves">,
  registered: readonly CandidateTenant[],
): { waves: PlannedWave[] } | { errors: FieldError[] } {
  const byName = new Map(registered.map((t) => [t.name, t]));
  const errors: FieldError[] = [];
  let targets: CandidateTenant[];
  if (body.targets.tenants) {
    targets = [];
    body.targets.tenants.forEach((name, i) => {
      const t = byName.get(name);
      if (!t) errors.push({ field: `targets.tenants[${i}]`, message: `tenant "${name}" is not registered` });
      else if (!targets.includes(t)) targets.push(t);
    });
  } else targets = [...registered];
  if (body.targets.selector) {
    const selector = parseSelector(body.targets.selector);
    targets = targets.filter((t) => matchesSelector(selector, t.labels));
  }
  if (errors.length) return { errors };
  targets.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (targets.length === 0)
    return { errors: [{ field: "targets", message: "selects no registered tenant" }] };
  if (targets.length > MAX_TARGETS)
    return {
      errors: [{ field: "targets", message: `selects ${targets.length} tenants; at most ${MAX_TARGETS}` }],
    };

  const left = [...targets];
  const take = (pick: (t: CandidateTenant) => boolean): string[] => {
    const taken = left.filter(pick);
    for (const t of taken) left.splice(left.indexOf(t), 1);
    return taken.map((t) => t.name);
  };
  const waves: PlannedWave[] = [];
  (body.waves ?? [{ name: "all" }]).forEach((w, i) => {
    let tenants: string[];
    if (w.selector !== undefined) {
      const selector: Selector = parseSelector(w.selector);
      tenants = take((t) => matchesSelector(selector, t.labels));
    } else if (w.tenants !== undefined) {
      const names = new Set(w.tenants);
      w.tenants.forEach((name, j) => {
        if (!targets.some((t) => t.name === name))
          errors.push({ field: `waves[${i}].tenants[${j}]`, message: `tenant "${name}" is not a target` });
      });
      tenants = take((t) => names.has(t.name));
    } else if (w.percent !== undefined) {
      const count = Math.max(1, Math.ceil((w.percent / 100) * targets.length));
      const chosen = new Set(left.slice(0, count));
      tenants = take((t) => chosen.has(t));
    } else tenants = take(() => true);
    waves.push({ name: w.name, tenants });
  });
  if (errors.length) return { errors };
  if (left.length)
    waves.push({ name: waves.some((w) => w.name === "rest") ? "rest-2" : "rest", tenants: take(() => true) });
  return { waves };
}

/**
 * The deployment id of a tenant's deployment in a rollout: readable when it fits the 64-character id,
 * else a digest. Deterministic, so a repeated start finds the deployment it already made.
 */
export function rolloutDeploymentId(rolloutId: string, tenant: string): string {
  const readable = `${rolloutId}.${tenant}`;
  if (deploymentIdSchema.safeParse(readable).success) return readable;
  return `${rolloutId.slice(0, 20)}.${createHash("sha256").update(`${rolloutId}\n${tenant}`).digest("hex").slice(0, 32)}`;
}

/**
 * The deployment id of a tenant's rollback in a rollout (`<rolloutId>.<tenant>.rollback`, else a digest
 * ending `.rb`): deterministic like rolloutDeploymentId, and never equal to a forward id (those have one
 * dot, or a digest without a suffix).
 */
export function rollbackDeploymentId(rolloutId: string, tenant: string): string {
  const readable = `${rolloutId}.${tenant}.rollback`;
  if (deploymentIdSchema.safeParse(readable).success) return readable;
  const digest = createHash("sha256").update(`rollback\n${rolloutId}\n${tenant}`).digest("hex").slice(0, 32);
  return `${rolloutId.slice(0, 20)}.${digest}.rb`;
}

/** The rollback's counts over the tenant rows (those with a rollback). */
export function rollbackCounts(rows: readonly RolloutTenant[]): Omit<RollbackSummary, "state"> {
  const counts = { tenants: 0, succeeded: 0, failed: 0, notPossible: 0 };
  for (const r of rows) {
    if (r.rollback === undefined) continue;
    counts.tenants++;
    if (r.rollback === "NotPossible") counts.notPossible++;
    else if (r.rollbackOutcome === "Succeeded") counts.succeeded++;
    else if (r.rollback === "Completed") counts.failed++;
  }
  return counts;
}

/** Wave counts as the API shows them. */
export function waveCounts(rows: readonly RolloutTenant[]) {
  const counts = {
    total: rows.length,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    running: 0,
    pending: 0,
    skipped: 0,
    /** Of the succeeded: found unhealthy by the health gate (they count against maxErrors). */
    unhealthy: 0,
  };
  for (const r of rows) {
    if (r.phase === "Pending") counts.pending++;
    else if (r.phase === "Running") counts.running++;
    else if (r.phase === "Skipped") counts.skipped++;
    else if (r.outcome === "Succeeded") {
      counts.succeeded++;
      if (r.health === "Unhealthy") counts.unhealthy++;
    } else if (isFailure(r.outcome)) counts.failed++;
    else counts.cancelled++;
  }
  return counts;
}
