/**
 * The rollout orchestrations' activities (registered by activities/rollout.ts). `advanceBatch` is the
 * batch's one step: record what finished, decide whether the rollout may go on (abort, error budget,
 * pause, in that order) and start the next tenants as normal deployments. `update` moves the rollout's
 * state. Both are idempotent: a re-run after a crash writes the same rows and finds the deployments it
 * already started (their ids are derived from rollout and tenant).
 */
import type { DurableClient } from "durable-functions";
import { requestCancel } from "../deployments/cancel";
import { recordedOutcome, settledOutcome } from "../deployments/outcomes";
import { startFirstAttempt } from "../deployments/start";
import type { RolloutDeps } from "./deps";
import { forEachLimited } from "../concurrency/limited";
import { ProblemError } from "../http/problem";
import { createLogger, type Logger } from "../logging/logger";
import type {
  AdvanceBatchInput,
  AdvanceBatchResult,
  BatchStop,
  FinishedDeployment,
  InFlightDeployment,
  UpdateRolloutInput,
  UpdateRolloutResult,
  WaveHealthInput,
  WaveHealthResult,
} from "./contract";
import {
  TERMINAL_ROLLOUT_STATES,
  rollbackCounts,
  rollbackDeploymentId,
  rolloutDeploymentId,
  type RollbackSummary,
  type RolloutRecord,
  type RolloutTenant,
} from "./model";
import { rolloutEvent } from "./events";
import { reconcileRollout } from "./reconcile";
import { forwardRequest, rollbackMode, type BatchMode } from "./rollback";

/** Records read at once by a sweep. */
const SWEEP_READS = 16;

async function sweep(
  rt: RolloutDeps,
  client: DurableClient,
  inFlight: readonly InFlightDeployment[],
  log: Logger,
): Promise<FinishedDeployment[]> {
  const found: FinishedDeployment[] = [];
  await forEachLimited(inFlight, SWEEP_READS, async (d) => {
    const settled = await settledOutcome(rt, client, d, log);
    if (settled) found.push({ ...d, ...settled });
  });
  return found;
}

/**
 * Outcomes come only from the ledger: a `deploymentFinished` event may have been raised through the
 * Durable management API by anyone holding its links, so each one is checked against the attempt's
 * record, and the record's outcome is what the rollout counts. An event for an attempt the ledger has not
 * ended is ignored, logged as forged, and the deployment stays in flight.
 */
async function confirmFinished(
  rt: RolloutDeps,
  rolloutId: string,
  reported: readonly FinishedDeployment[],
  log: Logger,
): Promise<{ confirmed: FinishedDeployment[]; unconfirmed: InFlightDeployment[] }> {
  const confirmed: FinishedDeployment[] = [];
  const unconfirmed: InFlightDeployment[] = [];
  await forEachLimited(reported, SWEEP_READS, async (f) => {
    const recorded = await recordedOutcome(rt, f);
    if (recorded) {
      confirmed.push({ tenant: f.tenant, id: f.id, attempt: f.attempt, ...recorded });
      return;
    }
    unconfirmed.push({ tenant: f.tenant, id: f.id, attempt: f.attempt });
    log.warn("forged event ignored: deploymentFinished for an attempt the ledger has not ended", {
      rolloutId,
      tenant: f.tenant,
      deploymentId: f.id,
      attempt: f.attempt,
      event: "deploymentFinished",
    });
  });
  return { confirmed, unconfirmed };
}

/** Whether the rollout's failures (plus `extra` not yet recorded) exceed its maxErrors. */
async function overBudget(rt: RolloutDeps, rollout: RolloutRecord, extra = 0): Promise<boolean> {
  const budget = rollout.options.maxErrors;
  const failed = await rt.rollouts.tenants(rollout.id, { failed: true, top: budget + 1 });
  return failed.length + extra > budget;
}

/** Whether the rollout may start more deployments, and if not why. */
async function stopReason(
  rt: RolloutDeps,
  rollout: RolloutRecord,
  extraFailures: number,
): Promise<BatchStop | undefined> {
  if (rollout.control.aborted || rollout.state === "Aborted") return "abort";
  // Ended otherwise (Halted, also by a failure of the rollout's own orchestration): nothing new starts,
  // and what is in flight finishes.
  if (TERMINAL_ROLLOUT_STATES.includes(rollout.state)) return "halt";
  if (await overBudget(rt, rollout, extraFailures)) return "halt";
  if (rollout.control.paused) return "pause";
  return undefined;
}

/** The forward rollout's mode: the budget counts, every stop applies, outcomes are the tenant's own. */
function forwardMode(rt: RolloutDeps): BatchMode {
  return {
    stopReason: (rollout, extra) => stopReason(rt, rollout, extra),
    request: (rollout, tenant) => Promise.resolve(forwardRequest(rollout, tenant)),
    finishedRow: (f, at) => ({
      tenant: f.tenant,
      phase: "Completed",
      deploymentId: f.id,
      outcome: f.outcome,
      ...(f.message !== undefined ? { message: f.message } : {}),
      updatedAt: at,
    }),
    startedRow: (s, at) => ({
      tenant: s.tenant,
      phase: "Running",
      deploymentId: s.id,
      attempt: s.attempt,
      updatedAt: at,
    }),
  };
}

/** Outcomes learnt by this step: confirmed events, then what the sweep found that no event said. */
async function learnt(
  rt: RolloutDeps,
  client: DurableClient,
  input: AdvanceBatchInput,
  log: Logger,
): Promise<{
  swept: FinishedDeployment[];
  finished: FinishedDeployment[];
  unconfirmed: InFlightDeployment[];
}> {
  const swept = input.sweep ? await sweep(rt, client, input.inFlight, log) : [];
  const { confirmed, unconfirmed } = await confirmFinished(rt, input.rolloutId, input.finished, log);
  const finished = [...confirmed, ...swept.filter((s) => !confirmed.some((f) => f.tenant === s.tenant))];
  return { swept, finished, unconfirmed };
}

/**
 * A batch's step, forward or (input.rollback) rolling back (./rollback.ts, `BatchMode`): record what
 * finished, decide whether to go on, start the next tenants as normal deployments with deterministic ids.
 */
export async function advanceBatchActivity(
  rt: RolloutDeps,
  client: DurableClient,
  input: AdvanceBatchInput,
  log: Logger = createLogger(),
): Promise<AdvanceBatchResult> {
  const store = rt.rollouts;
  const mode = input.rollback ? rollbackMode(rt) : forwardMode(rt);
  const { swept, finished, unconfirmed } = await learnt(rt, client, input, log);
  const now = new Date().toISOString();
  await store.updateTenants(
    input.rolloutId,
    finished.map((f) => mode.finishedRow(f, now)),
  );
  const found = await store.get(input.rolloutId);
  if (!found) return { finished, started: [], stop: "abort" };
  const rollout = await reconcileRollout(rt, client, found);
  let stop = await mode.stopReason(rollout, 0);
  if (stop === "abort" && input.stopped !== "abort")
    await cancelInFlight(rt, client, input.rolloutId, input.inFlight, finished, log);

  const started: InFlightDeployment[] = [];
  const refused: FinishedDeployment[] = [];
  // The batch counted each reported tenant's slot as free when it chose `start`; an unconfirmed one still
  // holds its slot, so as many fewer start (forged reports cannot lift the concurrency cap).
  const starts = input.start.slice(0, Math.max(0, input.start.length - unconfirmed.length));
  for (const tenant of stop ? [] : starts) {
    // The id a refusal is recorded under (the request names it once it is known).
    let id = (input.rollback ? rollbackDeploymentId : rolloutDeploymentId)(rollout.id, tenant);
    try {
      const request = await mode.request(rollout, tenant);
      id = request.id;
      // A re-run of this step (a crash, a retry) finds the deployment it already started.
      const record = await startFirstAttempt(rt, client, tenant, id, request.spec, {
        acceptanceTimeoutSeconds: rollout.options.acceptanceTimeoutSeconds,
        completionTimeoutSeconds: rollout.options.completionTimeoutSeconds,
        idempotent: true,
        startIfMissing: true,
        requestDigest: rollout.requestDigest,
        rollout: { id: rollout.id, notify: input.batchInstanceId },
        ...(rollout.options.ignoreMaintenanceWindow ? { ignoreMaintenanceWindow: true } : {}),
        ...(request.release !== undefined ? { release: { version: request.release } } : {}),
        ...(request.rollbackOf !== undefined ? { rollbackOf: request.rollbackOf } : {}),
      });
      started.push({ tenant, id: record.id, attempt: record.attempt });
      log.info(input.rollback ? "rollback deployment started" : "rollout deployment started", {
        rolloutId: rollout.id,
        tenant,
        deploymentId: record.id,
      });
    } catch (error) {
      // A tenant that cannot take the deployment (suspended, at its limit, deleted) is a failure of the
      // rollout's, counted against the budget (a rollback's, in its columns); anything else (storage
      // down) is retried by the activity.
      if (!(error instanceof ProblemError)) throw error;
      refused.push({ tenant, id, attempt: 1, outcome: "Failed", message: `not started: ${error.message}` });
      stop = await mode.stopReason(rollout, refused.length);
      if (stop) break;
    }
  }
  await store.updateTenants(rollout.id, [
    ...started.map((s) => mode.startedRow(s, now)),
    ...refused.map((r) => mode.finishedRow(r, now)),
  ]);
  return {
    finished: [...swept, ...refused],
    started,
    ...(stop ? { stop } : {}),
    ...(unconfirmed.length > 0 ? { unconfirmed } : {}),
  };
}

/** Abort: every in-flight deployment of the batch gets a graceful cancel (repeating one is harmless). */
async function cancelInFlight(
  rt: RolloutDeps,
  client: DurableClient,
  rolloutId: string,
  inFlight: readonly InFlightDeployment[],
  finished: readonly FinishedDeployment[],
  log: Logger,
): Promise<void> {
  await Promise.all(
    inFlight
      .filter((d) => !finished.some((f) => f.tenant === d.tenant))
      .map((d) =>
        requestCancel(rt, client, d, { reason: "rollout aborted", by: `rollout:${rolloutId}` }).catch(
          (error: unknown) => log.warn("cancel not raised", { deploymentId: d.id, error }),
        ),
      ),
  );
}

/** What the rollback did, as the end message says it. */
function rollbackText(r: RollbackSummary): string {
  const parts = [`${r.succeeded} of ${r.tenants} tenant(s) back on their previous release`];
  if (r.failed > 0) parts.push(`${r.failed} rollback(s) did not succeed`);
  if (r.notPossible > 0) parts.push(`${r.notPossible} not possible (not touched)`);
  return `rolled back: ${parts.join(", ")}`;
}

/**
 * The header's rollback summary for `state`, counted from the tenant rows. An abort first marks the
 * rollbacks not started Skipped (idempotent: a re-run finds none Pending).
 */
async function rollbackSummary(
  rt: RolloutDeps,
  rolloutId: string,
  state: RollbackSummary["state"],
): Promise<RollbackSummary> {
  const store = rt.rollouts;
  if (state === "Aborted") {
    const pending = await store.tenants(rolloutId, { rollback: "Pending" });
    const now = new Date().toISOString();
    await store.updateTenants(
      rolloutId,
      pending.map((p) => ({ tenant: p.tenant, rollback: "Skipped" as const, updatedAt: now })),
    );
  }
  return { state, ...rollbackCounts(await store.tenants(rolloutId)) };
}

export async function updateRolloutActivity(
  rt: RolloutDeps,
  client: DurableClient,
  input: UpdateRolloutInput,
  log: Logger,
): Promise<UpdateRolloutResult> {
  const store = rt.rollouts;
  if (input.skipPending) await store.skipPending(input.rolloutId);
  const rollback = input.rollback ? await rollbackSummary(rt, input.rolloutId, input.rollback) : undefined;
  const updated = await store.update(input.rolloutId, (current) => {
    if (TERMINAL_ROLLOUT_STATES.includes(current.state)) return undefined;
    if (input.state === undefined && input.wave === undefined && !rollback) return undefined;
    const waves = current.waves.map((w, i) =>
      input.wave?.index === i ? { ...w, state: input.wave.state } : w,
    );
    const now = new Date().toISOString();
    const message =
      rollback?.state === "Completed"
        ? `${input.message ?? current.message ?? ""}; ${rollbackText(rollback)}`
        : input.message;
    return {
      ...current,
      ...(input.state ? { state: input.state } : {}),
      waves,
      ...(input.wave ? { currentWave: input.wave.index } : {}),
      ...(message !== undefined ? { message } : {}),
      ...(rollback ? { rollback } : {}),
      ...(input.completed ? { completedAt: now } : {}),
    };
  });
  // A repeat of this step (a crash after the write) finds the state already moved and publishes again:
  // the event's id is stable, so it is delivered once.
  const event =
    input.state !== undefined && updated.state === input.state
      ? rolloutEvent(updated, input.state)
      : undefined;
  if (event) await rt.events.publish(client, event, log);
  if (!input.checkBudget) return { control: updated.control };
  return { control: updated.control, overBudget: await overBudget(rt, updated) };
}

/** A tenant row's change when its verdict is learnt. */
type Verdict = Pick<RolloutTenant, "tenant" | "health" | "healthMessage" | "updatedAt">;

/**
 * The health gate's step (docs/rollouts.md, "Health gates"): each of wave `wave`'s succeeded tenants still
 * without a verdict is read from the ledger, where only a report from the tenant's status queue can put
 * one (signed when the tenant has receipt keys); a verdict found is copied to the tenant's row, where an
 * Unhealthy one spends the error budget. With `final`, a tenant still without one is recorded Unknown,
 * which spends nothing. Idempotent: a verdict once on the row is not read again.
 */
export async function waveHealthActivity(
  rt: RolloutDeps,
  input: WaveHealthInput,
  log: Logger,
): Promise<WaveHealthResult> {
  const rows = await rt.rollouts.tenants(input.rolloutId, { wave: input.wave });
  const awaiting = rows.filter((r) => r.outcome === "Succeeded" && r.health === undefined);
  const now = new Date().toISOString();
  const verdicts: Verdict[] = [];
  await forEachLimited(awaiting, SWEEP_READS, async (r) => {
    const record =
      r.deploymentId && r.attempt ? await rt.ledger.get(r.tenant, r.deploymentId, r.attempt) : undefined;
    const health = record?.health;
    if (health) {
      verdicts.push({
        tenant: r.tenant,
        health: health.state,
        healthMessage: health.message,
        updatedAt: now,
      });
      if (health.state === "Unhealthy")
        log.warn("rollout tenant unhealthy", {
          rolloutId: input.rolloutId,
          tenant: r.tenant,
          deploymentId: r.deploymentId,
          message: health.message,
        });
    } else if (input.final)
      verdicts.push({
        tenant: r.tenant,
        health: "Unknown",
        healthMessage: "no health report came before the gate's deadline",
        updatedAt: now,
      });
  });
  await rt.rollouts.updateTenants(input.rolloutId, verdicts);
  const rollout = await rt.rollouts.get(input.rolloutId);
  return {
    awaiting: awaiting.length - verdicts.length,
    overBudget: rollout !== undefined && (await overBudget(rt, rollout)),
  };
}
