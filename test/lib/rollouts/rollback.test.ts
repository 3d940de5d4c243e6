/**
 * A rollout's rollback against real Table Storage (Azurite: the registry, the ledger, the releases and
 * the rollout store) with a recording Durable client at the boundary: the plan marks each tenant that got
 * the release with its previous release or NotPossible (idempotently), and a rollback batch's step starts
 * each as a normal deployment of that release carrying `rollbackOf`, without touching the forward outcome.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { DurableClient } from "durable-functions";
import { startAzurite, type RunningAzurite } from "../../../dev/azurite";
import type { DeploymentRecord } from "../../../lib/deployments/model";
import { createLogger } from "../../../lib/logging/logger";
import { advanceBatchActivity, updateRolloutActivity } from "../../../lib/rollouts/activities";
import type { RolloutDeps } from "../../../lib/rollouts/deps";
import { planRollbackActivity } from "../../../lib/rollouts/rollback";
import { rolloutDepsOn } from "../../helpers/rollout-deps";
import { registrationInputSchema } from "../../../lib/tenants/model";

let azurite: RunningAzurite;
let rt: RolloutDeps;
const started: string[] = [];
const client = {
  async getStatus(instanceId: string) {
    if (instanceId.startsWith("rollout:") || started.includes(instanceId))
      return { runtimeStatus: "Running" };
    throw new Error(`HTTP 404 for ${instanceId}`);
  },
  async startNew(_name: string, options: { instanceId: string }) {
    started.push(options.instanceId);
    return options.instanceId;
  },
  async raiseEvent() {},
} as unknown as DurableClient;
const quiet = createLogger(() => {});
const TENANTS = ["old", "fresh", "failed", "moved"];

/** A Succeeded (or other) attempt of `release` at `tenant`, completed on day `day` of January. */
async function deployed(tenant: string, id: string, release: string, day: number, outcome = "Succeeded") {
  const at = `2026-01-0${day}T00:00:00.000Z`;
  await rt.ledger.create({
    id,
    tenant,
    attempt: 1,
    instanceId: `deploy:${tenant}:${id}:1`,
    phase: "Completed",
    progress: 100,
    outcome,
    specDigest: "sha256:x",
    requestedAt: at,
    updatedAt: at,
    completedAt: at,
    release,
  } as DeploymentRecord);
}

before(async () => {
  azurite = await startAzurite();
  rt = rolloutDepsOn(azurite.connectionString);
  for (const name of TENANTS)
    await rt.store.put(
      name,
      registrationInputSchema.parse({
        directoryId: "a0000000-0000-4000-8000-000000000001",
        serviceBus: { namespace: `${name}.servicebus.windows.net` },
        parameters: { region: name },
      }),
    );
  const by = { name: "test" };
  for (const version of ["1.0.0", "2.0.0", "3.0.0"])
    await rt.releases.create({
      version,
      spec: { demo: { v: version } },
      createdAt: new Date().toISOString(),
      createdBy: by,
    });
  // old ran 1.0.0 before the rollout; fresh ran nothing; failed's deployment failed; moved ran 3.0.0 since.
  await deployed("old", "first", "1.0.0", 1);
  await deployed("old", "r-rb.old", "2.0.0", 2);
  await deployed("fresh", "r-rb.fresh", "2.0.0", 2);
  await deployed("failed", "first", "1.0.0", 1);
  await deployed("failed", "r-rb.failed", "2.0.0", 2, "Failed");
  await deployed("moved", "first", "1.0.0", 1);
  await deployed("moved", "r-rb.moved", "2.0.0", 2);
  await deployed("moved", "later", "3.0.0", 3);
  const now = new Date().toISOString();
  await rt.rollouts.create(
    {
      id: "r-rb",
      state: "RollingBack",
      spec: { demo: { v: "2.0.0" } },
      release: "2.0.0",
      options: { maxConcurrency: 2, maxErrors: 0, bakeSeconds: 0, approval: "none", onHalt: "rollback" },
      waves: [{ name: "all", size: TENANTS.length, state: "Completed" }],
      currentWave: 0,
      control: {},
      requestDigest: "sha256:r",
      createdAt: now,
      updatedAt: now,
    },
    TENANTS.map((tenant) => ({
      tenant,
      wave: 0,
      phase: "Completed" as const,
      deploymentId: `r-rb.${tenant}`,
      attempt: 1,
      outcome: tenant === "failed" ? ("Failed" as const) : ("Succeeded" as const),
    })),
  );
});

after(async () => {
  await azurite.stop();
});

test("the plan marks each tenant that got the release: its previous release, or NotPossible with why; a re-run changes nothing", async () => {
  const plan = await planRollbackActivity(rt, { rolloutId: "r-rb" }, quiet);
  assert.deepEqual(plan.tenants, ["old"]);
  const rows = new Map((await rt.rollouts.tenants("r-rb")).map((r) => [r.tenant, r]));
  assert.equal(rows.get("old")?.rollback, "Pending");
  assert.equal(rows.get("old")?.rollbackRelease, "1.0.0");
  assert.equal(rows.get("fresh")?.rollback, "NotPossible");
  assert.match(rows.get("fresh")?.rollbackMessage ?? "", /no release before/);
  assert.equal(rows.get("moved")?.rollback, "NotPossible");
  assert.match(rows.get("moved")?.rollbackMessage ?? "", /3\.0\.0 since/);
  assert.equal(
    rows.get("failed")?.rollback,
    undefined,
    "a tenant that did not get the release is not rolled back",
  );
  assert.deepEqual(await planRollbackActivity(rt, { rolloutId: "r-rb" }, quiet), plan);
});

test("a rollback step starts the previous release as a normal deployment with rollbackOf; a re-run finds it", async () => {
  const step = {
    rolloutId: "r-rb",
    batchInstanceId: "rollout:r-rb:rollback:r2:b0",
    finished: [],
    sweep: false,
    inFlight: [],
    start: ["old"],
    rollback: true as const,
  };
  const first = await advanceBatchActivity(rt, client, step, quiet);
  assert.deepEqual(first.started, [{ tenant: "old", id: "r-rb.old.rollback", attempt: 1 }]);
  assert.equal(first.stop, undefined, "a spent budget does not stop a rollback");
  const again = await advanceBatchActivity(rt, client, step, quiet);
  assert.deepEqual(again.started, first.started);
  assert.deepEqual(
    started.filter((i) => i.includes("r-rb.old.rollback")),
    ["deploy:old:r-rb.old.rollback:1"],
  );
  const record = await rt.ledger.get("old", "r-rb.old.rollback", 1);
  assert.equal(record?.rollbackOf, "r-rb.old");
  assert.equal(record?.release, "1.0.0");
  assert.deepEqual(record?.rollout, { id: "r-rb", notify: step.batchInstanceId });
  const row = (await rt.rollouts.tenants("r-rb")).find((r) => r.tenant === "old");
  assert.equal(row?.rollback, "Running");
  assert.equal(row?.rollbackDeploymentId, "r-rb.old.rollback");
  assert.equal(row?.outcome, "Succeeded", "the forward outcome is untouched");
  assert.equal(
    (await rt.rollouts.tenants("r-rb", { failed: true })).length,
    1,
    "the budget count is unchanged",
  );
});

test("abort during the rollback: the rollback in flight is cancelled, the rest Skipped, the summary Aborted", async () => {
  // A tenant whose rollback had not started yet (its plan said Pending).
  await rt.rollouts.updateTenants("r-rb", [
    { tenant: "fresh", rollback: "Pending", rollbackRelease: "1.0.0" },
  ]);
  await rt.rollouts.update("r-rb", (r) => ({ ...r, control: { ...r.control, aborted: true } }));
  const r = await advanceBatchActivity(
    rt,
    client,
    {
      rolloutId: "r-rb",
      batchInstanceId: "rollout:r-rb:rollback:r2:b0",
      finished: [],
      sweep: false,
      inFlight: [{ tenant: "old", id: "r-rb.old.rollback", attempt: 1 }],
      start: ["fresh"],
      rollback: true,
    },
    quiet,
  );
  assert.equal(r.stop, "abort");
  assert.deepEqual(r.started, []);
  const cancelled = await rt.ledger.get("old", "r-rb.old.rollback", 1);
  assert.equal(cancelled?.cancelRequested?.by, "rollout:r-rb");
  const input = {
    rolloutId: "r-rb",
    state: "Aborted" as const,
    completed: true,
    rollback: "Aborted" as const,
  };
  const ended = await updateRolloutActivity(rt, client, { ...input, skipPending: true, message: "m" }, quiet);
  assert.equal(ended.control.aborted, true);
  const header = await rt.rollouts.get("r-rb");
  assert.equal(header?.state, "Aborted");
  assert.deepEqual(header?.rollback, {
    state: "Aborted",
    tenants: 3,
    succeeded: 0,
    failed: 0,
    notPossible: 1,
  });
  const fresh = (await rt.rollouts.tenants("r-rb")).find((t) => t.tenant === "fresh");
  assert.equal(fresh?.rollback, "Skipped");
});
