import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startAzurite, RunningAzurite } from "../../../dev/azurite";
import { createTableClient } from "../../../lib/storage/tables";
import { TenantHealthStore } from "../../../lib/tenants/health";
import { OLD_AT, writeOldVerify } from "../../helpers/rows-0.1.0";

// Tenant health rows across releases: 0.1.0's read back; a broken one reads as "no check yet".
let azurite: RunningAzurite;

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

test("a check as 0.1.0 wrote it reads back; new rows carry schemaVersion 1; a broken row reads as none", async () => {
  const client = createTableClient(azurite.connectionString, "tenanthealth1");
  const health = new TenantHealthStore(client);
  await writeOldVerify(client, "oldco");
  assert.deepEqual(await health.lastVerify("oldco"), { at: OLD_AT, ok: true, latencyMs: 42 });
  await health.recordVerify("newco", { at: OLD_AT, ok: false, failedStep: "send", detail: "x" });
  assert.equal((await client.getEntity<{ schemaVersion?: number }>("verify", "newco")).schemaVersion, 1);
  assert.equal((await health.lastVerify("newco"))?.failedStep, "send");
  await client.upsertEntity({ partitionKey: "verify", rowKey: "broken", json: "{" }, "Replace");
  await client.upsertEntity({ partitionKey: "verify", rowKey: "empty" }, "Replace");
  assert.equal(await health.lastVerify("broken"), undefined);
  assert.equal(await health.lastVerify("empty"), undefined);
  assert.equal(await health.lastVerify("nobody"), undefined);
});
