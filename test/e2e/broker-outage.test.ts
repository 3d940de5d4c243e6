/**
 * A broker outage on the Provider's side: the customer's namespace goes away (the emulator closes every
 * connection with amqp:connection:forced, as Service Bus does when a gateway restarts) and comes back on
 * the same address with its persisted queues. Nothing is lost: the Provider's pooled client reconnects by
 * itself, a Deploy sent during the outage is retried until it goes through, the status pump rides out its
 * failed cycles, and every deployment ends with its real outcome, record and instance agreeing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { RunningAzurite, startAzurite } from "../../dev/azurite";
import { RunningHost, startHost } from "../../dev/host";
import type { RunningEmulator } from "../../dev/servicebus-emulator";
import type { Command, Status } from "../../lib/messaging/contracts";
import { assertNothingInFlight, assertOneTruth } from "../helpers/one-truth";
import { localProviderSettings } from "../helpers/provider";
import { registerLocalTenant } from "../helpers/tenants";
import {
  FAST_RETRIES,
  namespaceConfig,
  nextCommand,
  sendStatus,
  sleep,
  startEmulator,
} from "../helpers/servicebus";

const root = path.join(__dirname, "..", "..", "..");
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "outage-"));
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
let port = 0;

const queues = () => [
  { name: "commands", properties: { LockDuration: "PT5S" } },
  { name: "status", properties: { LockDuration: "PT5S" } },
];
const startBroker = () =>
  startEmulator([namespaceConfig("contoso", queues(), port ? { Port: port } : {})], { dataDir });

before(async () => {
  azurite = await startAzurite();
  emulator = await startBroker();
  port = emulator.namespaces[0]!.port;
  const settings = localProviderSettings(azurite.connectionString, emulator.namespaces, {
    COMMAND_SEND_ATTEMPTS: "8",
    COMMAND_RETRY_SECONDS: "1",
  });
  host = await startHost({ appDir: root, port: 0, quiet: true, settings, log: () => {} });
  await registerLocalTenant(host.url, "contoso", "c0000000-0000-4000-8000-000000000001");
});

after(async () => {
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** The customer's agent, played by the test, with a client of its own (made after each restart). */
function agent(): ServiceBusClient {
  return new ServiceBusClient(emulator.namespaces[0]!.connectionString, FAST_RETRIES);
}

const report = (client: ServiceBusClient, cmd: Command, state: Status["state"], sequence: number) =>
  sendStatus(client, cmd, state, sequence, { progress: state === "Succeeded" ? 100 : 10 });

async function start(template: string): Promise<string> {
  const res = await fetch(`${host!.url}/api/tenants/contoso/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ spec: { template } }),
  });
  assert.equal(res.status, 202, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

async function phaseOf(id: string): Promise<string> {
  return ((await (await fetch(`${host!.url}/api/deployments/${id}`)).json()) as { phase: string }).phase;
}

test("the namespace goes down and comes back: in-flight and newly started deployments all end Succeeded", async () => {
  let customer = agent();
  const before = await start("before-outage");
  const cmdBefore = await nextCommand(customer, before, "Deploy", 20_000);
  await report(customer, cmdBefore, "Accepted", 1);
  for (let i = 0; (await phaseOf(before)) !== "Accepted"; i++) {
    assert.ok(i < 100, "accepted before the outage");
    await sleep(100);
  }

  // Outage: the broker closes every connection and stops listening.
  await customer.close();
  await emulator.stop();
  const during = await start("during-outage"); // its Deploy cannot be sent yet
  await sleep(1500);
  emulator = await startBroker();
  customer = agent();

  // The statuses and the command all go through the same namespace, now back.
  await report(customer, cmdBefore, "Succeeded", 2);
  const cmdDuring = await nextCommand(customer, during, "Deploy", 20_000);
  await report(customer, cmdDuring, "Accepted", 1);
  await report(customer, cmdDuring, "Succeeded", 2);
  assert.equal((await assertOneTruth(host!.url, before, 15_000)).outcome, "Succeeded");
  assert.equal((await assertOneTruth(host!.url, during, 15_000)).outcome, "Succeeded");
  await assertNothingInFlight(host!.url, "contoso");

  // The Deploy was retried during the outage and then delivered once.
  const timeline = (
    (await (await fetch(`${host!.url}/api/deployments/${during}`)).json()) as {
      timeline: { event: string }[];
    }
  ).timeline.map((e) => e.event);
  assert.deepEqual(
    timeline.filter((e) => e === "Sent"),
    ["Sent"],
  );
  await customer.close();
});
