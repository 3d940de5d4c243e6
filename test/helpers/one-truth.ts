/**
 * The "one truth per deployment" invariant, checked through the public APIs after an end-to-end scenario:
 * the record is terminal, its orchestration instance is terminal, and they tell the same story (the
 * record's outcome is the instance's output, or Terminated for a terminated instance, or Failed for a
 * purged one). The instance may finish a moment after the record (it writes the outcome, then returns),
 * so the check waits for it, briefly; what it asserts is order-free.
 */
import assert from "node:assert/strict";

interface Record_ {
  id: string;
  attempt: number;
  instanceId: string;
  phase: string;
  outcome?: string;
  message?: string;
}

interface InstanceStatus {
  runtimeStatus: string;
  output: unknown;
}

async function instanceStatus(baseUrl: string, instanceId: string): Promise<InstanceStatus | undefined> {
  const res = await fetch(
    `${baseUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}?showInput=false`,
  );
  if (res.status === 404) return undefined;
  return (await res.json()) as InstanceStatus;
}

const TERMINAL = new Set(["Completed", "Terminated", "Failed", "Canceled"]);

/** Asserts the invariant for the latest attempt of a deployment; returns the record. */
export async function assertOneTruth(
  baseUrl: string,
  deploymentId: string,
  waitMs = 10_000,
): Promise<Record_> {
  const until = Date.now() + waitMs;
  let record: Record_;
  let instance: InstanceStatus | undefined;
  for (;;) {
    const res = await fetch(`${baseUrl}/api/deployments/${encodeURIComponent(deploymentId)}`);
    assert.equal(res.status, 200, `deployment ${deploymentId}: ${res.status}`);
    record = (await res.json()) as Record_;
    instance = await instanceStatus(baseUrl, record.instanceId);
    const settled = record.phase === "Completed" && (!instance || TERMINAL.has(instance.runtimeStatus));
    if (settled || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const where = `deployment ${deploymentId} attempt ${record.attempt}: record ${JSON.stringify({
    phase: record.phase,
    outcome: record.outcome,
    message: record.message,
  })}, instance ${JSON.stringify(instance ?? "purged")}`;
  assert.equal(record.phase, "Completed", `record not terminal: ${where}`);
  if (!instance) {
    assert.equal(record.outcome, "Failed", where);
    assert.match(record.message ?? "", /purged|never started/, where);
    return record;
  }
  assert.ok(TERMINAL.has(instance.runtimeStatus), `instance not terminal: ${where}`);
  if (instance.runtimeStatus === "Completed") {
    const output = instance.output as { outcome?: string; attempt?: number };
    assert.equal(output.outcome, record.outcome, where);
    if (output.attempt !== undefined) assert.equal(output.attempt, record.attempt, where);
  } else if (instance.runtimeStatus === "Terminated") {
    assert.equal(record.outcome, "Terminated", where);
  } else {
    assert.equal(record.outcome, "Failed", where);
  }
  return record;
}

/** Asserts the tenant has no deployment left in flight (after reconciliation). */
export async function assertNothingInFlight(baseUrl: string, tenant: string): Promise<void> {
  const res = await fetch(`${baseUrl}/api/tenants/${tenant}/deployments?status=active`);
  const body = (await res.json()) as { items: Record_[] };
  assert.deepEqual(
    body.items.map((r) => `${r.id}#${r.attempt}`),
    [],
    `tenant ${tenant} still has deployments in flight`,
  );
}
