/**
 * The Provider signs every command it sends and publishes the keys that verify it: the Provider app on the
 * dev host with a local signing key (as `npm start` makes one), the Service Bus emulator and the real
 * client. What reaches the customer's queue verifies, as the agent checks it, against the JWKS the API
 * answers; with the signature moved to another body it does not.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import type { JSONWebKeySet } from "jose";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { ensureCommandSigningKey } from "../../../dev/signing-key";
import { checkSignature } from "../../../lib/messaging/command-trust";
import { type Command, SIGNATURE_PROPERTY } from "../../../lib/messaging/contracts";
import { localProviderSettings } from "../../helpers/provider";
import { registerLocalTenant } from "../../helpers/tenants";
import { namespaceConfig, startEmulator } from "../../helpers/servicebus";

const root = path.join(__dirname, "..", "..", "..", "..");
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
let published: JSONWebKeySet;

before(async () => {
  azurite = await startAzurite();
  emulator = await startEmulator([namespaceConfig("contoso", [{ name: "commands" }, { name: "status" }])]);
  const key = await ensureCommandSigningKey(fs.mkdtempSync(path.join(os.tmpdir(), "command-key-")));
  published = key.jwks;
  host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    settings: localProviderSettings(azurite.connectionString, emulator.namespaces, {
      COMMAND_SIGNING_KEYS: key.setting,
    }),
  });
  await registerLocalTenant(host.url, "contoso", "c0000000-0000-4000-8000-000000000001");
});

after(async () => {
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
});

test("GET /api/.well-known/jwks.json answers the public signing keys, cacheable, without a key or a role", async () => {
  const res = await fetch(`${host!.url}/api/.well-known/jwks.json`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("cache-control") ?? "", /max-age=300/);
  const jwks = (await res.json()) as JSONWebKeySet;
  assert.deepEqual(jwks, published);
  assert.equal(JSON.stringify(jwks).includes('"d"'), false, "no private part");
});

test("the Deploy on the customer's queue verifies against the published keys, as the agent checks it", async () => {
  const jwks = (await (await fetch(`${host!.url}/api/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  const res = await fetch(`${host!.url}/api/tenants/contoso/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ spec: { template: "web" } }),
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  const client = new ServiceBusClient(emulator.namespaces[0]!.connectionString);
  try {
    const receiver = client.createReceiver("commands", { receiveMode: "receiveAndDelete" });
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
    await receiver.close();
    assert.ok(message, "the Deploy was sent");
    assert.equal((message.body as Command).deploymentId, id);
    assert.equal(typeof message.applicationProperties?.[SIGNATURE_PROPERTY], "string");
    const trust = { keys: jwks, tenant: "contoso" };
    const raw = { body: message.body, applicationProperties: message.applicationProperties };
    assert.deepEqual(await checkSignature(raw, trust), { ok: true });
    // The same signature on a changed command (another spec) does not verify.
    const changed = { ...raw, body: { ...(message.body as Command), spec: { template: "old" } } };
    assert.equal((await checkSignature(changed, trust)).ok, false);
  } finally {
    await client.close();
  }
});
