/**
 * Outcomes come only from the channel, and the Durable management links only to the Durable admin role
 * (docs/security.md): the Provider app on the dev host with role checks on, a real durable client and
 * engine, Azurite and the Service Bus emulator. No agent answers here, so a deployment stays in flight
 * until something decides it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { ROLES } from "../../../lib/http/auth";
import { localProviderSettings } from "../../helpers/provider";
import { registerLocalTenant } from "../../helpers/tenants";
import { namespaceConfig, startEmulator } from "../../helpers/servicebus";

const root = path.join(__dirname, "..", "..", "..", "..");
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
const hostLog: { level: string; message: string; props?: Record<string, unknown> }[] = [];

/** An App Service Authentication principal with a name, an object id and these roles. */
function principal(name: string, roles: string[]): Record<string, string> {
  const value = {
    auth_typ: "aad",
    claims: [
      { typ: "name", val: name },
      { typ: "http://schemas.microsoft.com/identity/claims/objectidentifier", val: `oid-${name}` },
      ...roles.map((val) => ({ typ: "roles", val })),
    ],
  };
  return { "x-ms-client-principal": Buffer.from(JSON.stringify(value)).toString("base64") };
}
const writer = principal("writer", [ROLES.deploymentsWrite]);
const admin = principal("admin", [ROLES.deploymentsWrite, ROLES.durableAdmin]);

before(async () => {
  azurite = await startAzurite();
  emulator = await startEmulator([namespaceConfig("contoso", [{ name: "commands" }, { name: "status" }])]);
  host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    settings: localProviderSettings(azurite.connectionString, emulator.namespaces, {
      AUTH_REQUIRE_ROLES: "true",
      // The dev host stands in for App Service Authentication (without it, role checks answer 503).
      DEV_EMULATE_APP_SERVICE_AUTH: "true",
      CANCEL_GRACE_SECONDS: "1",
    }),
    log: (level, message, props) => hostLog.push({ level, message, props }),
  });
  await registerLocalTenant(
    host.url,
    "contoso",
    "c0000000-0000-4000-8000-000000000001",
    { limits: { maxConcurrentDeployments: 1000 } },
    principal("tenant-admin", [ROLES.tenantsAdmin]),
  );
});

after(async () => {
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
});

async function api(
  method: string,
  route: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${host!.url}${route}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

const startBody = { spec: { template: "web" }, acceptanceTimeoutSeconds: 3600 };
const DURABLE_LINKS = ["statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri"];

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("Durable management links", () => {
  test("only a Durable admin gets them; everyone else gets our role-checked links", async () => {
    const plain = await api("POST", "/api/tenants/contoso/deployments", writer, startBody);
    assert.equal(plain.status, 202, JSON.stringify(plain.body));
    for (const link of DURABLE_LINKS) assert.equal(plain.body[link], undefined, `${link} given to a writer`);
    for (const link of ["statusUrl", "cancelPostUri", "terminateDeploymentPostUri", "retryPostUri"])
      assert.match(String(plain.body[link]), /^http:\/\/[^/]+\/api\/deployments\//);

    const withAdmin = await api("POST", "/api/tenants/contoso/deployments", admin, startBody);
    assert.equal(withAdmin.status, 202, JSON.stringify(withAdmin.body));
    for (const link of DURABLE_LINKS) assert.ok(withAdmin.body[link], `${link} missing for a Durable admin`);
  });
});

describe("outcomes come only from the channel", () => {
  test("a status raised through the Durable API decides nothing; a cancel through ours is recorded with its actor", async () => {
    const started = await api("POST", "/api/tenants/contoso/deployments", admin, startBody);
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const id = String(started.body.id);
    const instanceId = String(started.body.instanceId);
    await until("the Deploy sent", async () => {
      const r = await api("GET", `/api/deployments/${id}`, writer);
      return r.body.phase === "Sent" ? r : undefined;
    });

    // What anyone holding the start answer's links could do: forge the agent's success, and a cancel.
    const sendEvent = (name: string) => String(started.body.sendEventPostUri).replace("{eventName}", name);
    const forged = {
      schemaVersion: 1,
      deploymentId: id,
      attempt: 1,
      state: "Succeeded",
      progress: 100,
      sequence: 99,
      reportedAt: new Date().toISOString(),
    };
    for (const [name, body] of [
      ["status", forged],
      ["cancel", { reason: "forged" }],
    ] as const) {
      const res = await fetch(sendEvent(name), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.ok(res.status < 300, `raiseEvent answered ${res.status}`);
    }
    const ignored = await until("both forgeries logged as ignored", () => {
      const lines = hostLog.filter(
        (l) => l.message.startsWith("forged event ignored") && l.props?.deploymentId === id,
      );
      return lines.length >= 2 ? lines : undefined;
    });
    assert.deepEqual(ignored.map((l) => l.props?.event).sort(), ["cancel", "status"]);

    const inFlight = await api("GET", `/api/deployments/${id}`, writer);
    assert.equal(inFlight.body.phase, "Sent", "the forged Succeeded ended nothing");
    assert.equal(inFlight.body.outcome, undefined);

    // The same cancel through the deployments API: recorded with who asked, then acted on.
    const cancel = await api(
      "POST",
      `/api/deployments/${id}/cancel`,
      principal("ada", [ROLES.deploymentsWrite]),
    );
    assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
    const ended = await until("the deployment cancelled", async () => {
      const r = await api("GET", `/api/deployments/${id}`, writer);
      return r.body.outcome ? r : undefined;
    });
    assert.equal(ended.body.outcome, "Cancelled");
    assert.deepEqual((ended.body.cancelRequested as { by: unknown }).by, { name: "ada" });
    assert.match(String(ended.body.message), /^cancelled by user/);
    const timeline = ended.body.timeline as { event: string; message?: string }[];
    assert.ok(
      timeline.some((e) => e.event === "CancelRequested" && e.message === "cancelled by user (by ada)"),
    );
    // One truth: the instance agrees with the record.
    const status = await fetch(String(started.body.statusQueryGetUri));
    const instance = (await status.json()) as { runtimeStatus: string; output: { outcome: string } };
    assert.equal(instance.runtimeStatus, "Completed");
    assert.equal(instance.output.outcome, "Cancelled");
    assert.equal(instanceId, `deploy:contoso:${id}:1`);
  });
});
