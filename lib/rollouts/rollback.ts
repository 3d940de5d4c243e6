/**
 * A rollout's rollback (onHalt "rollback", docs/rollouts.md): which tenants go back to which release
 * (`planRollbackActivity`), and how a rollback batch's step differs from a forward one (`rollbackMode`,
 * used by advanceBatchActivity in ./activities.ts). A tenant is rolled back when its deployment in this
 * rollout Succeeded ("got the new release") and it still runs it; it goes back to the release it ran
 * before (lib/inventory's `releaseBefore`, the inventory's own rule), as a normal deployment carrying
 * `rollbackOf`. A tenant without a previous release is NotPossible, with the reason, and left alone.
 */
import type { ReleaseAttempt } from "../deployments/ledger";
import { resolveSpec } from "../deployments/start";
import { releaseBefore } from "../inventory/inventory";
import type { Logger } from "../logging/logger";
import type { RolloutDeps } from "./deps";
import type {
  BatchStop,
  FinishedDeployment,
  InFlightDeployment,
  PlanRollbackInput,
  PlanRollbackResult,
} from "./contract";
import {
  rollbackDeploymentId,
  rolloutDeploymentId,
  TERMINAL_ROLLOUT_STATES,
  type RolloutRecord,
  type RolloutTenant,
} from "./model";

/** Why a succeeded tenant is not rolled back, or the release it goes back to. */
function rollbackTarget(
  row: RolloutTenant,
  own: readonly ReleaseAttempt[],
): { release: string } | { notPossible: string } {
  const deployed = own.find((a) => a.id === row.deploymentId && a.attempt === row.attempt);
  if (!deployed) return { notPossible: "its deployment in this rollout is not in the ledger" };
  const newer = own.find(
    (a) =>
      a.outcome === "Succeeded" &&
      a.release !== deployed.release &&
      (a.completedAt ?? "") > (deployed.completedAt ?? ""),
  );
  // A release deployed since (by someone else) is what the tenant runs now: rolling back would undo it.
  if (newer) return { notPossible: `it has run release ${newer.release} since (deployment ${newer.id})` };
  const before = releaseBefore(own, deployed);
  if (!before) return { notPossible: "it ran no release before this rollout's" };
  return { release: before.release };
}

/**
 * Marks each tenant of the rollout that got its release with the rollback it needs: Pending with its
 * previous release, or NotPossible with the reason. Idempotent: a row already marked keeps its mark (a
 * re-run, even one that comes after rollbacks started, changes nothing), and the answer is read back
 * from the rows.
 */
export async function planRollbackActivity(
  rt: RolloutDeps,
  input: PlanRollbackInput,
  log: Logger,
): Promise<PlanRollbackResult> {
  const store = rt.rollouts;
  const rows = await store.tenants(input.rolloutId);
  const toPlan = rows.filter(
    (r) => r.rollback === undefined && r.phase === "Completed" && r.outcome === "Succeeded" && r.deploymentId,
  );
  if (toPlan.length > 0) {
    const names = new Set(toPlan.map((r) => r.tenant));
    const attempts = (await rt.ledger.releaseAttempts()).filter((a) => names.has(a.tenant));
    const now = new Date().toISOString();
    const marks = toPlan.map((r) => {
      const target = rollbackTarget(
        r,
        attempts.filter((a) => a.tenant === r.tenant),
      );
      return "release" in target
        ? { tenant: r.tenant, rollback: "Pending" as const, rollbackRelease: target.release, updatedAt: now }
        : {
            tenant: r.tenant,
            rollback: "NotPossible" as const,
            rollbackMessage: target.notPossible,
            updatedAt: now,
          };
    });
    await store.updateTenants(input.rolloutId, marks);
    const notPossible = marks.filter((m) => m.rollback === "NotPossible").length;
    log.info("rollback planned", { rolloutId: input.rolloutId, tenants: marks.length, notPossible });
  }
  const marked = await store.tenants(input.rolloutId);
  return {
    tenants: marked
      .filter((r) => r.rollback !== undefined && r.rollback !== "NotPossible" && r.rollback !== "Skipped")
      .map((r) => r.tenant),
  };
}

/** What one deployment start of a batch step needs beyond the tenant. */
export interface BatchRequest {
  id: string;
  spec: Record<string, unknown>;
  release?: string;
  rollbackOf?: string;
}

/**
 * How a batch step treats its tenants: the forward rollout's deployments or a rollback's. The step
 * (advanceBatchActivity) is the same for both: record outcomes, check whether to go on, start tenants.
 */
export interface BatchMode {
  /** Why the rollout may start no more of this batch's deployments, if it may not. */
  stopReason(rollout: RolloutRecord, extraFailures: number): Promise<BatchStop | undefined>;
  /** The deployment to start for `tenant` (a ProblemError refuses the tenant). */
  request(rollout: RolloutRecord, tenant: string): Promise<BatchRequest>;
  /** The tenant row's change for an outcome (learnt, or a refused start). */
  finishedRow(f: FinishedDeployment, at: string): Partial<RolloutTenant> & { tenant: string };
  /** The tenant row's change for a started deployment. */
  startedRow(s: InFlightDeployment, at: string): Partial<RolloutTenant> & { tenant: string };
}

/** The forward mode's request: the rollout's spec (or release) under the tenant's deterministic id. */
export function forwardRequest(rollout: RolloutRecord, tenant: string): BatchRequest {
  return {
    id: rolloutDeploymentId(rollout.id, tenant),
    spec: rollout.spec,
    ...(rollout.release !== undefined ? { release: rollout.release } : {}),
  };
}

/**
 * The rollback mode: each tenant goes back to its row's rollbackRelease (rendered with its parameters by
 * startAttempt) as `rollbackOf` its deployment in this rollout; outcomes go to the rollback columns, so
 * the error budget is not touched; only an abort (or an end by reconciliation) stops it.
 */
export function rollbackMode(rt: RolloutDeps): BatchMode {
  const specs = new Map<string, Promise<{ spec: Record<string, unknown> }>>();
  return {
    stopReason: (rollout) => {
      if (rollout.control.aborted || rollout.state === "Aborted") return Promise.resolve("abort");
      return Promise.resolve(TERMINAL_ROLLOUT_STATES.includes(rollout.state) ? "halt" : undefined);
    },
    async request(rollout, tenant) {
      const row = await rt.rollouts.tenant(rollout.id, tenant);
      if (!row?.rollbackRelease || !row.deploymentId)
        throw new Error(`Rollout "${rollout.id}": tenant "${tenant}" has no rollback planned.`);
      const version = row.rollbackRelease;
      if (!specs.has(version)) specs.set(version, resolveSpec(rt, { release: version }));
      const { spec } = await specs.get(version)!;
      return {
        id: rollbackDeploymentId(rollout.id, tenant),
        spec,
        release: version,
        rollbackOf: row.deploymentId,
      };
    },
    finishedRow: (f, at) => ({
      tenant: f.tenant,
      rollback: "Completed",
      rollbackDeploymentId: f.id,
      rollbackOutcome: f.outcome,
      ...(f.message !== undefined ? { rollbackMessage: f.message } : {}),
      updatedAt: at,
    }),
    startedRow: (s, at) => ({
      tenant: s.tenant,
      rollback: "Running",
      rollbackDeploymentId: s.id,
      updatedAt: at,
    }),
  };
}
