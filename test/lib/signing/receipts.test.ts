/**
 * Signed receipts: the agent signs its terminal statuses (customer/agent/status.ts), the registration
 * takes the customer's public keys only, and the Provider's status router records a terminal status
 * only when it verifies with them (lib/deployments/activities.ts), against a real ledger on Azurite.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import type { DurableClient } from "durable-functions";
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from "jose";
import { startAzurite, type RunningAzurite } from "../../../dev/azurite";
import { sendStatusActivity } from "../../../customer/agent/activities";
import { agentStatus, statusSender } from "../../../customer/agent/status";
import { dispatchStatus } from "../../../lib/deployments/activities";
import { deploymentInstanceId } from "../../../lib/deployments/contract";
import { DeploymentLedger } from "../../../lib/deployments/ledger";
import type { DeploymentDeps } from "../../../lib/deployments/deps";
import { fieldErrors } from "../../../lib/http/validation";
import { createLogger } from "../../../lib/logging/logger";
import type { ReceivedStatus } from "../../../lib/messaging/channel";
import { type OutgoingMessage, SIGNATURE_PROPERTY, type Status } from "../../../lib/messaging/contracts";
import { localSigningKey, publicKeySet, type SigningKey } from "../../../lib/signing/keys";
import { compactReceipt, receiptKeySet, receiptKeysSchema } from "../../../lib/signing/receipts";
import { createDeploymentHandlers } from "../../../lib/deployments/http";
import { createTableClient } from "../../../lib/storage/tables";
import { makeContext, makeRequest, readResponse } from "../../helpers/http";
import { registrationInputSchema } from "../../../lib/tenants/model";

const pem = () =>
  generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({
    type: "pkcs8",
    format: "pem",
  }) as string;
const log = createLogger(() => {});

const status = (id: string, state: Status["state"], sequence: number): Status =>
  agentStatus(
    { deploymentId: id, attempt: 1 },
    { state, progress: state === "Succeeded" ? 100 : 10, sequence, reportedAt: new Date().toISOString() },
  );

/** What the agent's sender puts on the wire, captured. */
async function sent(key: SigningKey | undefined, s: Status): Promise<OutgoingMessage> {
  const out: OutgoingMessage[] = [];
  const send = statusSender(
    async (m) => void out.push(m),
    async () => key,
  );
  await sendStatusActivity(send, s, log);
  return out[0]!;
}

test("the agent signs its terminal statuses with its receipt key, and only those", async () => {
  const key = await localSigningKey(pem(), "AGENT_SIGNING_KEYS");
  const jwks = await publicKeySet([key]);
  for (const state of ["Succeeded", "Failed", "Cancelled", "Rejected"] as const) {
    const m = await sent(key, status("d-1", state, 5));
    assert.ok(Buffer.isBuffer(m.body), state);
    const jws = m.applicationProperties[SIGNATURE_PROPERTY] as string;
    const [h, , sig] = jws.split(".");
    const { payload, protectedHeader } = await compactVerify(
      `${h}.${(m.body as Buffer).toString("base64url")}.${sig}`,
      createLocalJWKSet(jwks),
    );
    assert.equal(protectedHeader.kid, key.kid);
    assert.equal(JSON.parse(Buffer.from(payload).toString("utf8")).state, state);
    assert.equal(m.messageId, "d-1:1:s5", "the message id does not depend on the signature");
  }
  const progress = await sent(key, status("d-1", "InProgress", 2));
  assert.equal(progress.applicationProperties[SIGNATURE_PROPERTY], undefined);
  assert.ok(!Buffer.isBuffer(progress.body));
  const noKey = await sent(undefined, status("d-1", "Succeeded", 3));
  assert.equal(noKey.applicationProperties[SIGNATURE_PROPERTY], undefined);
});

/** A received message as the Provider's receiver hands it over: the body's bytes as sent. */
const received = (m: OutgoingMessage, s: Status) =>
  ({
    ok: true,
    status: s,
    message: {
      messageId: m.messageId,
      body: Buffer.isBuffer(m.body) ? m.body : Buffer.from(JSON.stringify(m.body)),
      applicationProperties: m.applicationProperties,
    },
    bytes: 1,
  }) as unknown as ReceivedStatus;

/** Sends `s` as the agent would (signed with `key`) and routes it; answers how it was settled. */
function router(rt: DeploymentDeps, durable: DurableClient, keys: JSONWebKeySet) {
  return async (tenant: string, key: SigningKey | undefined, s: Status, withKeys: boolean) => {
    const settled: string[] = [];
    await dispatchStatus(
      rt,
      durable,
      tenant,
      received(await sent(key, s), s),
      {
        complete: () => (settled.push("complete"), Promise.resolve()),
        deadLetter: (_m, reason) => (settled.push(reason), Promise.resolve()),
      },
      log,
      withKeys ? keys : undefined,
    );
    return settled;
  };
}

/** The customer's receipt key (registered), a forger's (not), and a router that checks with the first. */
async function signers(rt: DeploymentDeps, durable: DurableClient) {
  const customer = await localSigningKey(pem(), "customer");
  const forger = await localSigningKey(pem(), "forger");
  const keys = receiptKeySet(receiptKeysSchema.parse(await publicKeySet([customer])));
  return { customer, forger, keys, route: router(rt, durable, keys) };
}

/** A real ledger on its own table, and a Durable client that only records what would be raised. */
function routing(table: string) {
  const ledger = new DeploymentLedger(createTableClient(azurite.connectionString, table));
  const rt = { ledger } as unknown as DeploymentDeps;
  const raised: string[] = [];
  const durable = {
    raiseEvent: (_i: string, _e: string, s: Status) => (
      raised.push(`${s.deploymentId}:${s.state}`),
      Promise.resolve()
    ),
  } as unknown as DurableClient;
  return { ledger, rt, raised, durable };
}

const registration = (receiptKeys: unknown) => ({
  directoryId: "00000000-0000-0000-0000-000000000001",
  serviceBus: { namespace: "contoso.servicebus.windows.net" },
  receiptKeys,
});

test("a registration takes the customer's public receipt keys and refuses a private key, naming the field", async () => {
  const key = await localSigningKey(pem(), "t");
  const jwks = await publicKeySet([key]);
  const ok = registrationInputSchema.safeParse(registration(jwks));
  assert.ok(ok.success);
  assert.equal(ok.data.receiptKeys?.keys[0]?.kid, key.kid);
  assert.ok(registrationInputSchema.safeParse(registration(undefined)).success, "keys are optional");
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const priv = { ...privateKey.export({ format: "jwk" }), kid: "k1" };
  const refused = registrationInputSchema.safeParse(registration({ keys: [priv] }));
  assert.ok(!refused.success);
  const fields = fieldErrors(refused.error).map((e) => e.field);
  assert.ok(
    fields.some((f) => /^receiptKeys\.keys.*0.*\.d$/.test(f)),
    JSON.stringify(fields),
  );
  const rsa = { kty: "RSA", n: "abc", e: "AQAB", kid: "r" };
  assert.ok(!registrationInputSchema.safeParse(registration({ keys: [rsa] })).success);
  const many = Array.from({ length: 5 }, (_, i) => ({ ...jwks.keys[0], kid: `k${i}` }));
  assert.ok(!receiptKeysSchema.safeParse({ keys: many }).success, "size-limited");
});

let azurite: RunningAzurite;
before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

test("the Provider records a verified receipt, dead-letters an unsigned or forged outcome of a tenant with keys, takes unsigned from one without", async () => {
  const { ledger, rt, raised, durable } = routing("deploymentsreceipts");
  const now = new Date().toISOString();
  for (const [tenant, id] of [
    ["contoso", "c-1"],
    ["contoso", "c-2"],
    ["contoso", "c-3"],
    ["fabrikam", "f-1"],
  ] as const)
    await ledger.create({
      id,
      tenant,
      attempt: 1,
      instanceId: deploymentInstanceId(tenant, id, 1),
      phase: "InProgress",
      progress: 10,
      specDigest: "sha256:x",
      requestedAt: now,
      updatedAt: now,
    });
  const { customer, forger, keys, route } = await signers(rt, durable);

  // Signed by the customer's key: recorded, raised, the receipt kept and verifiable offline.
  assert.deepEqual(await route("contoso", customer, status("c-1", "Succeeded", 5), true), ["complete"]);
  const record = await ledger.get("contoso", "c-1", 1);
  assert.equal(record?.lastStatus?.state, "Succeeded");
  assert.equal(record?.receipt?.kid, customer.kid);
  const { payload } = await compactVerify(compactReceipt(record!.receipt!), createLocalJWKSet(keys));
  assert.equal(JSON.parse(Buffer.from(payload).toString("utf8")).deploymentId, "c-1");

  // Signed by another key, or not at all: dead-lettered, not recorded, never raised to the deployment.
  assert.deepEqual(await route("contoso", forger, status("c-2", "Succeeded", 5), true), ["UnknownKey"]);
  assert.deepEqual(await route("contoso", undefined, status("c-3", "Succeeded", 5), true), [
    "InvalidSignature",
  ]);
  for (const id of ["c-2", "c-3"]) {
    const r = await ledger.get("contoso", id, 1);
    assert.equal(r?.lastStatus, undefined, id);
    assert.equal(r?.outcome, undefined, id);
    assert.equal(r?.receipt, undefined, id);
  }
  // A tampered body under a genuine signature: InvalidSignature.
  const real = await sent(customer, status("c-2", "Failed", 6));
  const forged = status("c-2", "Succeeded", 6);
  const tampered = {
    ...real,
    body: Buffer.from((real.body as Buffer).toString("utf8").replace('"Failed"', '"Succeeded"')),
  };
  const settled: string[] = [];
  await dispatchStatus(
    rt,
    durable,
    "contoso",
    received(tampered, forged),
    {
      complete: async () => void settled.push("complete"),
      deadLetter: async (_m, r) => void settled.push(r),
    },
    log,
    keys,
  );
  assert.deepEqual(settled, ["InvalidSignature"]);
  // Progress stays unsigned and is recorded.
  assert.deepEqual(await route("contoso", undefined, status("c-3", "InProgress", 6), true), ["complete"]);

  // A tenant without keys: an unsigned outcome is recorded as before, without a receipt.
  assert.deepEqual(await route("fabrikam", undefined, status("f-1", "Succeeded", 5), false), ["complete"]);
  const unsigned = await ledger.get("fabrikam", "f-1", 1);
  assert.equal(unsigned?.lastStatus?.state, "Succeeded");
  assert.equal(unsigned?.receipt, undefined);
  assert.deepEqual(raised, ["c-1:Succeeded", "f-1:Succeeded"]);

  // GET /api/deployments/{id}/receipt: the receipt, verifiable offline with the customer's public keys.
  const handlers = createDeploymentHandlers(
    () => ({ ledger, settings: { requireRoles: false } }) as unknown as DeploymentDeps,
  );
  const noInstance = { getStatus: () => Promise.resolve(undefined) } as unknown as DurableClient;
  const get = async (id: string) =>
    readResponse(
      await handlers.receipt(
        makeRequest({ method: "GET", params: { id }, url: `http://localhost/api/deployments/${id}/receipt` }),
        noInstance,
        makeContext(),
      ),
    );
  const ok = await get("c-1");
  assert.equal(ok.status, 200);
  const body = ok.body as { kid: string; payload: string; signature: string; jws: string; attempt: number };
  assert.equal(body.kid, customer.kid);
  const offline = await compactVerify(body.jws, createLocalJWKSet(await publicKeySet([customer])));
  assert.equal(Buffer.from(offline.payload).toString("base64url"), body.payload);
  assert.equal(JSON.parse(Buffer.from(offline.payload).toString("utf8")).state, "Succeeded");
  for (const id of ["f-1", "c-2", "nope"]) {
    const missing = await get(id);
    assert.equal(missing.status, 404, id);
    assert.match(String(missing.headers["content-type"]), /problem\+json/);
  }
});

test("a health verdict is signed like an outcome, recorded once the success is known, first one kept, and never raised", async () => {
  const { ledger, rt, raised, durable } = routing("deploymentshealth");
  const now = new Date().toISOString();
  for (const id of ["h-1", "h-2"])
    await ledger.create({
      id,
      tenant: "contoso",
      attempt: 1,
      instanceId: deploymentInstanceId("contoso", id, 1),
      phase: "InProgress",
      progress: 10,
      specDigest: "sha256:x",
      healthWindowSeconds: 60,
      requestedAt: now,
      updatedAt: now,
    });
  const { customer, forger, route } = await signers(rt, durable);
  for (const state of ["Healthy", "Unhealthy"] as const)
    assert.ok(Buffer.isBuffer((await sent(customer, status("h-0", state, 9))).body), `${state} is signed`);

  // Before the agent's success is recorded a verdict is not kept, nor settled: it is received again later.
  await assert.rejects(route("contoso", customer, status("h-2", "Unhealthy", 4), true), /before its success/);
  assert.equal((await ledger.get("contoso", "h-2", 1))?.health, undefined);

  assert.deepEqual(await route("contoso", customer, status("h-1", "Succeeded", 3), true), ["complete"]);
  assert.deepEqual(await route("contoso", undefined, status("h-1", "Unhealthy", 4), true), [
    "InvalidSignature",
  ]);
  assert.deepEqual(await route("contoso", forger, status("h-1", "Unhealthy", 4), true), ["UnknownKey"]);
  assert.equal((await ledger.get("contoso", "h-1", 1))?.health, undefined, "no forged verdict is recorded");

  assert.deepEqual(await route("contoso", customer, status("h-1", "Unhealthy", 4), true), ["complete"]);
  assert.deepEqual(await route("contoso", customer, status("h-1", "Healthy", 5), true), ["complete"]);
  const record = await ledger.get("contoso", "h-1", 1);
  assert.equal(record?.health?.state, "Unhealthy", "the first verdict is kept");
  assert.equal(record?.lastStatus?.state, "Succeeded", "a verdict does not move the last status");
  assert.deepEqual(raised, ["h-1:Succeeded"], "a verdict never wakes the deployment");
});
