import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startAzurite, RunningAzurite } from "../../../dev/azurite";
import { StoredRowError } from "../../../lib/storage/rows";
import { createTableClient } from "../../../lib/storage/tables";
import { parseSelector } from "../../../lib/tenants/selector";
import { TenantStore } from "../../../lib/tenants/store";
import { OLD_AT, writeOldTenant } from "../../helpers/rows-0.1.0";
import { AT_0_3_0, writeTenant030 } from "../../helpers/rows-0.3.0";

// The tenant registry's rows across releases: what 0.1.0 wrote reads back; broken JSON is a typed error.
let azurite: RunningAzurite;
let n = 0;

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

function table() {
  const client = createTableClient(azurite.connectionString, `tenants${++n}`);
  return { client, store: new TenantStore(client) };
}

test("a registration as release 0.1.0 wrote it reads back, lists, and a replace adds schemaVersion", async () => {
  const { client, store } = table();
  await writeOldTenant(client, "oldco");
  const found = await store.require("oldco");
  assert.equal(found.directoryId, "c0000000-0000-4000-8000-0000000000aa");
  assert.deepEqual(found.auth, { mode: "sas", sasSetting: "OLDCO_SAS" });
  assert.deepEqual(found.labels, { ring: "canary" });
  assert.deepEqual(found.maintenanceWindows, [{ cron: "0 2 * * 6", durationMinutes: 120, timeZone: "UTC" }]);
  assert.equal(found.createdAt, OLD_AT);
  assert.deepEqual(
    (await store.listAll(parseSelector("ring=canary"))).map((t) => t.name),
    ["oldco"],
  );
  const { name: _n, etag: _e, createdAt: _c, updatedAt: _u, ...input } = found;
  await store.put("oldco", input);
  const row = await client.getEntity<{ schemaVersion?: number; createdAt: string }>("tenant", "oldco");
  assert.equal(row.schemaVersion, 1);
  assert.equal(row.createdAt, OLD_AT);
});

test("a row from before labels and maintenance windows existed reads them as none", async () => {
  const { client, store } = table();
  await writeOldTenant(client, "older", { labels: undefined, maintenanceWindows: undefined });
  const found = await store.require("older");
  assert.deepEqual(found.labels, {});
  assert.deepEqual(found.maintenanceWindows, []);
});

test("corrupted labels or maintenance windows are a StoredRowError naming the row, never a silent default", async () => {
  const { client, store } = table();
  for (const [name, column, value] of [
    ["badlabels", "labels", "{"],
    ["badwindows", "maintenanceWindows", "undefined"],
    ["notalist", "maintenanceWindows", "{}"],
  ] as const) {
    await writeOldTenant(client, name, { [column]: value });
    await assert.rejects(store.get(name), (error: unknown) => {
      assert.ok(error instanceof StoredRowError, String(error));
      assert.equal(error.table, client.tableName);
      assert.equal(error.partitionKey, "tenant");
      assert.equal(error.rowKey, name);
      assert.equal(error.column, column);
      return true;
    });
  }
});

test("a registration as 0.3.0 (or 0.1.0) wrote it, without `network`, reads as public; private round-trips", async () => {
  const { client, store } = table();
  await writeTenant030(client, "threeco");
  await writeOldTenant(client, "oldco");
  const three = await store.require("threeco");
  assert.equal(three.network, "public");
  assert.equal(three.createdAt, AT_0_3_0);
  assert.equal((await store.require("oldco")).network, "public");
  // A value this release does not know (a newer release's) reads as public: never a refused row.
  await writeTenant030(client, "newerco", { network: "somethingNew" });
  assert.equal((await store.require("newerco")).network, "public");
  // Written by today's code: the column is set, and a private registration reads back private.
  const { name: _n, etag: _e, createdAt: _c, updatedAt: _u, ...input } = three;
  await store.put("threeco", { ...input, network: "private" });
  assert.equal((await store.require("threeco")).network, "private");
  const row = await client.getEntity<{ network?: string }>("tenant", "threeco");
  assert.equal(row.network, "private");
});
