/**
 * The rollouts API's answers: the view of a rollout (state as shown, waves with counts, tenants, who
 * started it, who approved each gate, the controls given) and its links. Used by ./http.ts.
 */
import type { HttpRequest } from "@azure/functions";
import { storedActor } from "../deployments/model";
import { actorView } from "../http/auth";
import {
  spendsBudget,
  TERMINAL_ROLLOUT_STATES,
  waveCounts,
  type RolloutControlEntry,
  type RolloutRecord,
  type RolloutTenant,
} from "./model";

export function rolloutUrl(request: HttpRequest, id: string): string {
  return new URL(`/api/rollouts/${encodeURIComponent(id)}`, request.url).href;
}

export function links(request: HttpRequest, id: string) {
  const self = rolloutUrl(request, id);
  return {
    statusUrl: self,
    approvePostUri: `${self}/approve`,
    pausePostUri: `${self}/pause`,
    resumePostUri: `${self}/resume`,
    abortPostUri: `${self}/abort`,
    retryPostUri: `${self}/retry`,
  };
}

/**
 * The state the API shows: a pause asked of a running rollout shows at once (in-flight work finishes).
 * A Scheduled rollout shows Scheduled until notBefore, a pause asked meanwhile as `pauseRequested`.
 */
export function shownState(r: RolloutRecord) {
  // A rollback is not paused (only abort stops it): RollingBack shows as it is.
  if (TERMINAL_ROLLOUT_STATES.includes(r.state) || r.state === "Scheduled" || r.state === "RollingBack")
    return r.state;
  return r.control.paused && !r.control.aborted ? "Paused" : r.state;
}

/**
 * The controls as shown, each actor read tolerantly. A header written by 0.2.0 or earlier has none: `[]` (the API
 * then leaves `controls` out).
 */
/** The record's controls as the API shows them (the actor as `{ name, id }`); unreadable entries are left out. */
function controlsOf(
  r: RolloutRecord,
): (Omit<RolloutControlEntry, "by"> & { by: ReturnType<typeof actorView> })[] {
  const stored: unknown = r.controls;
  if (!Array.isArray(stored)) return [];
  return stored.flatMap((c: Partial<RolloutControlEntry>) => {
    const by = storedActor(c?.by);
    return by && typeof c.action === "string" && typeof c.at === "string"
      ? [
          {
            action: c.action,
            by: actorView(by),
            at: c.at,
            ...(typeof c.wave === "number" ? { wave: c.wave } : {}),
          },
        ]
      : [];
  });
}

/** A tenant's rollback as the API shows it. */
function rollbackView(t: RolloutTenant) {
  return {
    state: t.rollback,
    ...(t.rollbackRelease ? { release: t.rollbackRelease } : {}),
    ...(t.rollbackDeploymentId ? { deploymentId: t.rollbackDeploymentId } : {}),
    ...(t.rollbackOutcome ? { outcome: t.rollbackOutcome } : {}),
    ...(t.rollbackMessage ? { message: t.rollbackMessage } : {}),
  };
}

export function rolloutView(r: RolloutRecord, tenants?: readonly RolloutTenant[]) {
  const terminal = TERMINAL_ROLLOUT_STATES.includes(r.state);
  const controls = controlsOf(r);
  const startedBy = storedActor(r.startedBy);
  const waves = r.waves.map((w, i) => {
    const state =
      terminal && (w.state === "Pending" || w.state === "Running")
        ? w.state === "Pending"
          ? "Skipped"
          : "Completed"
        : w.state;
    const approval = controls.find((c) => c.action === "approve" && c.wave === i);
    return {
      name: w.name,
      state,
      ...(approval ? { approvedBy: approval.by, approvedAt: approval.at } : {}),
      ...(tenants ? waveCounts(tenants.filter((t) => t.wave === i)) : { total: w.size }),
    };
  });
  return {
    id: r.id,
    state: shownState(r),
    ...(r.release !== undefined ? { release: r.release } : {}),
    waves,
    // What spends maxErrors: failed outcomes and tenants the health gate found unhealthy.
    ...(tenants ? { errors: tenants.filter(spendsBudget).length } : {}),
    maxErrors: r.options.maxErrors,
    maxConcurrency: r.options.maxConcurrency,
    bakeSeconds: r.options.bakeSeconds,
    approval: r.options.approval,
    onHalt: r.options.onHalt ?? "stop",
    ...(r.rollback !== undefined ? { rollback: r.rollback } : {}),
    ...(r.notBefore !== undefined ? { notBefore: r.notBefore } : {}),
    currentWave: r.currentWave,
    ...(r.control.paused ? { pauseRequested: true } : {}),
    ...(r.control.aborted ? { abortRequested: true } : {}),
    ...(r.message !== undefined ? { message: r.message } : {}),
    ...(r.retryOf ? { retryOf: r.retryOf } : {}),
    ...(startedBy ? { startedBy: actorView(startedBy) } : {}),
    ...(controls.length ? { controls } : {}),
    ...(tenants
      ? {
          tenants: tenants.map((t) => ({
            tenant: t.tenant,
            wave: r.waves[t.wave]?.name ?? String(t.wave),
            phase: t.phase,
            ...(t.deploymentId ? { deploymentId: t.deploymentId } : {}),
            ...(t.attempt ? { attempt: t.attempt } : {}),
            ...(t.outcome ? { outcome: t.outcome } : {}),
            ...(t.message ? { message: t.message } : {}),
            ...(t.health ? { health: t.health } : {}),
            ...(t.healthMessage ? { healthMessage: t.healthMessage } : {}),
            ...(t.rollback ? { rollback: rollbackView(t) } : {}),
          })),
        }
      : {}),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    ...(r.completedAt ? { completedAt: r.completedAt } : {}),
  };
}
