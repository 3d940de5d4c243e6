import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { localProviderSettings } from "../../helpers/provider";
import { registerLocalTenant } from "../../helpers/tenants";
import { namespaceConfig, startEmulator } from "../../helpers/servicebus";

// No cross-site requests: through the Provider app on the dev host, a state-changing
// request a browser marks as from another site is a 403 and changes nothing; CLI-style requests (no
// Origin) and the app's own origin work.
const root = path.join(__dirname, "..", "..", "..", "..");
const DIRECTORY = "c0000000-0000-4000-8000-000000000001";
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;

before(async () => {
  azurite = await startAzurite();
  emulator = await startEmulator([namespaceConfig("contoso", [{ name: "commands" }, { name: "status" }])]);
  host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    settings: localProviderSettings(azurite.connectionString, emulator.namespaces),
    log: () => undefined,
  });
  await registerLocalTenant(host.url, "contoso", DIRECTORY, { limits: { maxConcurrentDeployments: 1000 } });
});

after(async () => {
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
});

const EVIL = { origin: "https://evil.example", "sec-fetch-site": "cross-site" };

async function send(method: string, pathAndQuery: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(`${host!.url}/api/${pathAndQuery}`, {
    method,
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown>,
  };
}

function assertRefused(res: Awaited<ReturnType<typeof send>>, why: RegExp) {
  assert.equal(res.status, 403, JSON.stringify(res.body));
  assert.equal(res.contentType, "application/problem+json");
  assert.match(String(res.body.detail), why);
}

async function startDeployment(headers: Record<string, string> = {}) {
  const res = await send("POST", "tenants/contoso/deployments", headers, { spec: { template: "web" } });
  return res;
}

const phaseOf = async (id: string) => (await send("GET", `deployments/${id}`, {})).body;

describe("cross-site state-changing requests", () => {
  test("a cross-site cancel is 403 naming why, and the deployment is not cancelled", async () => {
    const started = await startDeployment();
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const id = String(started.body.id);
    const before = await phaseOf(id);
    assertRefused(await send("POST", `deployments/${id}/cancel`, EVIL), /Cross-site request refused/);
    assertRefused(
      await send("POST", `deployments/${id}/cancel`, { origin: "https://evil.example" }),
      /Origin "https:\/\/evil\.example" is not this app's origin/,
    );
    assertRefused(
      await send("POST", `deployments/${id}/cancel`, { "sec-fetch-site": "cross-site" }),
      /Sec-Fetch-Site is "cross-site"/,
    );
    const after = await phaseOf(id);
    assert.equal(after.phase, before.phase);
    assert.equal(after.outcome, undefined);
    assert.deepEqual(after.timeline, before.timeline);
  });

  test("another subdomain of the same site (Sec-Fetch-Site: same-site) and an opaque origin are refused", async () => {
    const started = await startDeployment();
    const id = String(started.body.id);
    assertRefused(
      await send("POST", `deployments/${id}/cancel`, {
        origin: "https://other.azurewebsites.net",
        "sec-fetch-site": "same-site",
      }),
      /same-site/,
    );
    assertRefused(await send("POST", `deployments/${id}/cancel`, { origin: "null" }), /Origin "null"/);
    assert.equal((await phaseOf(id)).outcome, undefined);
  });

  test("a cross-site start is 403 and starts nothing", async () => {
    const before = await send("GET", "tenants/contoso/deployments", {});
    assertRefused(await startDeployment(EVIL), /Cross-site/);
    const after = await send("GET", "tenants/contoso/deployments", {});
    assert.equal((after.body.items as unknown[]).length, (before.body.items as unknown[]).length);
  });

  test("a cross-site PUT or DELETE of a tenant is 403 and the registration is unchanged", async () => {
    const before = await send("GET", "tenants/contoso", {});
    assert.equal(before.status, 200);
    assertRefused(
      await send("PUT", "tenants/contoso", EVIL, {
        directoryId: DIRECTORY,
        displayName: "Pwned",
        serviceBus: { namespace: "contoso.servicebus.localhost" },
        auth: { mode: "sas", sasSetting: "TENANT_CONTOSO_SAS" },
      }),
      /Cross-site/,
    );
    assertRefused(await send("PUT", "tenants/newcomer", EVIL, {}), /Cross-site/);
    assertRefused(await send("DELETE", "tenants/contoso", EVIL), /Cross-site/);
    const after = await send("GET", "tenants/contoso", {});
    assert.equal(after.status, 200);
    assert.deepEqual(after.body, before.body);
    assert.equal((await send("GET", "tenants/newcomer", {})).status, 404);
  });

  test("reads are not affected by the check", async () => {
    assert.equal((await send("GET", "tenants/contoso", EVIL)).status, 200);
  });

  test("requests without Origin (CLI, SDK) and from the app's own origin change state", async () => {
    const own = new URL(host!.url).origin;
    const a = await startDeployment({ origin: own, "sec-fetch-site": "same-origin" });
    assert.equal(a.status, 202, JSON.stringify(a.body));
    const cancelled = await send("POST", `deployments/${String(a.body.id)}/cancel`, {
      origin: own,
      "sec-fetch-site": "same-origin",
    });
    assert.equal(cancelled.status, 202, JSON.stringify(cancelled.body));
    const b = await startDeployment();
    assert.equal(b.status, 202, JSON.stringify(b.body));
    const cancelledB = await send("POST", `deployments/${String(b.body.id)}/cancel`, {});
    assert.equal(cancelledB.status, 202, JSON.stringify(cancelledB.body));
    // A user typing the URL (Sec-Fetch-Site: none) is not cross-site either.
    const c = await startDeployment({ "sec-fetch-site": "none" });
    assert.equal(c.status, 202, JSON.stringify(c.body));
  });
});
