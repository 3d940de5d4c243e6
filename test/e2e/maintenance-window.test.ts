/**
 * Tenant labels and maintenance windows end to end: the Provider app on the dev host with its durable
 * engine (real clock), a customer namespace in the emulator, and this test playing the agent.
 */
import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { RunningAzurite, startAzurite } from "../../dev/azurite";
import { RunningHost, startHost } from "../../dev/host";
import type { RunningEmulator } from "../../dev/servicebus-emulator";
import type { Command, Status } from "../../lib/messaging/contracts";
import { windowOpensAt } from "../../lib/tenants/maintenance";
import { localProviderSettings } from "../helpers/provider";
import {
  FAST_RETRIES,
  namespaceConfig,
  nextCommand,
  sendStatus,
  sleep,
  startEmulator,
} from "../helpers/servicebus";
import { assertNothingInFlight, assertOneTruth } from "../helpers/one-truth";
import { registerLocalTenant } from "../helpers/tenants";

const root = path.join(__dirname, "..", "..", "..");
const TENANT = "contoso";
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
let agent: ServiceBusClient;

// A daily one-hour window twelve hours from now: closed for the whole test.
const opening = new Date(Date.now() + 12 * 3600_000);
const windows = [
  { cron: `${opening.getUTCMinutes()} ${opening.getUTCHours()} * * *`, durationMinutes: 60, timeZone: "UTC" },
];

before(async () => {
  azurite = await startAzurite();
  const properties = { LockDuration: "PT5S" };
  emulator = await startEmulator([
    namespaceConfig(TENANT, [
      { name: "commands", properties },
      { name: "status", properties },
    ]),
  ]);
  agent = new ServiceBusClient(emulator.namespaces[0].connectionString, FAST_RETRIES);
  const settings = localProviderSettings(azurite.connectionString, emulator.namespaces, {
    CANCEL_GRACE_SECONDS: "2",
  });
  host = await startHost({ appDir: root, port: 0, quiet: true, settings, log: () => {} });
  await registerLocalTenant(host.url, TENANT, "c0000000-0000-4000-8000-000000000001", {
    labels: { ring: "canary", region: "eu" },
    maintenanceWindows: windows,
  });
});

const startedIds = new Set<string>();
afterEach(async () => {
  for (const id of startedIds) await assertOneTruth(host!.url, id);
  startedIds.clear();
  await assertNothingInFlight(host!.url, TENANT);
});

after(async () => {
  await agent.close();
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
});

async function start(body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${host!.url}/api/tenants/${TENANT}/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const started = (await res.json()) as { id: string };
  assert.equal(res.status, 202, JSON.stringify(started));
  startedIds.add(started.id);
  return started.id;
}

async function until(id: string, done: (d: Record<string, unknown>) => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = (await (await fetch(`${host!.url}/api/deployments/${id}`)).json()) as Record<string, unknown>;
    if (done(d)) return d;
    if (Date.now() > deadline) throw new Error(`deployment ${id} stuck at ${JSON.stringify(d)}`);
    await sleep(100);
  }
}

const report = (cmd: Command, state: Status["state"], sequence: number) =>
  sendStatus(agent, cmd, state, sequence);

test("a closed window: the record waits in WaitingForWindow with windowOpensAt; a cancel sends the agent nothing", async () => {
  const id = await start({ spec: { template: "web" }, completionTimeoutSeconds: 86_400 });
  const waiting = await until(id, (d) => d.phase === "WaitingForWindow");
  const expected = windowOpensAt(windows, new Date())!.toISOString();
  assert.equal(waiting.windowOpensAt, expected);
  assert.match(String(waiting.message), /maintenance window/);
  const timeline = waiting.timeline as { event: string }[];
  assert.deepEqual(
    timeline.map((e) => e.event),
    ["Requested", "WaitingForWindow"],
  );
  // The instance says the same.
  const instance = (await (
    await fetch(`${host!.url}/runtime/webhooks/durabletask/instances/${waiting.instanceId as string}`)
  ).json()) as { customStatus: { phase: string; windowOpensAt: string } };
  assert.equal(instance.customStatus.phase, "WaitingForWindow");
  assert.equal(instance.customStatus.windowOpensAt, expected);

  const res = await fetch(`${host!.url}/api/deployments/${id}/cancel`, { method: "POST" });
  assert.equal(res.status, 202);
  const done = await until(id, (d) => d.phase === "Completed");
  assert.equal(done.outcome, "Cancelled");
  assert.match(String(done.message), /while waiting for the maintenance window/);
  const receiver = agent.createReceiver("commands");
  const peeked = await receiver.peekMessages(10);
  await receiver.close();
  assert.deepEqual(
    peeked.filter((m) => m.correlationId === id),
    [],
    "no command reached the agent",
  );
});

test("ignoreMaintenanceWindow: the Deploy goes out at once and the deployment succeeds", async () => {
  const id = await start({ spec: { template: "hotfix" }, ignoreMaintenanceWindow: true });
  const cmd = await nextCommand(agent, id, "Deploy");
  await report(cmd, "Accepted", 1);
  await report(cmd, "Succeeded", 2);
  const done = await until(id, (d) => d.phase === "Completed");
  assert.equal(done.outcome, "Succeeded");
  assert.equal(done.windowOpensAt, undefined);
});

test("the registration carries its labels and windows, and the list filters by selector", async () => {
  const reg = (await (await fetch(`${host!.url}/api/tenants/${TENANT}`)).json()) as Record<string, unknown>;
  assert.deepEqual(reg.labels, { ring: "canary", region: "eu" });
  assert.deepEqual(reg.maintenanceWindows, windows);
  const list = async (selector: string) => {
    const res = await fetch(`${host!.url}/api/tenants?selector=${encodeURIComponent(selector)}`);
    return { status: res.status, body: (await res.json()) as { items?: { name: string }[] } };
  };
  assert.deepEqual(
    (await list("ring=canary,region in (eu,us)")).body.items?.map((t) => t.name),
    [TENANT],
  );
  assert.deepEqual((await list("ring!=canary")).body.items, []);
  const bad = await list("ring in eu");
  assert.equal(bad.status, 400);
  assert.equal((bad.body as unknown as { errors: { field: string }[] }).errors[0].field, "selector");
});
