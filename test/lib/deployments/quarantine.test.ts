/**
 * Quarantine on the real stack (the Provider on the dev host, Azurite, the emulator, this test as the
 * customer): after QUARANTINE_BAD_MESSAGES bad statuses the tenant's pump stops receiving, health and the
 * registration show why, starts answer 409 problem+json naming the quarantine, another tenant is not
 * affected, and POST /resume (Tenants.Admin) lifts it and restarts the pump.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { statusMessage } from "../../../lib/messaging/contracts";
import { localProviderSettings } from "../../helpers/provider";
import { FAST_RETRIES, namespaceConfig, sleep, startEmulator } from "../../helpers/servicebus";

const root = path.join(__dirname, "..", "..", "..", "..");
const THRESHOLD = 5;
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
let api = "";
const agents = new Map<string, ServiceBusClient>();

before(async () => {
  azurite = await startAzurite();
  emulator = await startEmulator(
    ["contoso", "fabrikam"].map((t) => namespaceConfig(t, [{ name: "commands" }, { name: "status" }])),
  );
  const settings = localProviderSettings(azurite.connectionString, emulator.namespaces, {
    QUARANTINE_BAD_MESSAGES: String(THRESHOLD),
    QUARANTINE_WINDOW_SECONDS: "600",
  });
  host = await startHost({ appDir: root, port: 0, quiet: true, settings, log: () => {} });
  api = `${host.url}/api`;
  for (const [i, ns] of emulator.namespaces.entries()) {
    agents.set(ns.name, new ServiceBusClient(ns.connectionString, FAST_RETRIES));
    const res = await fetch(`${api}/tenants/${ns.name}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directoryId: `00000000-0000-4000-8000-00000000000${i}`,
        serviceBus: { namespace: `${ns.name}.servicebus.localhost` },
        auth: { mode: "sas", sasSetting: `TENANT_${ns.name.toUpperCase()}_SAS` },
      }),
    });
    assert.equal(res.status, 201, await res.text());
  }
});

after(async () => {
  await Promise.all([...agents.values()].map((a) => a.close()));
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
});

const start = (tenant: string) =>
  fetch(`${api}/tenants/${tenant}/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ spec: { app: "web" }, acceptanceTimeoutSeconds: 60 }),
  });

interface Health {
  state?: string;
  quarantine?: { at: string; badMessages: number; windowSeconds: number; lastReason: string };
  statusPump: { runtimeStatus: string };
}
const health = async (tenant: string) =>
  (await (await fetch(`${api}/tenants/${tenant}/health`)).json()) as Health;

test("bad statuses quarantine the tenant: pump stopped, 409 on start, shown in health; resume lifts it", async () => {
  // A deployment in flight keeps contoso's pump running.
  assert.equal((await start("contoso")).status, 202);
  const sender = agents.get("contoso")!.createSender("status");
  const bad = [
    ...Array.from({ length: 3 }, (_, i) => ({
      body: Buffer.from(`{not json ${i}`),
      contentType: "application/json",
    })),
    ...Array.from({ length: 3 }, (_, i) =>
      statusMessage({
        schemaVersion: 1,
        deploymentId: `made-up-${i}`,
        attempt: 1,
        state: "Accepted",
        progress: 0,
        sequence: 1,
        reportedAt: new Date().toISOString(),
      }),
    ),
  ];
  await sender.sendMessages(bad);
  await sender.close();

  let h: Health | undefined;
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(200)) {
    h = await health("contoso");
    if (h.quarantine && h.statusPump.runtimeStatus === "Completed") break;
  }
  assert.equal(h?.state, "Quarantined", JSON.stringify(h));
  assert.ok(h?.quarantine && h.quarantine.badMessages >= THRESHOLD, JSON.stringify(h));
  assert.match(h!.quarantine!.lastReason, /^(InvalidJson|UnknownDeployment)$/);
  assert.equal(h!.quarantine!.windowSeconds, 600);
  assert.equal(h!.statusPump.runtimeStatus, "Completed", "the pump stopped receiving");

  const registration = (await (await fetch(`${api}/tenants/contoso`)).json()) as Health;
  assert.deepEqual(registration.quarantine, h!.quarantine);

  const refused = await start("contoso");
  assert.equal(refused.status, 409);
  assert.match(refused.headers.get("content-type") ?? "", /application\/problem\+json/);
  const problem = (await refused.json()) as { detail: string; quarantine?: unknown };
  assert.match(problem.detail, /quarantined/);
  assert.deepEqual(problem.quarantine, h!.quarantine);

  // The pump is not restarted behind the operator's back (a waiting deployment re-ensures it every 2 s).
  await sleep(3000);
  assert.equal((await health("contoso")).statusPump.runtimeStatus, "Completed");
  // Another tenant is not affected.
  assert.equal((await start("fabrikam")).status, 202);

  const resumed = await fetch(`${api}/tenants/contoso/resume`, { method: "POST" });
  assert.equal(resumed.status, 200);
  const body = (await resumed.json()) as { resumed: boolean; lifted?: unknown; statusPumpStarted: boolean };
  assert.equal(body.resumed, true);
  assert.deepEqual(body.lifted, h!.quarantine);
  assert.equal(body.statusPumpStarted, true);
  const after = await health("contoso");
  assert.equal(after.quarantine, undefined);
  assert.equal(after.state, undefined);
  assert.equal((await start("contoso")).status, 202, "starts are accepted again");
});
