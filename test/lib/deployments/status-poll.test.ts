import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { statusMessage, type Command, type Status } from "../../../lib/messaging/contracts";
import { createTableClient } from "../../../lib/storage/tables";
import { registrationInputSchema } from "../../../lib/tenants/model";
import { TENANTS_TABLE, TenantStore } from "../../../lib/tenants/store";
import { localProviderSettings } from "../../helpers/provider";
import { FAST_RETRIES, namespaceConfig, sleep, startEmulator } from "../../helpers/servicebus";

// The baseline status delivery (STATUS_DELIVERY=timerPoll) on the real stack: the Provider app on the dev
// host with a one-second poll schedule, two customer namespaces in the emulator, this test as the agents.
const root = path.join(__dirname, "..", "..", "..", "..");
const TENANTS = ["contoso", "fabrikam"];
const DIRECTORIES: Record<string, string> = {
  contoso: "c0000000-0000-4000-8000-000000000001",
  fabrikam: "f0000000-0000-4000-8000-000000000002",
};
const PRELOADED = 4;
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
const agents = new Map<string, ServiceBusClient>();

function status(deploymentId: string, attempt: number, state: Status["state"], sequence: number): Status {
  return {
    schemaVersion: 1,
    deploymentId,
    attempt,
    state,
    progress: state === "Succeeded" ? 100 : 0,
    sequence,
    reportedAt: new Date().toISOString(),
  };
}

async function sendStatuses(tenant: string, statuses: Status[]): Promise<void> {
  const sender = agents.get(tenant)!.createSender("status");
  await sender.sendMessages(statuses.map(statusMessage));
  await sender.close();
}

before(async () => {
  azurite = await startAzurite();
  const queue = { LockDuration: "PT5S" };
  emulator = await startEmulator(
    TENANTS.map((t) =>
      namespaceConfig(t, [
        { name: "commands", properties: queue },
        { name: "status", properties: queue },
      ]),
    ),
  );
  const settings = localProviderSettings(azurite.connectionString, emulator.namespaces, {
    STATUS_DELIVERY: "timerPoll",
    STATUS_POLL_SCHEDULE: "*/1 * * * * *",
  });
  // Registered before the host starts, so every tick polls both tenants from the first one on.
  const store = new TenantStore(createTableClient(azurite.connectionString, TENANTS_TABLE));
  for (const ns of emulator.namespaces) {
    agents.set(ns.name, new ServiceBusClient(ns.connectionString, FAST_RETRIES));
    await store.put(
      ns.name,
      registrationInputSchema.parse({
        directoryId: DIRECTORIES[ns.name],
        serviceBus: { namespace: `${ns.name}.servicebus.localhost` },
        auth: { mode: "sas", sasSetting: `TENANT_${ns.name.toUpperCase()}_SAS` },
      }),
    );
    // Statuses for deployments nobody started: each tick should dead-letter exactly one per tenant.
    await sendStatuses(
      ns.name,
      Array.from({ length: PRELOADED }, (_, i) => status(`unknown-${i}`, 1, "Accepted", 1)),
    );
  }
  host = await startHost({ appDir: root, port: 0, quiet: true, settings, log: () => {} });
});

after(async () => {
  await Promise.all([...agents.values()].map((a) => a.close()));
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
});

const ticks = () => host!.stats().functions.statusPoll?.executions ?? 0;
const statusQueue = (tenant: string) => emulator.stats()[tenant]!.entities.status!;

test("the timer is registered in timerPoll mode and each tick takes exactly one status per tenant", async () => {
  assert.ok(host!.functions.some((f) => f.name === "statusPoll" && f.trigger === "timerTrigger"));
  const deadline = Date.now() + 15_000;
  for (;;) {
    // Sampled between ticks and during one: never more taken than ticks started, at most one behind.
    const started = ticks();
    const taken = TENANTS.map((t) => statusQueue(t));
    for (const q of taken) {
      assert.ok(q.messagesDelivered <= started, `${q.messagesDelivered} delivered in ${started} ticks`);
      assert.ok(q.creditFlows <= started);
    }
    const settled = taken.every((q) => q.messagesDelivered === started && q.deadLettered === started);
    if (started >= 3 && settled) break;
    assert.ok(Date.now() < deadline, `ticks ${started}, queues ${JSON.stringify(taken)}`);
    await sleep(20);
  }
  for (const t of TENANTS) {
    const q = statusQueue(t);
    // One receive request (a credit of 1) per tick; the message is there, so no drain is needed.
    assert.equal(q.creditFlows, q.messagesDelivered);
    assert.equal(q.completed, 0, "unknown deployments are dead-lettered, never completed");
  }
});

test("a deployment completes through the timer, and no status pump ever runs", async () => {
  const res = await fetch(`${host!.url}/api/tenants/contoso/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ spec: { template: "web" } }),
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  const receiver = agents.get("contoso")!.createReceiver("commands", { receiveMode: "receiveAndDelete" });
  const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
  await receiver.close();
  const cmd = message?.body as Command;
  assert.equal(cmd.deploymentId, id);
  await sendStatuses("contoso", [
    status(id, cmd.attempt, "Accepted", 1),
    status(id, cmd.attempt, "InProgress", 2),
    status(id, cmd.attempt, "Succeeded", 3),
  ]);
  const deadline = Date.now() + 20_000;
  let d: Record<string, unknown>;
  for (;;) {
    d = (await (await fetch(`${host!.url}/api/deployments/${id}`)).json()) as Record<string, unknown>;
    if (d.phase === "Completed") break;
    assert.ok(Date.now() < deadline, `deployment stuck at ${JSON.stringify(d)}`);
    await sleep(100);
  }
  assert.equal(d.outcome, "Succeeded");
  const functions = host!.stats().functions;
  assert.ok((functions.ensureStatusPump?.executions ?? 0) >= 1, "the workflow still asks for a pump");
  assert.equal(functions.statusPump?.executions, 0, "no pump orchestration in timerPoll mode");
  assert.equal(functions.pumpStatuses?.executions, 0);
  // Still one status per tick per tenant, the three real ones behind what was left of the preloaded ones.
  assert.ok(statusQueue("contoso").messagesDelivered <= ticks());
});
