import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";
import { localProviderSettings } from "../../helpers/provider";

// The dev host does not run App Service Authentication. The Provider with role checks on refuses to serve
// there (503), as it would in Azure without it, unless the host is asked to emulate it; a
// WEBSITE_AUTH_ENABLED from the machine or local.settings.json does not count (only the platform sets it).
const root = path.join(__dirname, "..", "..", "..", "..");
let azurite: RunningAzurite;
let host: RunningHost | undefined;

before(async () => {
  azurite = await startAzurite();
});

after(async () => {
  await host?.stop();
  await azurite.stop();
});

const principal = (roles: string[]) =>
  Buffer.from(
    JSON.stringify({ auth_typ: "aad", claims: roles.map((val) => ({ typ: "roles", val })) }),
  ).toString("base64");

async function start(emulateAppServiceAuth: boolean) {
  await host?.stop();
  host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    emulateAppServiceAuth,
    settings: localProviderSettings(azurite.connectionString, [], { AUTH_REQUIRE_ROLES: "true" }),
    log: () => undefined,
  });
}

const get = async (p: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${host!.url}/api/${p}`, { headers });
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
};

test("not emulated: every API request is a 503 problem, a WEBSITE_AUTH_ENABLED set by hand is ignored", async () => {
  process.env.WEBSITE_AUTH_ENABLED = "True";
  await start(false);
  assert.equal(process.env.WEBSITE_AUTH_ENABLED, undefined);
  for (const p of ["tenants", "deployments/d-1", "rollouts", "no/such/route"]) {
    const res = await get(p, { "x-ms-client-principal": principal(["Tenants.Admin", "Deployments.Read"]) });
    assert.equal(res.status, 503, `${p}: ${res.body}`);
    assert.equal(res.type, "application/problem+json");
    assert.match(res.body, /App Service Authentication is not enabled/);
  }
});

test("emulated: the caller's principal decides (401 without one, 403 without the role, 200 with it)", async () => {
  await start(true);
  assert.equal(process.env.WEBSITE_AUTH_ENABLED, "True");
  assert.equal((await get("tenants")).status, 401);
  assert.equal((await get("tenants", { "x-ms-client-principal": principal(["Audit.Read"]) })).status, 403);
  const ok = await get("tenants", { "x-ms-client-principal": principal(["Tenants.Read"]) });
  assert.equal(ok.status, 200, ok.body);
});
