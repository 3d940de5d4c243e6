/**
 * Outcomes the customer signs: the real customer agent app signs its terminal statuses with its own key
 * (`AGENT_SIGNING_KEYS`, a local key as `npm start` makes one); the Provider app, with the tenant's
 * `receiptKeys` registered, records the outcome with its receipt, which verifies offline with `jose`. With
 * other keys registered, the agent's outcome does not verify: it is dead-lettered, never recorded, and the
 * deployment ends at its deadline (TimedOut), not Succeeded.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from "jose";
import { RunningAzurite, startAzurite } from "../../dev/azurite";
import { RunningHost, startHost } from "../../dev/host";
import type { RunningEmulator } from "../../dev/servicebus-emulator";
import { ensureReceiptSigningKey } from "../../dev/signing-key";
import { type AgentProcess, startAgent } from "../helpers/agent";
import { localProviderSettings } from "../helpers/provider";
import { registerLocalTenant } from "../helpers/tenants";
import { namespaceConfig, sleep, startEmulator } from "../helpers/servicebus";

const root = path.join(__dirname, "..", "..", "..");
const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "signed-receipts-"));
const DIRECTORY = "c0000000-0000-4000-8000-000000000001";
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let provider: RunningHost | undefined;
let agent: AgentProcess | undefined;
let customerKeys: JSONWebKeySet;
let otherKeys: JSONWebKeySet;

before(async () => {
  azurite = await startAzurite();
  emulator = await startEmulator([namespaceConfig("contoso", [{ name: "commands" }, { name: "status" }])]);
  const ns = emulator.namespaces[0]!;
  provider = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    log: () => {},
    settings: localProviderSettings(azurite.connectionString, [ns]),
  });
  const customer = await ensureReceiptSigningKey(keyDir, "contoso");
  customerKeys = customer.jwks;
  otherKeys = (await ensureReceiptSigningKey(keyDir, "someone-else")).jwks;
  await registerLocalTenant(provider.url, "contoso", DIRECTORY, { receiptKeys: customerKeys });
  agent = await startAgent({
    serviceBusConnectionString: ns.connectionString,
    storageConnectionString: azurite.connectionString,
    tenant: "contoso",
    env: { AGENT_SIGNING_KEYS: customer.setting },
  });
});

after(async () => {
  await agent?.stop();
  await provider?.stop();
  await emulator.stop();
  await azurite.stop();
});

const api = (p: string, init?: RequestInit) => fetch(`${provider!.url}/api${p}`, init);

async function deploy(timeouts: Record<string, number> = {}): Promise<string> {
  const res = await api("/tenants/contoso/deployments", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ spec: { demo: { steps: 2, stepMs: 10 } }, ...timeouts }),
  });
  assert.equal(res.status, 202);
  return ((await res.json()) as { id: string }).id;
}

async function untilDone(id: string, ms = 30_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const d = (await (await api(`/deployments/${id}`)).json()) as Record<string, unknown>;
    if (d.phase === "Completed") return d;
    if (Date.now() > deadline)
      throw new Error(`stuck: ${JSON.stringify(d)}\n${agent!.output().slice(-3000)}`);
    await sleep(100);
  }
}

test("a signed outcome is recorded with its receipt, which verifies offline; health says receipts are verified", async () => {
  const health = (await (await api("/tenants/contoso/health")).json()) as { receipts: string };
  assert.equal(health.receipts, "verified");
  const id = await deploy();
  const done = await untilDone(id);
  assert.equal(done.outcome, "Succeeded");
  const res = await api(`/deployments/${id}/receipt`);
  assert.equal(res.status, 200);
  const receipt = (await res.json()) as { jws: string; kid: string; payload: string };
  assert.equal(receipt.kid, customerKeys.keys[0]!.kid);
  const { payload } = await compactVerify(receipt.jws, createLocalJWKSet(customerKeys));
  const status = JSON.parse(Buffer.from(payload).toString("utf8")) as Record<string, unknown>;
  assert.deepEqual([status.deploymentId, status.state], [id, "Succeeded"]);
});

test("an outcome signed by a key the tenant did not register is refused: the deployment times out, with no receipt", async () => {
  const replaced = await api("/tenants/contoso", {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      directoryId: DIRECTORY,
      serviceBus: { namespace: "contoso.servicebus.localhost" },
      auth: { mode: "sas", sasSetting: "TENANT_CONTOSO_SAS" },
      receiptKeys: otherKeys,
    }),
  });
  assert.equal(replaced.status, 200, await replaced.text());
  const id = await deploy({ acceptanceTimeoutSeconds: 5, completionTimeoutSeconds: 10 });
  const done = await untilDone(id, 40_000);
  assert.equal(done.outcome, "TimedOut");
  assert.notEqual((done.lastStatus as { state?: string } | undefined)?.state, "Succeeded");
  assert.equal((await api(`/deployments/${id}/receipt`)).status, 404);
});
