/**
 * Reconciliation: a deployment record must never stay in flight behind an orchestration instance that
 * will not write its outcome. Users also drive instances through the standard Durable HTTP API
 * (terminate, suspend, restart, purge), which bypasses the product; this brings the record back in line
 * with the instance. A failure of our own (the instance Failed: a bug, a storage outage, a release that
 * broke replay) is recorded as Failed with its cause but never sends the agent a Cancel: the customer's
 * work goes on, its later reports stay in the timeline, and a rewind of the instance reopens the record.
 * It runs on read (`GET /api/deployments/{id}`, lists), when counting a tenant's
 * deployments in flight (the pump's idle check, health, the concurrency limit, tenant delete) and when a
 * status cannot be raised to its instance. Every step is idempotent: the ledger keeps the first outcome,
 * and the best-effort Cancel has the attempt's fixed message id, so the broker drops repeats.
 */
import type { DurableClient } from "durable-functions";
import { createLogger, Logger } from "../logging/logger";
import { notifyFinished } from "./notify";
import { sendCancel } from "./commands";
import { isTerminal, type DeploymentRecord, type Outcome, OUTCOMES } from "./model";
import type { DeploymentDeps } from "./deps";
import type { DeploymentCustomStatus, DeploymentResult } from "./contract";
import { instanceState, reasonText, START_GRACE_MS, type InstanceState } from "../durable/instances";

/**
 * What a finished instance stands for: the outcome and whether the agent should stop (`cancelAgent`:
 * only when a person ended the instance or it is gone; never for a failure of the Provider's own).
 */
type Verdict = { outcome: Outcome; message: string; cancelAgent: boolean };

/** The outcome a finished instance stands for, or "running"/"suspended" while it may still write one itself. */
export function verdict(
  record: Pick<DeploymentRecord, "attempt" | "executionKey" | "requestedAt">,
  state: InstanceState,
  now: number,
): Verdict | "suspended" | "running" {
  if (!state.found) {
    if (!record.executionKey && now - Date.parse(record.requestedAt) < START_GRACE_MS) return "running";
    return {
      outcome: "Failed",
      message: record.executionKey
        ? "The orchestration instance was purged while the deployment was in flight."
        : "The orchestration instance of this attempt was never started.",
      cancelAgent: true,
    };
  }
  const ranAttempt =
    (state.output as DeploymentResult | undefined)?.attempt ??
    (state.customStatus as DeploymentCustomStatus | undefined)?.attempt;
  if (ranAttempt !== undefined && ranAttempt !== record.attempt)
    return {
      outcome: "Terminated",
      message: `The instance was restarted (attempt ${ranAttempt}) before this attempt recorded an outcome.`,
      cancelAgent: true,
    };
  switch (state.runtimeStatus) {
    case "Suspended":
      return "suspended";
    case "Completed": {
      const result = state.output as DeploymentResult | undefined;
      // A repeat of the Cancel the orchestration sent on a timeout is dropped by the broker (same id).
      if (result && OUTCOMES.includes(result.outcome))
        return { outcome: result.outcome, message: result.message ?? "", cancelAgent: true };
      return {
        outcome: "Failed",
        message: "The orchestration completed without an outcome.",
        cancelAgent: true,
      };
    }
    case "Terminated":
      return {
        outcome: "Terminated",
        message: reasonText(state.output, "terminated through the Durable API"),
        cancelAgent: true,
      };
    case "Failed":
    case "Canceled":
      return {
        outcome: "Failed",
        message: `The Provider's orchestration ended ${state.runtimeStatus} (the customer's agent was not asked to cancel; a rewind resumes it): ${reasonText(state.output, "no reason given")}`,
        cancelAgent: false,
      };
    default:
      return "running";
  }
}

/**
 * Brings one record in line with its instance and returns the record as it now stands. A record in flight
 * behind a terminated, failed, purged or superseded instance gets that outcome and the agent a
 * best-effort Cancel; a suspended instance shows as `suspended` until it resumes.
 */
export async function reconcile(
  rt: DeploymentDeps,
  client: DurableClient,
  record: DeploymentRecord,
  log: Logger = createLogger(),
): Promise<DeploymentRecord> {
  if (isTerminal(record)) return record;
  const state = await instanceState(client, record.instanceId);
  if (!state) return record;
  const v = verdict(record, state, Date.now());
  if (v === "running" || v === "suspended") {
    if (!!record.suspended === (v === "suspended")) return record;
    await rt.ledger.setSuspended(record.tenant, record.id, record.attempt, v === "suspended");
    return (await rt.ledger.get(record.tenant, record.id, record.attempt)) ?? record;
  }
  // A failure of ours (no Cancel) is marked so that a rewind can reopen the record.
  const updated = await rt.ledger.complete(record.tenant, record.id, record.attempt, v.outcome, v.message, {
    providerFailure: !v.cancelAgent,
  });
  log.warn("deployment reconciled with its instance", {
    tenant: record.tenant,
    deploymentId: record.id,
    attempt: record.attempt,
    instanceId: record.instanceId,
    runtimeStatus: state.found ? state.runtimeStatus : "NotFound",
    outcome: updated.outcome,
  });
  if (v.cancelAgent && v.outcome !== "Succeeded" && v.outcome !== "Cancelled")
    await sendCancel(rt, record, v.message, log);
  await notifyFinished(rt, client, updated, log);
  return updated;
}

/** The tenant's attempts really in flight, after reconciling each with its instance. */
export async function inFlight(
  rt: DeploymentDeps,
  client: DurableClient,
  tenant: string,
  log?: Logger,
): Promise<DeploymentRecord[]> {
  const active = await rt.ledger.active(tenant);
  const checked = await Promise.all(active.map((r) => reconcile(rt, client, r, log)));
  return checked.filter((r) => !isTerminal(r));
}
