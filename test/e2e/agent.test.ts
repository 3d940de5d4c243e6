import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { RunningAzurite, startAzurite } from "../../dev/azurite";
import { RunningHost, startHost } from "../../dev/host";
import type { RunningEmulator } from "../../dev/servicebus-emulator";
import { localProviderSettings } from "../helpers/provider";
import { FAST_RETRIES, namespaceConfig, sleep, startEmulator } from "../helpers/servicebus";
import { assertNothingInFlight, assertOneTruth } from "../helpers/one-truth";

// The Provider app and the real customer agent app, each on its own dev host (the agent in a child
// process, as it would run in the customer's tenant), talking only through the customer's queues.
const root = path.join(__dirname, "..", "..", "..");
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let provider: RunningHost | undefined;
let agentProcess: ChildProcess | undefined;
let agentOutput = "";

before(async () => {
  azurite = await startAzurite();
  const props = { LockDuration: "PT5S", MaxDeliveryCount: 2 };
  emulator = await startEmulator([
    namespaceConfig("contoso", [
      { name: "commands", properties: props },
      { name: "status", properties: props },
    ]),
  ]);
  const ns = emulator.namespaces[0]!;
  provider = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    log: () => {},
    settings: localProviderSettings(azurite.connectionString, [ns], { CANCEL_GRACE_SECONDS: "3" }),
  });
  const res = await fetch(`${provider.url}/api/tenants/contoso`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      directoryId: "c0000000-0000-4000-8000-000000000001",
      serviceBus: { namespace: "contoso.servicebus.localhost" },
      auth: { mode: "sas", sasSetting: "CONTOSO_SAS" },
    }),
  });
  assert.equal(res.status, 201);
  agentProcess = spawn(
    process.execPath,
    [path.join(root, "dist", "dev", "host", "cli.js"), "--app", path.join(root, "customer"), "--port", "0"],
    {
      env: { ...process.env, CUSTOMER_SERVICEBUS: ns.connectionString, WEBSITE_HOSTNAME: "" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  agentProcess.stdout?.on("data", (c: Buffer) => (agentOutput += c.toString()));
  agentProcess.stderr?.on("data", (c: Buffer) => (agentOutput += c.toString()));
  const deadline = Date.now() + 15_000;
  while (!agentOutput.includes("Host listening on")) {
    if (Date.now() > deadline) throw new Error(`agent did not start: ${agentOutput}`);
    await sleep(50);
  }
});

after(async () => {
  if (agentProcess && agentProcess.exitCode === null) {
    const exited = new Promise((resolve) => agentProcess!.on("exit", resolve));
    agentProcess.kill("SIGTERM");
    await exited;
  }
  await provider?.stop();
  await emulator.stop();
  await azurite.stop();
});

// After every scenario each deployment's record and instance agree, both ended, nothing left in flight.
const startedIds = new Set<string>();
afterEach(async () => {
  for (const id of startedIds) await assertOneTruth(provider!.url, id);
  startedIds.clear();
  await assertNothingInFlight(provider!.url, "contoso");
});

async function deploy(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await fetch(`${provider!.url}/api/tenants/contoso/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ spec, ...extra }),
  });
  assert.equal(res.status, 202, await res.clone().text());
  const id = ((await res.json()) as { id: string }).id;
  startedIds.add(id);
  return id;
}

async function until(id: string, done: (d: Record<string, unknown>) => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = (await (await fetch(`${provider!.url}/api/deployments/${id}`)).json()) as Record<
      string,
      unknown
    >;
    if (done(d)) return d;
    if (Date.now() > deadline)
      throw new Error(`stuck: ${JSON.stringify(d)}\nagent output:\n${agentOutput.slice(-2000)}`);
    await sleep(100);
  }
}

test("the demo agent succeeds with progress, and fails when asked to", async () => {
  const ok = await deploy({ demo: { outcome: "succeed", steps: 3, stepMs: 50 } });
  const d = await until(ok, (x) => x.phase === "Completed");
  assert.equal(d.outcome, "Succeeded");
  assert.equal(d.progress, 100);
  const bad = await deploy({ demo: { outcome: "fail", steps: 2, stepMs: 50 } });
  const f = await until(bad, (x) => x.phase === "Completed");
  assert.equal(f.outcome, "Failed");
  assert.match(String(f.message), /failed \(demo\)/);
});

test("the agent honours Cancel between steps", async () => {
  const id = await deploy({ demo: { outcome: "succeed", steps: 50, stepMs: 200 } });
  await until(id, (x) => x.phase === "InProgress");
  assert.equal(
    (await fetch(`${provider!.url}/api/deployments/${id}/cancel`, { method: "POST" })).status,
    202,
  );
  const d = await until(id, (x) => x.phase === "Completed");
  assert.equal(d.outcome, "Cancelled");
  assert.match(String(d.message), /cancelled before step/);
});

test("an ignoring agent times out; an invalid command is reported Rejected and dead-lettered after the queue's delivery limit", async () => {
  const id = await deploy({ demo: { outcome: "ignore" } }, { acceptanceTimeoutSeconds: 2 });
  assert.equal((await until(id, (x) => x.phase === "Completed")).outcome, "TimedOut");
  // A Deploy for a waiting deployment that breaks the contract: the agent rejects it at once.
  const waiting = await deploy({ demo: { outcome: "ignore" } }, { acceptanceTimeoutSeconds: 60 });
  const client = new ServiceBusClient(emulator.namespaces[0]!.connectionString, FAST_RETRIES);
  await client.createSender("commands").sendMessages({
    body: { type: "Deploy", deploymentId: waiting, attempt: 1, nonsense: true },
    contentType: "application/json",
    messageId: "junk-1",
  });
  const rejected = await until(waiting, (x) => x.phase === "Completed");
  assert.equal(rejected.outcome, "Rejected");
  assert.match(String(rejected.message), /SchemaViolation/);
  const dlq = client.createReceiver("commands", {
    subQueueType: "deadLetter",
    receiveMode: "receiveAndDelete",
  });
  const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
  assert.equal(dead?.messageId, "junk-1");
  assert.equal(dead?.deadLetterReason, "MaxDeliveryCountExceeded");
  await client.close();
});

test("verify: Ping reaches the agent and its Pong comes back through the status queue, with the latency", async () => {
  const res = await fetch(`${provider!.url}/api/tenants/contoso/verify`, { method: "POST" });
  assert.equal(res.status, 200);
  const body = (await res.json()) as {
    ok: boolean;
    latencyMs: number;
    steps: { step: string; ok: boolean }[];
  };
  assert.equal(body.ok, true, JSON.stringify(body));
  assert.ok(body.latencyMs >= 0);
  assert.deepEqual(
    body.steps.map((s) => [s.step, s.ok]),
    [
      ["credential", true],
      ["send", true],
      ["receive", true],
    ],
  );
});
