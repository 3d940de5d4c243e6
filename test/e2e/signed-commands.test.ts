/**
 * An agent that trusts only its Provider: the Provider app signs with a local key (as `npm start`), the
 * real customer agent app runs with that key pinned (`PROVIDER_SIGNING_KEYS`, `AGENT_TENANT`). What the
 * Provider sends runs; a Deploy put straight on the queue with the namespace's SAS, one signed by another
 * key and one signed for another tenant are refused: never run, never answered, dead-lettered.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { RunningAzurite, startAzurite } from "../../dev/azurite";
import { RunningHost, startHost } from "../../dev/host";
import type { RunningEmulator } from "../../dev/servicebus-emulator";
import { ensureCommandSigningKey } from "../../dev/signing-key";
import { type Command, commandMessage, signedCommandMessage } from "../../lib/messaging/contracts";
import { localSigningKey } from "../../lib/signing/keys";
import { type AgentProcess, startAgent } from "../helpers/agent";
import { assertOneTruth } from "../helpers/one-truth";
import { localProviderSettings } from "../helpers/provider";
import { registerLocalTenant } from "../helpers/tenants";
import { FAST_RETRIES, namespaceConfig, sleep, startEmulator } from "../helpers/servicebus";

const root = path.join(__dirname, "..", "..", "..");
const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "signed-commands-"));
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let provider: RunningHost | undefined;
let agent: AgentProcess | undefined;

before(async () => {
  azurite = await startAzurite();
  const props = { LockDuration: "PT5S", MaxDeliveryCount: 2 };
  emulator = await startEmulator([
    namespaceConfig("contoso", [
      { name: "commands", properties: props },
      { name: "status", properties: props },
    ]),
  ]);
  const key = await ensureCommandSigningKey(keyDir);
  const ns = emulator.namespaces[0]!;
  provider = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    log: () => {},
    settings: localProviderSettings(azurite.connectionString, [ns], { COMMAND_SIGNING_KEYS: key.setting }),
  });
  await registerLocalTenant(provider.url, "contoso", "c0000000-0000-4000-8000-000000000001");
  agent = await startAgent({
    serviceBusConnectionString: ns.connectionString,
    storageConnectionString: azurite.connectionString,
    tenant: "contoso",
    env: { PROVIDER_SIGNING_KEYS: JSON.stringify(key.jwks), AGENT_TENANT: "contoso" },
  });
});

after(async () => {
  await agent?.stop();
  await provider?.stop();
  await emulator.stop();
  await azurite.stop();
});

async function untilDone(id: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const d = (await (await fetch(`${provider!.url}/api/deployments/${id}`)).json()) as Record<
      string,
      unknown
    >;
    if (d.phase === "Completed") return d;
    if (Date.now() > deadline)
      throw new Error(`stuck: ${JSON.stringify(d)}\n${agent!.output().slice(-3000)}`);
    await sleep(100);
  }
}

test("what the Provider signed runs to its outcome", async () => {
  const res = await fetch(`${provider!.url}/api/tenants/contoso/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ spec: { demo: { steps: 2, stepMs: 10 } } }),
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  assert.equal((await untilDone(id)).outcome, "Succeeded");
  await assertOneTruth(provider!.url, id);
  assert.equal(agent!.logs().filter((l) => l.message === "command refused").length, 0);
});

test("unsigned, signed by another key, or for another tenant: refused with the reason, never run or answered, dead-lettered", async () => {
  const keyFile = fs.readdirSync(keyDir).find((f) => f.endsWith(".pem"))!;
  const providerKey = await localSigningKey(fs.readFileSync(path.join(keyDir, keyFile), "utf8"), "test");
  const stranger = await localSigningKey(
    generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({
      type: "pkcs8",
      format: "pem",
    }) as string,
    "test",
  );
  const forged = (id: string, tenant = "contoso"): Command => ({
    schemaVersion: 1,
    type: "Deploy",
    deploymentId: id,
    attempt: 1,
    tenant,
    spec: { demo: { steps: 1 } },
    requestedAt: new Date().toISOString(),
    deadline: new Date(Date.now() + 600_000).toISOString(),
  });
  const now = new Date();
  const attempts = [
    { message: commandMessage(forged("forged-unsigned"), now), reason: "InvalidSignature" },
    { message: await signedCommandMessage(forged("forged-stranger"), now, stranger), reason: "UnknownKey" },
    {
      message: await signedCommandMessage(forged("forged-retargeted", "fabrikam"), now, providerKey),
      reason: "WrongTenant",
    },
  ];
  const client = new ServiceBusClient(emulator.namespaces[0]!.connectionString, FAST_RETRIES);
  try {
    await client.createSender("commands").sendMessages(attempts.map((a) => a.message));
    const dlq = client.createReceiver("commands", {
      subQueueType: "deadLetter",
      receiveMode: "receiveAndDelete",
    });
    const dead: string[] = [];
    const deadline = Date.now() + 30_000;
    while (dead.length < attempts.length && Date.now() < deadline)
      for (const m of await dlq.receiveMessages(attempts.length, { maxWaitTimeInMs: 2000 })) {
        const attempt = attempts.find((a) => a.message.messageId === m.messageId);
        assert.equal(m.deadLetterReason, attempt?.reason, "dead-lettered with the refusal's own reason");
        assert.ok(m.deadLetterErrorDescription, "and its description");
        dead.push(String(m.messageId));
      }
    assert.deepEqual(dead.sort(), attempts.map((a) => a.message.messageId).sort());
    for (const a of attempts) {
      const id = (a.message.body instanceof Buffer ? JSON.parse(a.message.body.toString()) : a.message.body)
        .deploymentId;
      const refusals = agent!
        .logs()
        .filter((l) => l.message === "command refused" && l.messageId === a.message.messageId);
      assert.ok(refusals.length > 0, `${id} refused`);
      assert.ok(
        refusals.every((l) => l.reason === a.reason),
        `${id}: ${JSON.stringify(refusals)}`,
      );
      assert.equal(
        agent!.logs().filter((l) => l.deploymentId === id && l.message === "deployment started").length,
        0,
      );
    }
    // Never answered: nothing reached the status queue for them.
    const status = client.createReceiver("status", { receiveMode: "peekLock" });
    const peeked = await status.peekMessages(50);
    assert.deepEqual(
      peeked.filter((m) => String(m.correlationId).startsWith("forged-")),
      [],
    );
  } finally {
    await client.close();
  }
});
