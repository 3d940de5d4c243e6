import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { agentInstanceId } from "../../customer/agent/orchestration";
import { RunningAzurite, startAzurite } from "../../dev/azurite";
import { RunningHost, startHost } from "../../dev/host";
import type { RunningEmulator } from "../../dev/servicebus-emulator";
import { type Command, commandMessage } from "../../lib/messaging/contracts";
import { type AgentProcess, startAgent } from "../helpers/agent";
import { localProviderSettings } from "../helpers/provider";
import { FAST_RETRIES, namespaceConfig, sleep, startEmulator } from "../helpers/servicebus";
import { assertNothingInFlight, assertOneTruth } from "../helpers/one-truth";

// The Provider app and the real customer agent app, each on its own dev host (the agent in a child
// process, a Durable Functions app with its own task hub, as it would run in the customer's tenant),
// talking only through the customer's queues.
const root = path.join(__dirname, "..", "..", "..");
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let provider: RunningHost | undefined;
let agent: AgentProcess | undefined;
/** Every agent process of this file, so logs survive a crash and a restart. */
const agents: AgentProcess[] = [];

const launchAgent = async () => {
  agent = await startAgent({
    serviceBusConnectionString: emulator.namespaces[0]!.connectionString,
    storageConnectionString: azurite.connectionString,
    tenant: "contoso",
  });
  agents.push(agent);
  return agent;
};
const agentOutput = () => agents.map((a) => a.output()).join("\n");
const agentLogs = () => agents.flatMap((a) => a.logs());

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
    settings: localProviderSettings(azurite.connectionString, [ns], { CANCEL_GRACE_SECONDS: "12" }),
  });
  const res = await fetch(`${provider.url}/api/tenants/contoso`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      directoryId: "c0000000-0000-4000-8000-000000000001",
      serviceBus: { namespace: "contoso.servicebus.localhost" },
      auth: { mode: "sas", sasSetting: "TENANT_CONTOSO_SAS" },
    }),
  });
  assert.equal(res.status, 201);
  await launchAgent();
});

after(async () => {
  await agent?.stop();
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
  // The agent's orchestration yields each task once (docs/durable-engine.md): the engine warns otherwise.
  assert.doesNotMatch(agentOutput(), /yielded a task it had already yielded/);
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
      throw new Error(`stuck: ${JSON.stringify(d)}\nagent output:\n${agentOutput().slice(-3000)}`);
    await sleep(100);
  }
}

/** The agent's structured log lines with this message (and these fields), in order, across restarts. */
const logsOf = (message: string, fields: Record<string, unknown> = {}) =>
  agentLogs().filter((l) => l.message === message && Object.entries(fields).every(([k, v]) => l[k] === v));

async function untilLogged(message: string, fields: Record<string, unknown>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (logsOf(message, fields).length === 0) {
    if (Date.now() > deadline)
      throw new Error(
        `agent never logged "${message}" ${JSON.stringify(fields)}:\n${agentOutput().slice(-3000)}`,
      );
    await sleep(50);
  }
}

/** The deployer steps the agent started for a deployment, in order (a step per log line). */
const stepsRun = (deploymentId: string) =>
  logsOf("deployer step started", { deploymentId }).map((l) => l.step as number);

/** Sends a command straight to the customer's command queue, as a resend or another sender would. */
async function sendCommand(command: Command, messageId: string): Promise<void> {
  const client = new ServiceBusClient(emulator.namespaces[0]!.connectionString, FAST_RETRIES);
  try {
    await client.createSender("commands").sendMessages({ ...commandMessage(command, new Date()), messageId });
  } finally {
    await client.close();
  }
}

function deployCommand(deploymentId: string, spec: Record<string, unknown>): Command {
  return {
    schemaVersion: 1,
    type: "Deploy",
    deploymentId,
    attempt: 1,
    tenant: "contoso",
    spec,
    requestedAt: new Date().toISOString(),
    deadline: new Date(Date.now() + 600_000).toISOString(),
  };
}

/** The agent's own orchestration instance for an attempt, through its Durable management API. */
async function agentInstance(deploymentId: string, attempt = 1) {
  const id = encodeURIComponent(agentInstanceId(deploymentId, attempt));
  const res = await fetch(`${agent!.url}/runtime/webhooks/durabletask/instances/${id}`);
  return { status: res.status, body: (await res.json()) as { runtimeStatus?: string; output?: unknown } };
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
  assert.match(String(d.message), /cancelled before step \d+ \(cancelled by user\)/);
  const steps = stepsRun(id);
  assert.ok(steps.length < 50, "it stopped between steps");
  const instance = await agentInstance(id);
  assert.equal((instance.body.output as { outcome: string }).outcome, "Cancelled");
  assert.equal((instance.body.output as { steps: number }).steps, steps.length);
});

test("an ignoring agent and a stalling one time out; an invalid command is reported Rejected and dead-lettered with its reason at once", async () => {
  const id = await deploy({ demo: { outcome: "ignore" } }, { acceptanceTimeoutSeconds: 2 });
  // The stalling agent must accept first: its acceptance bound is generous for a loaded machine.
  const stalled = await deploy(
    { demo: { outcome: "stall" } },
    { acceptanceTimeoutSeconds: 15, completionTimeoutSeconds: 15 },
  );
  const ignored = await until(id, (x) => x.phase === "Completed");
  assert.equal(ignored.outcome, "TimedOut");
  assert.match(String(ignored.message), /did not accept/);
  const stall = await until(stalled, (x) => x.phase === "Completed");
  assert.equal(stall.outcome, "TimedOut");
  assert.match(String(stall.message), /did not complete in time/, "it was accepted first");
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
  assert.equal(dead?.deadLetterReason, "SchemaViolation");
  assert.match(String(dead?.deadLetterErrorDescription), /nonsense/);
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

test("a duplicated Deploy runs once: resends while it runs and after it ended start nothing", async () => {
  const spec = { demo: { outcome: "succeed", steps: 4, stepMs: 150 } };
  const id = await deploy(spec);
  await until(id, (x) => x.phase === "InProgress");
  // Another message id, so the queue's duplicate detection would not catch it: only the agent can.
  await sendCommand(deployCommand(id, spec), `resend-running-${id}`);
  await untilLogged("duplicate deploy ignored", { messageId: `resend-running-${id}` });
  const d = await until(id, (x) => x.phase === "Completed");
  assert.equal(d.outcome, "Succeeded");
  await sendCommand(deployCommand(id, spec), `resend-done-${id}`);
  await untilLogged("duplicate deploy ignored", {
    messageId: `resend-done-${id}`,
    runtimeStatus: "Completed",
  });
  assert.deepEqual(stepsRun(id), [1, 2, 3, 4], "each step ran once");
  assert.equal(logsOf("status sent", { deploymentId: id, state: "Accepted" }).length, 1);
  const instance = await agentInstance(id);
  assert.equal(instance.body.runtimeStatus, "Completed");
  assert.equal((instance.body.output as { outcome: string }).outcome, "Succeeded");
});

test("kill -9 of the agent mid-deployment: restarted on the same task hub it resumes, repeats no finished step and reports the real outcome", async () => {
  const spec = { demo: { outcome: "succeed", steps: 6, stepMs: 400 } };
  const id = await deploy(spec, { completionTimeoutSeconds: 120 });
  await untilLogged("deployer step started", { deploymentId: id, step: 3 });
  await agent!.stop("SIGKILL");
  const before = stepsRun(id);
  assert.deepEqual(before, [1, 2, 3]);
  await launchAgent();
  const d = await until(id, (x) => x.phase === "Completed", 40_000);
  assert.equal(d.outcome, "Succeeded", "the real outcome, long before the completion timeout");
  const steps = stepsRun(id);
  // Steps 1 and 2 had finished: never again. Step 3 was in flight: it may run once more (at least once).
  assert.deepEqual(
    steps.filter((s) => s < 3),
    [1, 2],
  );
  assert.ok(steps.filter((s) => s === 3).length <= 2, `step 3 ran ${steps.length} times`);
  assert.deepEqual([...new Set(steps)], [1, 2, 3, 4, 5, 6], `steps run: ${steps.join(",")}`);
  assert.equal(logsOf("status sent", { deploymentId: id, state: "Accepted" }).length, 1, "accepted once");
  assert.equal(logsOf("status sent", { deploymentId: id, state: "Succeeded" }).length, 1);
  // The Deploy delivered again after the restart (a redelivery or a resend) still runs nothing.
  await sendCommand(deployCommand(id, spec), `resend-after-restart-${id}`);
  await untilLogged("duplicate deploy ignored", { messageId: `resend-after-restart-${id}` });
  assert.equal(stepsRun(id).length, steps.length);
  assert.equal(((await agentInstance(id)).body.output as { outcome: string }).outcome, "Succeeded");
});

test("a Cancel that overtakes its Deploy closes the attempt: the Deploy that follows runs nothing", async () => {
  const id = `overtaken-${Date.now()}`;
  const deployment = deployCommand(id, { demo: { outcome: "succeed", steps: 2, stepMs: 50 } });
  await sendCommand(
    { ...deployment, type: "Cancel", spec: undefined, reason: "changed my mind" },
    `${id}:1:Cancel`,
  );
  await untilLogged("cancel arrived before its deploy: attempt closed", { deploymentId: id });
  await sendCommand(deployment, `${id}:1:Deploy`);
  await untilLogged("duplicate deploy ignored", { deploymentId: id });
  assert.deepEqual(stepsRun(id), []);
  const instance = await agentInstance(id);
  assert.equal(instance.body.runtimeStatus, "Completed");
  assert.deepEqual((instance.body.output as { outcome: string; message: string }).outcome, "Cancelled");
  assert.equal(logsOf("status sent", { deploymentId: id, state: "Cancelled" }).length, 1);
});
