/**
 * The batch's one step, `advanceBatch`, against real Table Storage (Azurite: the registry, the ledger and
 * the rollout store) with a recording Durable client at the boundary: a re-run of the step after a crash
 * or a retry must find the deployments it started, and a tenant that cannot take its deployment is a
 * failure the budget counts.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { DurableClient } from "durable-functions";
import { startAzurite, type RunningAzurite } from "../../../dev/azurite";
import type { RolloutDeps } from "../../../lib/rollouts/deps";
import { createLogger } from "../../../lib/logging/logger";
import { advanceBatchActivity } from "../../../lib/rollouts/activities";
import type { AdvanceBatchInput } from "../../../lib/rollouts/contract";
import { rolloutDepsOn } from "../../helpers/rollout-deps";
import { registrationInputSchema } from "../../../lib/tenants/model";

let azurite: RunningAzurite;
let rt: RolloutDeps;
const started: string[] = [];
const raised: string[] = [];
/** Rollout instances that ended Failed (a failure of the Provider's own), with their output. */
const failedRollouts = new Map<string, string>();
const client = {
  async getStatus(instanceId: string) {
    const failed = failedRollouts.get(instanceId);
    if (failed !== undefined) return { runtimeStatus: "Failed", output: failed };
    if (instanceId.startsWith("rollout:") || started.includes(instanceId))
      return { runtimeStatus: "Running" };
    throw new Error(`HTTP 404 for ${instanceId}`);
  },
  async startNew(_name: string, options: { instanceId: string }) {
    started.push(options.instanceId);
    return options.instanceId;
  },
  async raiseEvent(instanceId: string, event: string) {
    raised.push(`${instanceId} ${event}`);
  },
} as unknown as DurableClient;
const quiet = createLogger(() => {});

before(async () => {
  azurite = await startAzurite();
  rt = rolloutDepsOn(azurite.connectionString);
  const register = (name: string, state: "active" | "suspended", limit: number) =>
    rt.store.put(
      name,
      registrationInputSchema.parse({
        directoryId: "a0000000-0000-4000-8000-000000000001",
        serviceBus: { namespace: `${name}.servicebus.windows.net` },
        limits: { maxConcurrentDeployments: limit },
        state,
      }),
    );
  await register("acme", "active", 1);
  await register("dormant", "suspended", 10);
  await register("noisy", "active", 10);
});

after(async () => {
  await azurite.stop();
});

async function rollout(id: string, tenants: string[], maxErrors: number) {
  const now = new Date().toISOString();
  await rt.rollouts.create(
    {
      id,
      state: "Running",
      spec: { demo: {} },
      options: { maxConcurrency: 2, maxErrors, bakeSeconds: 0, approval: "none" },
      waves: [{ name: "all", size: tenants.length, state: "Running" }],
      currentWave: 0,
      control: {},
      requestDigest: "sha256:x",
      createdAt: now,
      updatedAt: now,
    },
    tenants.map((tenant) => ({ tenant, wave: 0, phase: "Pending" as const })),
  );
}

const step = (rolloutId: string, start: string[]): AdvanceBatchInput => ({
  rolloutId,
  batchInstanceId: `rollout:${rolloutId}:w0:r1:b0`,
  finished: [],
  sweep: false,
  inFlight: [],
  start,
});

test("a re-run of the step finds the deployment it started (even at the tenant's limit of 1): started once, not refused", async () => {
  await rollout("r-rerun", ["acme"], 0);
  const first = await advanceBatchActivity(rt, client, step("r-rerun", ["acme"]), quiet);
  const again = await advanceBatchActivity(rt, client, step("r-rerun", ["acme"]), quiet);
  assert.deepEqual(first.started, [{ tenant: "acme", id: "r-rerun.acme", attempt: 1 }]);
  assert.deepEqual(again.started, first.started);
  assert.deepEqual(again.finished, []);
  assert.equal(again.stop, undefined);
  assert.deepEqual(
    started.filter((i) => i.includes("r-rerun")),
    ["deploy:acme:r-rerun.acme:1"],
  );
  const [row] = await rt.rollouts.tenants("r-rerun");
  assert.equal(row?.phase, "Running");
  assert.equal((await rt.ledger.get("acme", "r-rerun.acme", 1))?.rollout?.id, "r-rerun");
});

test("a tenant that cannot take its deployment is a failure: recorded, counted, and past the budget it halts", async () => {
  await rollout("r-refused", ["dormant"], 0);
  const r = await advanceBatchActivity(rt, client, step("r-refused", ["dormant"]), quiet);
  assert.deepEqual(r.started, []);
  assert.equal(r.finished[0]?.outcome, "Failed");
  assert.match(r.finished[0]?.message ?? "", /not started: .*suspended/);
  assert.equal(r.stop, "halt");
  const [row] = await rt.rollouts.tenants("r-refused");
  assert.equal(row?.outcome, "Failed");
  assert.equal((await rt.rollouts.tenants("r-refused", { failed: true })).length, 1);
});

test("a quarantined tenant is not started: a failure naming the quarantine, counted against the budget", async () => {
  await rt.health.recordBadMessages("noisy", 100, "InvalidJson", { badMessages: 100, windowSeconds: 600 });
  await rollout("r-noisy", ["noisy"], 0);
  const r = await advanceBatchActivity(rt, client, step("r-noisy", ["noisy"]), quiet);
  assert.deepEqual(r.started, []);
  assert.equal(r.finished[0]?.outcome, "Failed");
  assert.match(
    r.finished[0]?.message ?? "",
    /not started: Tenant "noisy" is quarantined since .*100 bad status messages.*InvalidJson/,
  );
  assert.equal(r.stop, "halt");
});

test("a rollout whose orchestration failed (ours, not the customers') halts: nothing new starts, nothing in flight is cancelled", async () => {
  await rollout("r-ours", ["acme", "dormant"], 5);
  failedRollouts.set(
    "rollout:r-ours",
    "Orchestrator function 'rollout' failed: Non-deterministic orchestration",
  );
  const r = await advanceBatchActivity(
    rt,
    client,
    {
      ...step("r-ours", ["dormant"]),
      inFlight: [{ tenant: "acme", id: "r-ours.acme", attempt: 1 }],
    },
    quiet,
  );
  assert.equal(r.stop, "halt");
  assert.deepEqual(r.started, []);
  assert.deepEqual(
    raised.filter((e) => e.includes("r-ours")),
    [],
    "no deployment of the rollout is asked to cancel",
  );
  const record = await rt.rollouts.get("r-ours");
  assert.equal(record?.state, "Halted");
  assert.match(record?.message ?? "", /orchestration failed .*nothing was cancelled.*Non-deterministic/);
});

test("a deploymentFinished the ledger does not hold is ignored, and the outcome counted is the ledger's", async () => {
  await rt.store.put(
    "bravo",
    registrationInputSchema.parse({
      directoryId: "a0000000-0000-4000-8000-000000000002",
      serviceBus: { namespace: "bravo.servicebus.windows.net" },
    }),
  );
  await rollout("r-forged", ["bravo"], 0);
  const first = await advanceBatchActivity(rt, client, step("r-forged", ["bravo"]), quiet);
  const d = first.started[0]!;
  assert.equal(d.id, "r-forged.bravo");
  // Raised through the Durable API by someone holding its links: the deployment has not ended.
  const forged = { ...d, outcome: "Succeeded" as const };
  // As the batch builds it: the reported tenant taken out of flight, its slot offered to a pending tenant.
  const ignored = await advanceBatchActivity(
    rt,
    client,
    { ...step("r-forged", ["charlie-pending"]), finished: [forged], inFlight: [] },
    quiet,
  );
  assert.deepEqual(ignored.unconfirmed, [d], "still in flight");
  assert.deepEqual(ignored.started, [], "its slot is not free: nothing more starts");
  assert.equal(ignored.stop, undefined);
  assert.equal((await rt.rollouts.tenants("r-forged"))[0]?.phase, "Running");

  // Its real end, and a (forged) event that claims otherwise: the ledger's outcome is what counts.
  await rt.ledger.complete(d.tenant, d.id, d.attempt, "Failed", "disk full");
  const counted = await advanceBatchActivity(
    rt,
    client,
    { ...step("r-forged", []), finished: [forged], inFlight: [] },
    quiet,
  );
  assert.equal(counted.unconfirmed, undefined);
  assert.equal(counted.stop, "halt", "the failure is counted against a budget of 0");
  const [row] = await rt.rollouts.tenants("r-forged");
  assert.equal(row?.outcome, "Failed");
  assert.equal(row?.message, "disk full");
});
