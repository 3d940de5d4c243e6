/**
 * The "one truth per deployment" check, through the public APIs: the record is terminal, its orchestration
 * instance is terminal, and they tell the same story (the record's outcome is the instance's output, or
 * Terminated for a terminated instance, or Failed for a purged one). The instance may finish a moment
 * after the record (it writes the outcome, then returns), so the check waits for it, briefly. Used by the
 * tests (test/helpers/one-truth.ts), `npm run demo` and `npm run chaos`.
 */

export interface DeploymentView {
  id: string;
  attempt: number;
  instanceId: string;
  phase: string;
  outcome?: string;
  message?: string;
  timeline?: { source: string; event: string; sequence?: number }[];
}

interface InstanceStatus {
  runtimeStatus: string;
  output: unknown;
}

export type TruthCheck =
  | { ok: true; record: DeploymentView }
  | { ok: false; problem: string; record?: DeploymentView; stuck: boolean; lost: boolean };

const TERMINAL = new Set(["Completed", "Terminated", "Failed", "Canceled"]);

/** `origin` is the host's origin (`http://localhost:7071`), without `/api`. */
async function instanceStatus(origin: string, instanceId: string): Promise<InstanceStatus | undefined> {
  const res = await fetch(
    `${origin}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}?showInput=false`,
  );
  if (res.status === 404) return undefined;
  return (await res.json()) as InstanceStatus;
}

/** Checks the latest attempt of a deployment, waiting up to `waitMs` for both sides to settle. */
export async function checkOneTruth(
  origin: string,
  deploymentId: string,
  waitMs = 10_000,
): Promise<TruthCheck> {
  const until = Date.now() + waitMs;
  let record: DeploymentView | undefined;
  let instance: InstanceStatus | undefined;
  for (;;) {
    const res = await fetch(`${origin}/api/deployments/${encodeURIComponent(deploymentId)}`);
    if (res.status === 404) {
      if (Date.now() > until)
        return { ok: false, problem: `deployment ${deploymentId} has no record`, stuck: false, lost: true };
    } else {
      record = (await res.json()) as DeploymentView;
      instance = await instanceStatus(origin, record.instanceId);
      const settled = record.phase === "Completed" && (!instance || TERMINAL.has(instance.runtimeStatus));
      if (settled || Date.now() > until) break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const where = `deployment ${deploymentId} attempt ${record.attempt}: record ${JSON.stringify({
    phase: record.phase,
    outcome: record.outcome,
    message: record.message,
  })}, instance ${JSON.stringify(instance ?? "purged")}`;
  const fail = (problem: string, stuck = false): TruthCheck => ({
    ok: false,
    problem: `${problem}: ${where}`,
    record,
    stuck,
    lost: false,
  });
  if (record.phase !== "Completed") return fail("record not terminal", true);
  if (!instance) {
    if (record.outcome === "Failed" && /purged|never started/.test(record.message ?? ""))
      return { ok: true, record };
    return fail("instance missing");
  }
  if (!TERMINAL.has(instance.runtimeStatus)) return fail("instance not terminal", true);
  if (instance.runtimeStatus === "Completed") {
    const output = instance.output as { outcome?: string; attempt?: number } | null;
    if (output?.outcome !== record.outcome) return fail("outcomes differ");
    if (output?.attempt !== undefined && output.attempt !== record.attempt) return fail("attempts differ");
  } else if (instance.runtimeStatus === "Terminated") {
    if (record.outcome !== "Terminated") return fail("terminated instance, record not Terminated");
  } else if (record.outcome !== "Failed") return fail("failed instance, record not Failed");
  return { ok: true, record };
}

export interface RolloutView {
  id: string;
  state: string;
  errors?: number;
  maxErrors: number;
  waves: {
    name: string;
    state: string;
    total: number;
    succeeded?: number;
    failed?: number;
    running?: number;
  }[];
  tenants?: {
    tenant: string;
    phase: string;
    deploymentId?: string;
    outcome?: string;
    message?: string;
    /** A health-gated rollout's verdict on the tenant (Healthy, Unhealthy, Unknown). */
    health?: string;
    /** The tenant's rollback (onHalt "rollback"), if it was rolled back. */
    rollback?: { state: string; deploymentId?: string; outcome?: string; message?: string };
  }[];
  createdAt: string;
  completedAt?: string;
}

export type RolloutTruthCheck = { ok: true; rollout: RolloutView } | { ok: false; problem: string };

const FINAL_ROLLOUT = new Set(["Succeeded", "Halted", "Aborted"]);

/**
 * The same invariant for a rollout: its record is final, its orchestration (`rollout:<id>`) Completed
 * with the record's state as output, every tenant ended (Completed or Skipped), and every deployment it
 * started has one truth with the outcome the rollout recorded for it. Waits up to `waitMs` for the
 * orchestration to return after the record is written.
 */
export async function checkRolloutTruth(
  origin: string,
  rolloutId: string,
  waitMs = 10_000,
): Promise<RolloutTruthCheck> {
  const until = Date.now() + waitMs;
  let rollout: RolloutView;
  let instance: InstanceStatus | undefined;
  for (;;) {
    const res = await fetch(`${origin}/api/rollouts/${encodeURIComponent(rolloutId)}`);
    if (!res.ok) return { ok: false, problem: `rollout ${rolloutId}: GET answered ${res.status}` };
    rollout = (await res.json()) as RolloutView;
    instance = await instanceStatus(origin, `rollout:${rolloutId}`);
    const settled = FINAL_ROLLOUT.has(rollout.state) && instance?.runtimeStatus === "Completed";
    if (settled || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const where = `rollout ${rolloutId}: record ${rollout.state}, instance ${JSON.stringify(instance ?? "missing")}`;
  if (!FINAL_ROLLOUT.has(rollout.state) || !rollout.completedAt)
    return { ok: false, problem: `record not final: ${where}` };
  if (instance?.runtimeStatus !== "Completed")
    return { ok: false, problem: `instance not Completed: ${where}` };
  if (instance.output !== rollout.state)
    return { ok: false, problem: `record and instance differ: ${where}` };
  for (const t of rollout.tenants ?? []) {
    if (t.phase !== "Completed" && t.phase !== "Skipped")
      return { ok: false, problem: `${where}: tenant ${t.tenant} not ended (${t.phase})` };
    // A tenant that could not take the deployment has a record of the rollout's only.
    if (!t.deploymentId || t.message?.startsWith("not started")) continue;
    const check = await checkOneTruth(origin, t.deploymentId, waitMs);
    if (!check.ok) return { ok: false, problem: check.problem };
    if (check.record.outcome !== t.outcome)
      return {
        ok: false,
        problem: `${where}: tenant ${t.tenant} is ${t.outcome} in the rollout, ${check.record.outcome} in its deployment`,
      };
  }
  const rollbacks = await checkRollbacks(origin, rollout, where, waitMs);
  return rollbacks ? { ok: false, problem: rollbacks } : { ok: true, rollout };
}

/**
 * A rollback started by the rollout has one truth too: no tenant's rollback is left Pending or Running,
 * and each rollback deployment's outcome is the rollout's. Answers the problem, if any.
 */
async function checkRollbacks(
  origin: string,
  rollout: RolloutView,
  where: string,
  waitMs: number,
): Promise<string | undefined> {
  for (const t of rollout.tenants ?? []) {
    const rb = t.rollback;
    if (!rb) continue;
    if (rb.state === "Pending" || rb.state === "Running")
      return `${where}: tenant ${t.tenant}'s rollback not ended (${rb.state})`;
    if (!rb.deploymentId || rb.message?.startsWith("not started")) continue;
    const check = await checkOneTruth(origin, rb.deploymentId, waitMs);
    if (!check.ok) return check.problem;
    if (check.record.outcome !== rb.outcome)
      return `${where}: tenant ${t.tenant}'s rollback is ${rb.outcome} in the rollout, ${check.record.outcome} in its deployment`;
  }
  return undefined;
}
