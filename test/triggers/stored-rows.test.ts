import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../dev/azurite";
import { RunningHost, startHost } from "../../dev/host";
import { DEPLOYMENTS_TABLE } from "../../lib/deployments/ledger";
import { ROLLOUTS_TABLE } from "../../lib/rollouts/store";
import { createTableClient } from "../../lib/storage/tables";
import { TENANT_HEALTH_TABLE } from "../../lib/tenants/health";
import { TENANTS_TABLE } from "../../lib/tenants/store";
import { localProviderSettings } from "../helpers/provider";
import {
  OLD_AT,
  writeOldDeployment,
  writeOldRollout,
  writeOldTenant,
  writeOldVerify,
} from "../helpers/rows-0.1.0";

// The Provider app on the dev host over rows exactly as release 0.1.0 wrote them (no schemaVersion): every
// read of the API answers 200 with the old row's content, never a 500.
const root = path.join(__dirname, "..", "..", "..");
let azurite: RunningAzurite;
let host: RunningHost | undefined;

before(async () => {
  azurite = await startAzurite();
  const table = (name: string) => createTableClient(azurite.connectionString, name);
  await writeOldTenant(table(TENANTS_TABLE), "oldco");
  await writeOldVerify(table(TENANT_HEALTH_TABLE), "oldco");
  await writeOldDeployment(table(DEPLOYMENTS_TABLE), "oldco", "old-dep");
  await writeOldRollout(table(ROLLOUTS_TABLE), "old-rollout", ["oldco"]);
  host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    settings: localProviderSettings(azurite.connectionString, []),
    log: () => {},
  });
});

after(async () => {
  await host?.stop();
  await azurite.stop();
});

async function get(p: string): Promise<Record<string, unknown>> {
  const res = await fetch(new URL(p, host!.url));
  const text = await res.text();
  assert.equal(res.status, 200, `${p}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

test("GET of a tenant, its health and its list over 0.1.0 rows answers 200", async () => {
  const tenant = await get("/api/tenants/oldco");
  assert.equal(tenant.name, "oldco");
  assert.deepEqual(tenant.labels, { ring: "canary" });
  assert.equal(tenant.createdAt, OLD_AT);
  await get("/api/tenants/oldco/health");
  const list = await get("/api/tenants");
  assert.deepEqual(
    (list.items as { name: string }[]).map((t) => t.name),
    ["oldco"],
  );
});

test("GET of a deployment and the tenant's deployments over 0.1.0 rows answers 200", async () => {
  const dep = await get("/api/deployments/old-dep");
  assert.equal(dep.id, "old-dep");
  assert.equal(dep.outcome, "Succeeded");
  const list = await get("/api/tenants/oldco/deployments");
  assert.deepEqual(
    (list.items as { id: string }[]).map((d) => d.id),
    ["old-dep"],
  );
});

test("GET of a rollout and the rollout list over 0.1.0 rows answers 200", async () => {
  const rollout = await get("/api/rollouts/old-rollout");
  assert.equal(rollout.id, "old-rollout");
  assert.equal(rollout.state, "Succeeded");
  const list = await get("/api/rollouts");
  assert.ok(JSON.stringify(list).includes("old-rollout"));
});
