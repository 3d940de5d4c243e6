import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { RunningAzurite, startAzurite } from "../../dev/azurite";
import { RunningHost, startHost } from "../../dev/host";
import type { RunningEmulator } from "../../dev/servicebus-emulator";
import type { Command, Status } from "../../lib/messaging/contracts";
import { localProviderSettings } from "../helpers/provider";
import {
  FAST_RETRIES,
  namespaceConfig,
  nextCommand as takeCommand,
  sleep,
  sendStatus,
  startEmulator,
} from "../helpers/servicebus";
import { assertNothingInFlight, assertOneTruth } from "../helpers/one-truth";
import { registerLocalTenant } from "../helpers/tenants";
import { readHostJson } from "../../dev/host/app";

// The deployment workflow end to end: the Provider app on the dev host with its durable engine, two
// customer namespaces in the emulator (separate directories), and this test playing each customer's agent.
const root = path.join(__dirname, "..", "..", "..");
const CURRENT_VERSION = readHostJson(root).versioning.defaultVersion;
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
const agents = new Map<string, ServiceBusClient>();
const queues = { Properties: { LockDuration: "PT5S" } };

before(async () => {
  azurite = await startAzurite();
  emulator = await startEmulator([
    namespaceConfig("contoso", [
      { name: "commands", properties: queues.Properties },
      { name: "status", properties: queues.Properties },
      // The "solo" tenant's own queues: one registration per namespace and queue.
      { name: "solo-commands", properties: queues.Properties },
      { name: "solo-status", properties: queues.Properties },
    ]),
    namespaceConfig("fabrikam", [
      { name: "commands", properties: queues.Properties },
      { name: "status", properties: queues.Properties },
    ]),
  ]);
  const base = localProviderSettings(azurite.connectionString, emulator.namespaces);
  const settings = localProviderSettings(azurite.connectionString, emulator.namespaces, {
    CANCEL_GRACE_SECONDS: "2",
    COMMAND_SEND_ATTEMPTS: "3",
    COMMAND_RETRY_SECONDS: "1",
    // A customer whose namespace answers nothing: a closed port (connection refused on every send).
    DEV_SERVICEBUS_ENDPOINTS: `${base.DEV_SERVICEBUS_ENDPOINTS},nowhere.servicebus.localhost=sb://127.0.0.1:1`,
    TENANT_NOWHERE_SAS: "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=a2V5",
    // A tenant setting that holds the Provider's storage connection string by mistake.
    PROVIDER_APP_CLIENT_ID: "0a000000-0000-4000-8000-0000000000a0",
    TENANT_LEAKY_CERT: azurite.connectionString,
  });
  for (const ns of emulator.namespaces)
    agents.set(ns.name, new ServiceBusClient(ns.connectionString, FAST_RETRIES));
  host = await startHost({ appDir: root, port: 0, quiet: true, settings, log: () => {} });
  const directories: Record<string, string> = {
    contoso: "c0000000-0000-4000-8000-000000000001",
    fabrikam: "f0000000-0000-4000-8000-000000000002",
  };
  for (const tenant of ["contoso", "fabrikam"])
    await registerLocalTenant(host.url, tenant, directories[tenant]!);
});

// Every deployment a scenario starts must end with its record and its instance telling the same story.
const startedIds = new Set<string>();
afterEach(async () => {
  for (const id of startedIds) await assertOneTruth(host!.url, id);
  startedIds.clear();
  for (const tenant of ["contoso", "fabrikam"]) await assertNothingInFlight(host!.url, tenant);
});

after(async () => {
  await Promise.all([...agents.values()].map((a) => a.close()));
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
});

async function startDeployment(
  tenant: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${host!.url}/api/tenants/${tenant}/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const started = (await res.json()) as { id: string; instanceId: string } & Record<string, string>;
  if (res.status === 202 || res.status === 200) startedIds.add(started.id);
  return { status: res.status, body: started, location: res.headers.get("location") };
}

async function deployment(id: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${host!.url}/api/deployments/${id}`)).json()) as Record<string, unknown>;
}

async function until(id: string, done: (d: Record<string, unknown>) => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await deployment(id);
    if (done(d)) return d;
    if (Date.now() > deadline) throw new Error(`deployment ${id} stuck at ${JSON.stringify(d)}`);
    await sleep(100);
  }
}

async function waitForInstance(statusUrl: string, runtimeStatus: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const s = (await (await fetch(statusUrl)).json()) as { runtimeStatus: string };
    if (s.runtimeStatus === runtimeStatus) return;
    if (Date.now() > deadline) throw new Error(`instance is ${s.runtimeStatus}, not ${runtimeStatus}`);
    await sleep(50);
  }
}

/** The agent side: the next command for a deployment, from the tenant's command queue. */
function nextCommand(tenant: string, deploymentId: string, type: Command["type"]): Promise<Command> {
  return takeCommand(agents.get(tenant)!, deploymentId, type);
}

const report = (
  tenant: string,
  cmd: Pick<Command, "deploymentId" | "attempt">,
  state: Status["state"],
  sequence: number,
  progress = 0,
  message?: string,
) => sendStatus(agents.get(tenant)!, cmd, state, sequence, { progress, ...(message ? { message } : {}) });

test("success: Deploy reaches the agent, statuses flow back through the pump, the outcome is recorded", async () => {
  const started = await startDeployment("contoso", { spec: { template: "web" } });
  assert.equal(started.status, 202);
  const cmd = await nextCommand("contoso", started.body.id, "Deploy");
  assert.deepEqual(cmd.spec, { template: "web" });
  await report("contoso", cmd, "Accepted", 1);
  await report("contoso", cmd, "InProgress", 2, 50, "halfway");
  await report("contoso", cmd, "InProgress", 2, 50, "halfway"); // duplicate: harmless
  await report("contoso", cmd, "Succeeded", 3, 100, "done");
  const d = await until(started.body.id, (x) => x.phase === "Completed");
  assert.equal(d.outcome, "Succeeded");
  assert.equal(d.progress, 100);
  assert.equal(d.message, "done");
});

test("acceptance timeout: an agent that never answers ends TimedOut and gets a Cancel", async () => {
  const started = await startDeployment("contoso", {
    spec: { demo: { outcome: "ignore" } },
    acceptanceTimeoutSeconds: 2,
  });
  const d = await until(started.body.id, (x) => x.phase === "Completed");
  assert.equal(d.outcome, "TimedOut");
  const cancel = await nextCommand("contoso", started.body.id, "Cancel");
  assert.equal(cancel.reason, "acceptance timeout");
});

test("cancel: the user cancels, the agent acknowledges, the outcome is Cancelled", async () => {
  const started = await startDeployment("contoso", { spec: { template: "slow" } });
  const cmd = await nextCommand("contoso", started.body.id, "Deploy");
  await report("contoso", cmd, "Accepted", 1);
  await until(started.body.id, (x) => x.phase === "Accepted");
  const res = await fetch(`${host!.url}/api/deployments/${started.body.id}/cancel`, { method: "POST" });
  assert.equal(res.status, 202);
  await nextCommand("contoso", started.body.id, "Cancel");
  await report("contoso", cmd, "Cancelled", 2, 10, "rolled back");
  const d = await until(started.body.id, (x) => x.phase === "Completed");
  assert.equal(d.outcome, "Cancelled");
});

test("a spoofed status naming another tenant's deployment is dead-lettered and changes nothing", async () => {
  const victim = await startDeployment("fabrikam", { spec: { template: "db" } });
  const cmd = await nextCommand("fabrikam", victim.body.id, "Deploy");
  await report("fabrikam", cmd, "Accepted", 1);
  await until(victim.body.id, (x) => x.phase === "Accepted");
  // contoso's agent (or anyone with its status queue) claims fabrikam's deployment failed
  const decoy = await startDeployment("contoso", { spec: { template: "decoy" } }); // keeps contoso's pump running
  await report("contoso", cmd, "Failed", 9, 0, "spoofed");
  const dlq = agents
    .get("contoso")!
    .createReceiver("status", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
  await dlq.close();
  assert.equal(dead?.deadLetterReason, "ForeignDeployment");
  const d = await deployment(victim.body.id);
  assert.equal(d.phase, "Accepted", "the victim deployment is unchanged");
  assert.equal(d.outcome, undefined);
  const decoyCmd = await nextCommand("contoso", decoy.body.id, "Deploy");
  await report("contoso", decoyCmd, "Succeeded", 1, 100);
  await report("fabrikam", cmd, "Succeeded", 2, 100);
  assert.equal((await until(victim.body.id, (x) => x.phase === "Completed")).outcome, "Succeeded");
});

test("an Idempotency-Key returns the same deployment on repeat; bad requests are 4xx problems", async () => {
  const first = await startDeployment(
    "contoso",
    { spec: { template: "idem" } },
    { "idempotency-key": "order-42" },
  );
  const again = await startDeployment(
    "contoso",
    { spec: { template: "idem" } },
    { "idempotency-key": "order-42" },
  );
  assert.equal(first.status, 202);
  assert.equal(again.status, 200);
  assert.equal(again.body.id, first.body.id);
  const cmd = await nextCommand("contoso", first.body.id, "Deploy");
  await report("contoso", cmd, "Rejected", 1, 0, "template unknown");
  assert.equal((await until(first.body.id, (x) => x.phase === "Completed")).outcome, "Rejected");

  assert.equal((await startDeployment("nobody", { spec: {} })).status, 404);
  const bad = await fetch(`${host!.url}/api/tenants/contoso/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ spec: "not an object", extra: 1 }),
  });
  assert.equal(bad.status, 400);
  assert.match(bad.headers.get("content-type") ?? "", /problem\+json/);
  assert.equal((await fetch(`${host!.url}/api/deployments/unknown-id`)).status, 404);
  const list = (await (
    await fetch(`${host!.url}/api/tenants/contoso/deployments?status=Succeeded`)
  ).json()) as { items: { outcome: string }[] };
  assert.ok(list.items.length >= 1 && list.items.every((i) => i.outcome === "Succeeded"));
});

test("failure, then retry: a new attempt of the same deployment, linked to the previous one, succeeds", async () => {
  const started = await startDeployment("fabrikam", { spec: { template: "flaky" } });
  const first = await nextCommand("fabrikam", started.body.id, "Deploy");
  await report("fabrikam", first, "Accepted", 1);
  await report("fabrikam", first, "Failed", 2, 30, "quota exceeded");
  const failed = await until(started.body.id, (x) => x.phase === "Completed");
  assert.equal(failed.outcome, "Failed");
  assert.equal(failed.message, "quota exceeded");
  const retry = await fetch(`${host!.url}/api/deployments/${started.body.id}/retry`, { method: "POST" });
  assert.equal(retry.status, 202);
  const second = await nextCommand("fabrikam", started.body.id, "Deploy");
  assert.equal(second.attempt, 2);
  assert.deepEqual(second.spec, { template: "flaky" }, "the retry deploys the original spec");
  await report("fabrikam", second, "Succeeded", 1, 100);
  const done = await until(started.body.id, (x) => x.attempt === 2 && x.phase === "Completed");
  assert.equal(done.outcome, "Succeeded");
  assert.equal(done.previousAttempt, 1);
  const again = await fetch(`${host!.url}/api/deployments/${started.body.id}/retry`, { method: "POST" });
  assert.equal(again.status, 409, "a succeeded deployment cannot be retried");
});

test("terminate ends the orchestration, records Terminated and sends a best-effort Cancel", async () => {
  const started = await startDeployment("fabrikam", { spec: { template: "stuck" } });
  const cmd = await nextCommand("fabrikam", started.body.id, "Deploy");
  await report("fabrikam", cmd, "Accepted", 1);
  await until(started.body.id, (x) => x.phase === "Accepted");
  const res = await fetch(`${host!.url}/api/deployments/${started.body.id}/terminate`, { method: "POST" });
  assert.equal(res.status, 202);
  assert.equal(((await res.json()) as { outcome: string }).outcome, "Terminated");
  const cancel = await nextCommand("fabrikam", started.body.id, "Cancel");
  assert.equal(cancel.reason, "terminated by user");
  await report("fabrikam", cmd, "Succeeded", 2, 100); // too late: terminal states are final
  await sleep(1000);
  assert.equal((await deployment(started.body.id)).outcome, "Terminated");
});

test("completion timeout: accepted but silent ends TimedOut", async () => {
  const started = await startDeployment("contoso", {
    spec: { demo: { outcome: "stall" } },
    // Not above the completion timeout (the tenant's default, 120 s, would be); long enough for the
    // Accepted report to arrive before it.
    acceptanceTimeoutSeconds: 5,
    completionTimeoutSeconds: 5,
  });
  const cmd = await nextCommand("contoso", started.body.id, "Deploy");
  await report("contoso", cmd, "Accepted", 1);
  const d = await until(started.body.id, (x) => x.phase === "Completed");
  assert.equal(d.outcome, "TimedOut");
  assert.match(String(d.message), /did not complete in time/);
});

test("verify diagnoses the failing step: no agent answering, or no credential", async () => {
  const silent = await fetch(`${host!.url}/api/tenants/contoso/verify`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ timeoutSeconds: 2 }),
  });
  const s = (await silent.json()) as { ok: boolean; steps: { step: string; ok: boolean; detail?: string }[] };
  assert.equal(s.ok, false);
  assert.deepEqual(
    s.steps.map((x) => [x.step, x.ok]),
    [
      ["credential", true],
      ["send", true],
      ["receive", false],
    ],
  );
  // The Ping is on the command queue for the (absent) agent; take it off so later tests see only theirs.
  const receiver = agents.get("contoso")!.createReceiver("commands", { receiveMode: "receiveAndDelete" });
  await receiver.receiveMessages(10, { maxWaitTimeInMs: 300 });
  await receiver.close();
  const health = (await (await fetch(`${host!.url}/api/tenants/contoso/health`)).json()) as {
    statusPump: { runtimeStatus: string };
    lastVerify?: { ok: boolean; failedStep?: string; detail?: string };
  };
  assert.equal(health.lastVerify?.ok, false, "the last verify result is kept for the dashboard");
  assert.equal(health.lastVerify?.failedStep, "receive");
  assert.match(health.lastVerify?.detail ?? "", /no Pong/);
  assert.ok(health.statusPump.runtimeStatus.length > 0);
  assert.equal((await fetch(`${host!.url}/api/tenants/nobody-here/health`)).status, 404);

  const reg = await fetch(`${host!.url}/api/tenants/ghost`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      directoryId: "99999999-0000-4000-8000-000000000009",
      serviceBus: { namespace: "ghost.servicebus.localhost" },
      auth: { mode: "sas", sasSetting: "TENANT_GHOST_SAS_NOT_SET" },
    }),
  });
  assert.equal(reg.status, 201);
  const noCred = (await (
    await fetch(`${host!.url}/api/tenants/ghost/verify`, { method: "POST" })
  ).json()) as {
    ok: boolean;
    steps: { step: string; ok: boolean; detail?: string }[];
  };
  assert.equal(noCred.ok, false);
  assert.equal(noCred.steps[0]?.step, "credential");
  assert.match(String(noCred.steps[0]?.detail), /GHOST_SAS_NOT_SET/);
  const ghostHealth = async () =>
    (await (await fetch(`${host!.url}/api/tenants/ghost/health`)).json()) as { lastVerify?: { ok: boolean } };
  assert.equal((await ghostHealth()).lastVerify?.ok, false);
  // Deleting a tenant forgets its verify record: registered again, it starts with none.
  assert.equal((await fetch(`${host!.url}/api/tenants/ghost`, { method: "DELETE" })).status, 204);
  const again = await fetch(`${host!.url}/api/tenants/ghost`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      directoryId: "99999999-0000-4000-8000-000000000009",
      serviceBus: { namespace: "ghost.servicebus.localhost" },
      auth: { mode: "sas", sasSetting: "TENANT_GHOST_SAS_NOT_SET" },
    }),
  });
  assert.equal(again.status, 201);
  assert.equal((await ghostHealth()).lastVerify, undefined);
});

test("no app setting's value comes back: not from verify, the health row or a deployment's outcome", async () => {
  const key = /AccountKey=([^;]+)/.exec(azurite.connectionString)![1]!;
  const leaks = (text: string) => text.includes(key) || text.includes(azurite.connectionString);
  const put = (auth: Record<string, string>) =>
    fetch(`${host!.url}/api/tenants/leaky`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directoryId: "0a000000-0000-4000-8000-00000000000a",
        serviceBus: { namespace: "leaky.servicebus.localhost" },
        auth,
      }),
    });
  // The repro: a registration naming the Provider's own storage setting is refused, naming the field.
  const refused = await put({ mode: "certificate", certificateSetting: "AzureWebJobsStorage" });
  assert.equal(refused.status, 400);
  assert.equal(refused.headers.get("content-type"), "application/problem+json");
  const problem = (await refused.json()) as { errors?: { field: string }[] };
  assert.deepEqual(
    problem.errors?.map((e) => e.field),
    ["auth.certificateSetting"],
  );
  // A tenant setting holding a secret by mistake: every answer names the setting, never its value.
  assert.equal((await put({ mode: "certificate", certificateSetting: "TENANT_LEAKY_CERT" })).status, 201);
  const verify = await (await fetch(`${host!.url}/api/tenants/leaky/verify`, { method: "POST" })).text();
  assert.ok(!leaks(verify), verify);
  assert.match(verify, /TENANT_LEAKY_CERT/);
  const health = await (await fetch(`${host!.url}/api/tenants/leaky/health`)).text();
  assert.ok(!leaks(health), health);
  assert.match(health, /TENANT_LEAKY_CERT/);
  const started = await startDeployment("leaky", { spec: { template: "leak" } });
  assert.equal(started.status, 202);
  const d = await assertOneTruth(host!.url, started.body.id, 20_000);
  assert.equal(d.outcome, "Failed");
  const record = JSON.stringify(await deployment(started.body.id));
  assert.ok(!leaks(record), record);
  assert.match(String(d.message), /TENANT_LEAKY_CERT/);
  assert.equal((await fetch(`${host!.url}/api/tenants/leaky`, { method: "DELETE" })).status, 204);
});

test("out-of-order statuses: a late lower sequence never moves a deployment backwards", async () => {
  const started = await startDeployment("fabrikam", { spec: { template: "ooo" } });
  const cmd = await nextCommand("fabrikam", started.body.id, "Deploy");
  await report("fabrikam", cmd, "InProgress", 3, 60, "step 3");
  await until(started.body.id, (x) => x.progress === 60);
  await report("fabrikam", cmd, "Accepted", 1, 0, "late accept");
  await report("fabrikam", cmd, "InProgress", 2, 30, "late step 2");
  await sleep(800);
  const mid = await deployment(started.body.id);
  assert.equal(mid.progress, 60);
  assert.equal(mid.message, "step 3");
  await report("fabrikam", cmd, "Succeeded", 4, 100);
  const done = await until(started.body.id, (x) => x.phase === "Completed");
  assert.equal(done.outcome, "Succeeded");
  // The timeline holds what was applied, in order: stale and duplicate reports are not in it.
  const timeline = done.timeline as { source: string; event: string; sequence?: number; message?: string }[];
  assert.equal(timeline[0]?.event, "Requested");
  const agentEntries = timeline.filter((e) => e.source === "agent");
  const sequences = agentEntries.map((e) => e.sequence as number);
  assert.deepEqual(
    sequences,
    [...sequences].sort((a, b) => a - b),
  );
  assert.equal(new Set(sequences).size, sequences.length);
  assert.equal(agentEntries.at(-1)?.event, "Succeeded");
  assert.ok(!timeline.some((e) => /late/.test(e.message ?? "")), JSON.stringify(timeline));
});

test("concurrent deployments to one tenant each get their own outcome", async () => {
  const ids = await Promise.all(
    [1, 2, 3].map(async (n) => (await startDeployment("fabrikam", { spec: { n } })).body.id),
  );
  assert.equal(new Set(ids).size, 3);
  const outcomes: Record<string, Status["state"]> = {
    [ids[0]!]: "Succeeded",
    [ids[1]!]: "Failed",
    [ids[2]!]: "Succeeded",
  };
  // One agent receiver takes all three commands (as a real agent would), then answers each.
  const receiver = agents.get("fabrikam")!.createReceiver("commands", { receiveMode: "receiveAndDelete" });
  const commands: Command[] = [];
  const deadline = Date.now() + 10_000;
  while (commands.length < 3 && Date.now() < deadline) {
    for (const m of await receiver.receiveMessages(10, { maxWaitTimeInMs: 500 })) {
      const c = m.body as Command;
      if (ids.includes(c.deploymentId) && c.type === "Deploy") commands.push(c);
    }
  }
  await receiver.close();
  assert.equal(commands.length, 3);
  await Promise.all(
    commands.map(async (cmd) => {
      await report("fabrikam", cmd, "Accepted", 1);
      await report("fabrikam", cmd, outcomes[cmd.deploymentId]!, 2, 100);
    }),
  );
  for (const id of ids) assert.equal((await until(id, (x) => x.phase === "Completed")).outcome, outcomes[id]);
});

test("the start answer carries every Durable management URL and our links, all absolute", async () => {
  const started = await startDeployment("contoso", { spec: { template: "links" } });
  assert.equal(started.status, 202);
  const b = started.body;
  assert.equal(started.location, `${host!.url}/api/deployments/${b.id}`);
  assert.equal(b.statusUrl, started.location);
  for (const key of [
    "statusQueryGetUri",
    "sendEventPostUri",
    "terminatePostUri",
    "rewindPostUri",
    "purgeHistoryDeleteUri",
    "restartPostUri",
    "suspendPostUri",
    "resumePostUri",
    "cancelPostUri",
    "terminateDeploymentPostUri",
    "retryPostUri",
  ])
    assert.ok(b[key]?.startsWith(`${host!.url}/`), `${key} = ${b[key]} is not on this host`);
  assert.ok(
    b.statusQueryGetUri!.includes(encodeURIComponent(b.instanceId)) ||
      b.statusQueryGetUri!.includes(b.instanceId),
  );
  const status = await fetch(b.statusQueryGetUri!);
  assert.ok([200, 202].includes(status.status));
  // Started at the app's current orchestration version (host.json defaultVersion, docs/upgrading.md).
  assert.equal(((await status.json()) as { version: string }).version, CURRENT_VERSION);
  const cmd = await nextCommand("contoso", b.id, "Deploy");
  await report("contoso", cmd, "Succeeded", 1, 100);
  await until(b.id, (x) => x.phase === "Completed");
});

test("cancel while the agent keeps reporting: the orchestration completes Cancelled (no grace-timer hang)", async () => {
  const started = await startDeployment("contoso", { spec: { template: "busy-cancel" } });
  const cmd = await nextCommand("contoso", started.body.id, "Deploy");
  await report("contoso", cmd, "Accepted", 1);
  await report("contoso", cmd, "InProgress", 2, 10);
  await until(started.body.id, (x) => x.phase === "InProgress");
  assert.equal(
    (await fetch(`${host!.url}/api/deployments/${started.body.id}/cancel`, { method: "POST" })).status,
    202,
  );
  await nextCommand("contoso", started.body.id, "Cancel");
  // Progress that was already on its way arrives after the Cancel, then the acknowledgement.
  for (let seq = 3; seq <= 6; seq++) await report("contoso", cmd, "InProgress", seq, seq * 10);
  await report("contoso", cmd, "Cancelled", 7, 60, "rolled back");
  const d = await assertOneTruth(host!.url, started.body.id);
  assert.equal(d.outcome, "Cancelled");
});

test("cancel without acknowledgement while progress still arrives: Cancelled when the grace period ends", async () => {
  const started = await startDeployment("contoso", { spec: { template: "deaf-cancel" } });
  const cmd = await nextCommand("contoso", started.body.id, "Deploy");
  await report("contoso", cmd, "Accepted", 1);
  await until(started.body.id, (x) => x.phase === "Accepted");
  await fetch(`${host!.url}/api/deployments/${started.body.id}/cancel`, { method: "POST" });
  await nextCommand("contoso", started.body.id, "Cancel");
  for (let seq = 2; seq <= 4; seq++) await report("contoso", cmd, "InProgress", seq, seq * 10);
  const d = await assertOneTruth(host!.url, started.body.id);
  assert.equal(d.outcome, "Cancelled");
  assert.match(String(d.message), /did not acknowledge/);
});

test("a timed-out deployment whose agent acknowledges the Cancel at once stays TimedOut", async () => {
  const started = await startDeployment("fabrikam", {
    spec: { template: "slow-accept" },
    acceptanceTimeoutSeconds: 1,
  });
  const deploy = await nextCommand("fabrikam", started.body.id, "Deploy");
  const cancel = await nextCommand("fabrikam", started.body.id, "Cancel");
  assert.equal(cancel.reason, "acceptance timeout");
  await report("fabrikam", deploy, "Cancelled", 1, 0, "stopped as asked");
  const d = await assertOneTruth(host!.url, started.body.id);
  assert.equal(d.outcome, "TimedOut");
  const timeline = (await deployment(started.body.id)).timeline as { source: string; event: string }[];
  assert.ok(
    timeline.some((e) => e.event === "TimedOut" && e.source === "provider"),
    JSON.stringify(timeline),
  );
});

test("an undeliverable Deploy is retried with backoff, then the deployment ends Failed with the cause", async () => {
  await registerLocalTenant(host!.url, "nowhere", "0e000000-0000-4000-8000-00000000000e");
  const started = await startDeployment("nowhere", { spec: { template: "lost" } });
  assert.equal(started.status, 202);
  const d = await assertOneTruth(host!.url, started.body.id, 20_000);
  assert.equal(d.outcome, "Failed");
  assert.match(String(d.message), /could not be delivered after 3 attempt\(s\).*ECONNREFUSED/);
  const instance = (await (await fetch(started.body.statusQueryGetUri!)).json()) as { runtimeStatus: string };
  assert.equal(
    instance.runtimeStatus,
    "Completed",
    "a foreseeable error is an outcome, not a failed orchestration",
  );
  // Nothing is left in flight: the tenant can be deleted; a retry is possible.
  await assertNothingInFlight(host!.url, "nowhere");
  const retry = await fetch(`${host!.url}/api/deployments/${started.body.id}/retry`, { method: "POST" });
  assert.equal(retry.status, 202);
  await assertOneTruth(host!.url, started.body.id, 20_000);
  assert.equal((await fetch(`${host!.url}/api/tenants/nowhere`, { method: "DELETE" })).status, 204);
});

test("Durable terminate link: the record says Terminated and the agent gets a Cancel", async () => {
  const started = await startDeployment("fabrikam", { spec: { template: "durable-terminate" } });
  const cmd = await nextCommand("fabrikam", started.body.id, "Deploy");
  await report("fabrikam", cmd, "Accepted", 1);
  await until(started.body.id, (x) => x.phase === "Accepted");
  const url = started.body.terminatePostUri!.replace("{text}", encodeURIComponent("stop it"));
  assert.equal((await fetch(url, { method: "POST" })).status, 202);
  await waitForInstance(started.body.statusQueryGetUri!, "Terminated");
  // Before anyone reads the record, counting the tenant's work reconciles it: no ghost in flight.
  const health = (await (await fetch(`${host!.url}/api/tenants/fabrikam/health`)).json()) as {
    activeDeployments: number;
  };
  assert.equal(health.activeDeployments, 0);
  // The agent finishing afterwards does not turn a terminated deployment into a success.
  await report("fabrikam", cmd, "Succeeded", 2, 100);
  const d = await until(started.body.id, (x) => x.phase === "Completed");
  assert.equal(d.outcome, "Terminated");
  const cancel = await nextCommand("fabrikam", started.body.id, "Cancel");
  assert.equal(cancel.attempt, cmd.attempt);
  await sleep(500);
  assert.equal((await deployment(started.body.id)).outcome, "Terminated");
});

test("Durable suspend / resume: the record shows the suspension and no status is lost", async () => {
  const started = await startDeployment("contoso", { spec: { template: "suspend" } });
  const cmd = await nextCommand("contoso", started.body.id, "Deploy");
  await report("contoso", cmd, "Accepted", 1);
  await until(started.body.id, (x) => x.phase === "Accepted");
  const suspend = started.body.suspendPostUri!.replace("{text}", "maintenance");
  assert.equal((await fetch(suspend, { method: "POST" })).status, 202);
  await until(started.body.id, (x) => x.suspended === true);
  await report("contoso", cmd, "InProgress", 2, 50, "halfway");
  await report("contoso", cmd, "Succeeded", 3, 100, "done");
  // The agent's reports are recorded as they come; the outcome waits for the orchestration.
  const held = await until(
    started.body.id,
    (x) => (x.lastStatus as { state?: string })?.state === "Succeeded",
  );
  assert.equal(held.phase, "InProgress");
  assert.equal(held.outcome, undefined);
  await sleep(300);
  assert.equal(
    (await deployment(started.body.id)).outcome,
    undefined,
    "a suspended instance decides nothing",
  );
  const resume = started.body.resumePostUri!.replace("{text}", "done");
  assert.equal((await fetch(resume, { method: "POST" })).status, 202);
  const d = await assertOneTruth(host!.url, started.body.id);
  assert.equal(d.outcome, "Succeeded");
  const events = ((await deployment(started.body.id)).timeline as { event: string }[]).map((e) => e.event);
  assert.ok(events.includes("Suspended") && events.includes("Resumed"), events.join(","));
});

test("Durable restart link: a new attempt, with its own Deploy and statuses, like retry", async () => {
  const started = await startDeployment("fabrikam", { spec: { template: "restart" } });
  const first = await nextCommand("fabrikam", started.body.id, "Deploy");
  await report("fabrikam", first, "Failed", 1, 0, "broken");
  await assertOneTruth(host!.url, started.body.id);
  const restart = await fetch(started.body.restartPostUri!, { method: "POST" });
  assert.equal(restart.status, 202, await restart.text());
  const second = await nextCommand("fabrikam", started.body.id, "Deploy");
  assert.equal(second.attempt, 2, "the restart is a new attempt, so the agent does not drop it");
  assert.deepEqual(second.spec, { template: "restart" });
  await report("fabrikam", second, "Accepted", 1);
  await report("fabrikam", second, "Succeeded", 2, 100);
  const d = await assertOneTruth(host!.url, started.body.id);
  assert.equal(d.attempt, 2);
  assert.equal(d.outcome, "Succeeded");
  assert.notEqual(d.instanceId, started.body.instanceId, "the ledger keeps the new attempt's instance");
  assert.equal((await deployment(started.body.id)).previousAttempt, 1);
});

test("Durable rewind of a deployment instance answers 410 (only failed instances rewind), as the extension does", async () => {
  const started = await startDeployment("contoso", { spec: { template: "rewind" } });
  const cmd = await nextCommand("contoso", started.body.id, "Deploy");
  await report("contoso", cmd, "Succeeded", 1, 100);
  await assertOneTruth(host!.url, started.body.id);
  const rewind = await fetch(started.body.rewindPostUri!.replace("{text}", "again"), { method: "POST" });
  assert.equal(rewind.status, 410);
});

test("progress goes to the ledger, not the orchestration: 40 reports wake it twice (acceptance, end), with no detail", async () => {
  const started = await startDeployment("fabrikam", { spec: { template: "chatty" } });
  const cmd = await nextCommand("fabrikam", started.body.id, "Deploy");
  const agent = agents.get("fabrikam")!;
  await sendStatus(agent, cmd, "Accepted", 1, { detail: { log: "x".repeat(4000) } });
  for (let i = 1; i <= 40; i++)
    await sendStatus(agent, cmd, "InProgress", i + 1, { progress: i * 2, message: `step ${i}` });
  const progressed = await until(started.body.id, (x) => x.progress === 80);
  assert.equal(progressed.message, "step 40", "the ledger has every report");
  await report("fabrikam", cmd, "Succeeded", 42, 100, "done");
  assert.equal((await until(started.body.id, (x) => x.phase === "Completed")).outcome, "Succeeded");
  const url = new URL(started.body.statusQueryGetUri!);
  url.searchParams.set("showHistory", "true");
  url.searchParams.set("showHistoryOutput", "true");
  const history = (
    (await (await fetch(url)).json()) as { historyEvents: { EventType: string; Input?: unknown }[] }
  ).historyEvents;
  const raised = history.filter((e) => e.EventType === "EventRaised");
  assert.deepEqual(
    raised.map((e) => (e.Input as { state: string; detail?: unknown }).state),
    ["Accepted", "Succeeded"],
  );
  assert.ok(
    raised.every((e) => (e.Input as { detail?: unknown }).detail === undefined),
    "no detail raised",
  );
});

test("a failure of the Provider's own mid-flight is recorded Failed with its cause; the agent is not asked to cancel and its later report stays visible", async () => {
  // A Provider bug that surfaces in the middle of a deployment: the orchestrator throws on its next replay.
  const deploymentFn = host!.app.registry.get("deployment")!;
  const original = deploymentFn.handler;
  let failInstance: string | undefined;
  deploymentFn.handler = (...args: unknown[]) => {
    if ((args[0] as { instanceId?: string }).instanceId === failInstance)
      throw new Error("simulated Provider bug");
    return original(...args);
  };
  try {
    const started = await startDeployment("contoso", { spec: { template: "provider-bug" } });
    const cmd = await nextCommand("contoso", started.body.id, "Deploy");
    // The bug surfaces when the agent's acceptance wakes the orchestration; the customer works on.
    failInstance = started.body.instanceId;
    await report("contoso", cmd, "Accepted", 1);
    await waitForInstance(started.body.statusQueryGetUri!, "Failed");
    await report("contoso", cmd, "InProgress", 2, 40);
    const d = await until(started.body.id, (x) => x.phase === "Completed");
    assert.equal(d.outcome, "Failed");
    assert.match(String(d.message), /not asked to cancel.*simulated Provider bug/);
    // Reconciliation has run (the read above): a Cancel would already be on the customer's queue.
    const peeker = agents.get("contoso")!.createReceiver("commands");
    const queued = (await peeker.peekMessages(100)).map((m) => m.body as Command);
    await peeker.close();
    assert.deepEqual(
      queued.filter((c) => c.deploymentId === started.body.id).map((c) => c.type),
      [],
      "no Cancel for the customer's running work",
    );
    // The customer's agent finishes its work: the outcome stays ours, its report is in the timeline.
    await report("contoso", cmd, "Succeeded", 3, 100, "done at the customer");
    const after = await until(started.body.id, (x) =>
      ((x.timeline ?? []) as { source: string; event: string }[]).some(
        (e) => e.source === "agent" && e.event === "Succeeded",
      ),
    );
    assert.equal(after.outcome, "Failed");

    // The bug is fixed (a hotfix): the rewind reopens the record and the deployment ends with its real
    // outcome, the agent's Succeeded, which replaces the Provider failure.
    deploymentFn.handler = original;
    const rewind = await fetch(`${host!.url}/api/deployments/${started.body.id}/rewind`, { method: "POST" });
    assert.equal(rewind.status, 202, await rewind.clone().text());
    assert.equal(((await rewind.json()) as { outcome?: string }).outcome, undefined, "reopened");
    const done = await until(started.body.id, (x) => x.phase === "Completed");
    assert.equal(done.outcome, "Succeeded");
    await waitForInstance(started.body.statusQueryGetUri!, "Completed");
    const again = await fetch(`${host!.url}/api/deployments/${started.body.id}/rewind`, { method: "POST" });
    assert.equal(again.status, 409, "only a failure of ours can be rewound");
  } finally {
    deploymentFn.handler = original;
  }
});

test("Durable purge of a running deployment's instance: the record ends Failed and the agent gets a Cancel", async () => {
  const started = await startDeployment("contoso", { spec: { template: "purge" } });
  const cmd = await nextCommand("contoso", started.body.id, "Deploy");
  await report("contoso", cmd, "Accepted", 1);
  await until(started.body.id, (x) => x.phase === "Accepted");
  const purge = await fetch(started.body.purgeHistoryDeleteUri!, { method: "DELETE" });
  assert.equal(purge.status, 200);
  const d = await until(started.body.id, (x) => x.phase === "Completed");
  assert.equal(d.outcome, "Failed");
  assert.match(String(d.message), /purged/);
  const cancel = await nextCommand("contoso", started.body.id, "Cancel");
  assert.equal(cancel.attempt, cmd.attempt);
});

test("every class of bad status is dead-lettered with its own reason beside a real deployment, in one batch", async () => {
  const foreign = await startDeployment("fabrikam", { spec: { template: "foreign-target" } });
  const real = await startDeployment("contoso", { spec: { template: "beside-bad-statuses" } });
  const cmd = await nextCommand("contoso", real.body.id, "Deploy");
  await report("contoso", cmd, "Accepted", 1);
  await until(real.body.id, (x) => x.phase === "Accepted");
  const valid = (deploymentId: string) => ({
    schemaVersion: 1,
    deploymentId,
    attempt: 1,
    state: "InProgress",
    progress: 10,
    sequence: 5,
    reportedAt: new Date().toISOString(),
  });
  const json = { contentType: "application/json", applicationProperties: { schema: "deploy.status.v1" } };
  const bad: Record<
    string,
    { body: unknown; contentType?: string; applicationProperties?: Record<string, string> }
  > = {
    SchemaViolation: { ...json, body: [1, 2, 3] },
    InvalidJson: { ...json, body: Buffer.from("{not json") },
    Oversized: { ...json, body: { ...valid(real.body.id), message: "x".repeat(70 * 1024) } },
    UnsupportedContentType: { ...json, contentType: "text/plain", body: valid(real.body.id) },
    UnsupportedSchema: {
      ...json,
      applicationProperties: { schema: "deploy.status.v2" },
      body: valid(real.body.id),
    },
    UnknownDeployment: { ...json, body: valid("no-such-deployment") },
    ForeignDeployment: { ...json, body: valid(foreign.body.id) },
  };
  const sender = agents.get("contoso")!.createSender("status");
  // One send: the pump takes them as one batch and settles them concurrently.
  await sender.sendMessages(Object.entries(bad).map(([reason, m]) => ({ ...m, messageId: `bad-${reason}` })));
  await sender.close();
  await report("contoso", cmd, "Succeeded", 6, 100);
  assert.equal((await assertOneTruth(host!.url, real.body.id)).outcome, "Succeeded");
  const dlq = agents
    .get("contoso")!
    .createReceiver("status", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  const dead = new Map<string, { reason: string; description: string }>();
  const deadline = Date.now() + 10_000;
  while (dead.size < Object.keys(bad).length && Date.now() < deadline)
    for (const m of await dlq.receiveMessages(10, { maxWaitTimeInMs: 500 }))
      dead.set(String(m.messageId), {
        reason: String(m.deadLetterReason),
        description: String(m.deadLetterErrorDescription),
      });
  await dlq.close();
  for (const reason of Object.keys(bad)) {
    const got = dead.get(`bad-${reason}`);
    assert.equal(got?.reason, reason, `bad-${reason}: ${JSON.stringify(got)}`);
    assert.ok((got?.description.length ?? 0) > 0, `bad-${reason} has a description`);
  }
  assert.match(dead.get("bad-Oversized")!.description, /over the limit of 65536 bytes/);
  assert.match(dead.get("bad-UnsupportedContentType")!.description, /text\/plain/);
  assert.match(dead.get("bad-UnsupportedSchema")!.description, /deploy\.status\.v2/);
  assert.match(dead.get("bad-ForeignDeployment")!.description, new RegExp(foreign.body.id));
  const fcmd = await nextCommand("fabrikam", foreign.body.id, "Deploy");
  await report("fabrikam", fcmd, "Succeeded", 1, 100);
  await until(foreign.body.id, (x) => x.phase === "Completed");
});

test("a record left behind a Durable-terminated instance does not take a slot of the tenant's concurrency limit", async () => {
  // A tenant allowed one deployment at a time (on its own queues of Contoso's namespace; its agent is
  // never played here).
  await registerLocalTenant(host!.url, "solo", "50000000-0000-4000-8000-000000000005", {
    serviceBus: {
      namespace: "contoso.servicebus.localhost",
      commandQueue: "solo-commands",
      statusQueue: "solo-status",
    },
    auth: { mode: "sas", sasSetting: "TENANT_CONTOSO_SAS" },
    limits: { maxConcurrentDeployments: 1 },
  });
  const first = await startDeployment("solo", { spec: { template: "first" } });
  assert.equal(first.status, 202);
  assert.equal(
    (await startDeployment("solo", { spec: { template: "over" } })).status,
    409,
    "the limit holds",
  );
  const url = first.body.terminatePostUri!.replace("{text}", "freed");
  assert.equal((await fetch(url, { method: "POST" })).status, 202);
  await waitForInstance(first.body.statusQueryGetUri!, "Terminated");
  // Nobody read the record since: the ledger still counts it in flight until it is reconciled.
  const second = await startDeployment("solo", { spec: { template: "second" } });
  assert.equal(second.status, 202, JSON.stringify(second.body));
  const stop = await fetch(`${host!.url}/api/deployments/${second.body.id}/terminate`, { method: "POST" });
  assert.equal(stop.status, 202);
  assert.equal((await deployment(first.body.id)).outcome, "Terminated");
});
