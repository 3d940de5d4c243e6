/**
 * How long a tenant's status pump lives, with the production poll wait (STATUS_POLL_WAIT_MS 20 s): it
 * ends as soon as the outcome of its tenant's last deployment in flight is routed, rather than polling on
 * for its whole wait and one more empty cycle (about 40 s of a held activity slot per finished tenant,
 * which starved a 1,000-tenant rollout); with another deployment still in flight it goes on, and a
 * deployment started after it ended is served by a new pump. The Provider on the dev host, one emulator
 * namespace, this test playing the agent.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { type RunningAzurite, startAzurite } from "../../dev/azurite";
import { type RunningHost, startHost } from "../../dev/host";
import type { RunningEmulator } from "../../dev/servicebus-emulator";
import type { Command, Status } from "../../lib/messaging/contracts";
import { assertOneTruth } from "../helpers/one-truth";
import { localProviderSettings } from "../helpers/provider";
import {
  FAST_RETRIES,
  namespaceConfig,
  nextCommand,
  sendStatus,
  sleep,
  startEmulator,
} from "../helpers/servicebus";
import { registerLocalTenant } from "../helpers/tenants";

const root = path.join(__dirname, "..", "..", "..");
const TENANT = "contoso";
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost;
let agent: ServiceBusClient;

before(async () => {
  azurite = await startAzurite();
  emulator = await startEmulator([
    namespaceConfig(TENANT, [
      { name: "commands", properties: { LockDuration: "PT5S" } },
      { name: "status", properties: { LockDuration: "PT5S" } },
    ]),
  ]);
  const settings = localProviderSettings(azurite.connectionString, emulator.namespaces, {
    // Production timings: an early end is the pump's own doing, not a short test wait.
    STATUS_POLL_WAIT_MS: "20000",
    PUMP_REENSURE_SECONDS: "60",
  });
  host = await startHost({ appDir: root, port: 0, quiet: true, settings, log: () => {} });
  agent = new ServiceBusClient(emulator.namespaces[0]!.connectionString, FAST_RETRIES);
  await registerLocalTenant(host.url, TENANT, "c0000000-0000-4000-8000-000000000001");
});

after(async () => {
  await agent.close();
  await host.stop();
  await emulator.stop();
  await azurite.stop();
});

async function start(): Promise<Command> {
  const res = await fetch(`${host.url}/api/tenants/${TENANT}/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ spec: { template: "web" } }),
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  return nextCommand(agent, id, "Deploy");
}

const report = (cmd: Command, state: Status["state"], sequence: number): Promise<void> =>
  sendStatus(agent, cmd, state, sequence);

async function pumpStatus(): Promise<string> {
  const res = await fetch(
    `${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(`statusPump:${TENANT}`)}`,
  );
  return ((await res.json()) as { runtimeStatus: string }).runtimeStatus;
}

async function outcomeWithin(id: string, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const d = (await (await fetch(`${host.url}/api/deployments/${id}`)).json()) as { outcome?: string };
    if (d.outcome) return d.outcome;
    if (Date.now() > deadline) throw new Error(`deployment ${id} has no outcome after ${ms} ms`);
    await sleep(50);
  }
}

async function pumpEndsWithin(ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await pumpStatus();
    if (s === "Completed") return;
    if (Date.now() > deadline) throw new Error(`the pump is still ${s} after ${ms} ms`);
    await sleep(50);
  }
}

test("the pump ends as soon as its tenant's last deployment has its outcome, not after a 20 s poll", async () => {
  const cmd = await start();
  await report(cmd, "Accepted", 1);
  await report(cmd, "Succeeded", 2);
  assert.equal(await outcomeWithin(cmd.deploymentId, 5000), "Succeeded");
  await pumpEndsWithin(3000);
  await assertOneTruth(host.url, cmd.deploymentId);
});

test("with another deployment in flight the pump goes on; a deployment after it ended gets a new pump", async () => {
  const first = await start();
  const second = await start();
  await report(first, "Accepted", 1);
  await report(second, "Accepted", 1);
  await report(first, "Succeeded", 2);
  assert.equal(await outcomeWithin(first.deploymentId, 5000), "Succeeded");
  await sleep(500);
  assert.equal(await pumpStatus(), "Running", "the second deployment is still in flight");
  await report(second, "Failed", 2);
  assert.equal(await outcomeWithin(second.deploymentId, 3000), "Failed", "served by the same pump at once");
  await pumpEndsWithin(3000);
  // The pump has ended: the next deployment's start ensures a new one, and its statuses flow at once.
  const third = await start();
  await report(third, "Accepted", 1);
  await report(third, "Succeeded", 2);
  assert.equal(await outcomeWithin(third.deploymentId, 3000), "Succeeded");
  await pumpEndsWithin(3000);
  for (const c of [first, second, third]) await assertOneTruth(host.url, c.deploymentId);
});
