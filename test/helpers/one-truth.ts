/**
 * The "one truth per deployment" invariant as test assertions (dev/one-truth.ts does the checking), plus
 * "nothing left in flight" for a tenant.
 */
import assert from "node:assert/strict";
import { checkOneTruth, checkRolloutTruth, type DeploymentView, type RolloutView } from "../../dev/one-truth";

/** Asserts the invariant for the latest attempt of a deployment; returns the record. */
export async function assertOneTruth(
  baseUrl: string,
  deploymentId: string,
  waitMs = 10_000,
): Promise<DeploymentView> {
  const check = await checkOneTruth(baseUrl, deploymentId, waitMs);
  if (!check.ok) assert.fail(check.problem);
  return check.record;
}

/** Asserts the tenant has no deployment left in flight (after reconciliation). */
export async function assertNothingInFlight(baseUrl: string, tenant: string): Promise<void> {
  const res = await fetch(`${baseUrl}/api/tenants/${tenant}/deployments?status=active`);
  const body = (await res.json()) as { items: DeploymentView[] };
  assert.deepEqual(
    body.items.map((r) => `${r.id}#${r.attempt}`),
    [],
    `tenant ${tenant} still has deployments in flight`,
  );
}

/** Asserts a rollout ended with one truth (dev/one-truth.ts); returns its final view. */
export async function assertRolloutTruth(
  baseUrl: string,
  rolloutId: string,
  waitMs = 15_000,
): Promise<RolloutView> {
  const check = await checkRolloutTruth(baseUrl, rolloutId, waitMs);
  if (!check.ok) assert.fail(check.problem);
  return check.rollout;
}
