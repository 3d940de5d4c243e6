import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startAzurite, RunningAzurite } from "../../../dev/azurite";
import type { RolloutRecord } from "../../../lib/rollouts/model";
import { RolloutStore } from "../../../lib/rollouts/store";
import { StoredRowError } from "../../../lib/storage/rows";
import { createTableClient } from "../../../lib/storage/tables";
import { oldRolloutRecord, OLD_AT, writeOldRollout } from "../../helpers/rows-0.1.0";

// The rollout store's rows across releases: what 0.1.0 wrote reads back; broken JSON is a typed error.
let azurite: RunningAzurite;
let n = 0;

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

function table() {
  const client = createTableClient(azurite.connectionString, `rollouts${++n}`);
  return { client, store: new RolloutStore(client) };
}

function record(id: string): RolloutRecord {
  return {
    id,
    state: "Running",
    spec: { template: "web" },
    options: { maxConcurrency: 1, maxErrors: 0, bakeSeconds: 0, approval: "none" },
    waves: [{ name: "all", size: 1, state: "Running" }],
    currentWave: 0,
    control: {},
    requestDigest: "sha256:x",
    createdAt: OLD_AT,
    updatedAt: OLD_AT,
  };
}

const tenantRow = (tenant: string) => ({ tenant, wave: 0, phase: "Pending" as const });

test("new header and tenant rows carry schemaVersion 1, merges of tenant rows too", async () => {
  const { client, store } = table();
  await store.create(record("r1"), [tenantRow("contoso")]);
  await store.updateTenants("r1", [{ tenant: "contoso", phase: "Running", deploymentId: "d1" }]);
  await store.update("r1", (r) => ({ ...r, message: "m" }));
  for (const rowKey of ["_", "t|contoso"])
    assert.equal((await client.getEntity<{ schemaVersion?: number }>("r1", rowKey)).schemaVersion, 1, rowKey);
});

test("a rollout as release 0.1.0 wrote it reads back (header, spec, tenants, list) and updates", async () => {
  const { client, store } = table();
  await writeOldRollout(client, "old1", ["contoso", "fabrikam"], { template: "web", version: "1.0.0" });
  const { etag, ...found } = (await store.get("old1")) as RolloutRecord;
  assert.ok(etag);
  assert.deepEqual(found, {
    ...oldRolloutRecord("old1", ["contoso", "fabrikam"]),
    spec: { template: "web", version: "1.0.0" },
  });
  assert.deepEqual(
    (await store.tenants("old1")).map((t) => [t.tenant, t.phase, t.outcome, t.deploymentId]),
    [
      ["contoso", "Completed", "Succeeded", "old1-contoso"],
      ["fabrikam", "Completed", "Succeeded", "old1-fabrikam"],
    ],
  );
  assert.deepEqual(await store.tenants("old1", { failed: true }), []);
  assert.deepEqual(
    (await store.list(10)).map((r) => r.id),
    ["old1"],
  );
  const updated = await store.update("old1", (r) => ({ ...r, message: "touched" }));
  assert.equal(updated.message, "touched");
  assert.deepEqual(updated.spec, { template: "web", version: "1.0.0" });
  assert.equal((await client.getEntity<{ schemaVersion?: number }>("old1", "_")).schemaVersion, 1);
});

test("a header from before the spec had its own column (spec inside json) still reads", async () => {
  const { client, store } = table();
  await client.createTable();
  await client.createEntity({
    partitionKey: "older",
    rowKey: "_",
    json: JSON.stringify({ ...oldRolloutRecord("older", []), spec: { template: "api" } }),
    state: "Succeeded",
    createdAt: OLD_AT,
  });
  assert.deepEqual((await store.get("older"))?.spec, { template: "api" });
});

test("a corrupted json or spec column, or no spec anywhere, is a StoredRowError naming the row", async () => {
  const { client, store } = table();
  await store.create(record("bad"), []);
  const expect = (column: string, reason: RegExp) =>
    assert.rejects(store.get("bad"), (error: unknown) => {
      assert.ok(error instanceof StoredRowError, String(error));
      assert.equal(error.table, client.tableName);
      assert.equal(error.partitionKey, "bad");
      assert.equal(error.rowKey, "_");
      assert.equal(error.column, column);
      assert.match(error.message, reason);
      return true;
    });
  await client.updateEntity({ partitionKey: "bad", rowKey: "_", spec: "undefined" }, "Merge");
  await expect("spec", /not valid JSON/);
  const good = JSON.stringify({ template: "web" });
  await client.updateEntity({ partitionKey: "bad", rowKey: "_", spec: good, json: "{" }, "Merge");
  await expect("json", /not valid JSON/);
  const { spec: _spec, ...withoutSpec } = record("bad");
  await client.upsertEntity(
    {
      partitionKey: "bad",
      rowKey: "_",
      json: JSON.stringify(withoutSpec),
      state: "Running",
      createdAt: OLD_AT,
    },
    "Replace",
  );
  await expect("spec", /is missing/);
  await assert.rejects(store.list(10), StoredRowError);
});
