import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { receiveStatuses, sendCommand, ServiceBusPool } from "../../../lib/messaging/channel";
import { statusMessage, type Command } from "../../../lib/messaging/contracts";
import { clientFor, namespaceConfig, startEmulator } from "../../helpers/servicebus";

let emulator: RunningEmulator;
const pool = new ServiceBusPool();

before(async () => {
  emulator = await startEmulator([
    namespaceConfig("customer", [
      { name: "commands", properties: { RequiresDuplicateDetection: true } },
      { name: "status" },
    ]),
  ]);
});

after(async () => {
  await pool.closeAll();
  await emulator.stop();
});

const providerClient = () =>
  pool.client("customer|sas", () => ({ connectionString: emulator.namespaces[0]!.connectionString }));

test("the pool hands out one client per key", () => {
  assert.equal(providerClient(), providerClient());
});

test("a command arrives with its id, correlation, subject, schema and TTL; a resend is removed by duplicate detection", async () => {
  const now = new Date();
  const command: Command = {
    schemaVersion: 1,
    type: "Deploy",
    deploymentId: "dep-7",
    attempt: 1,
    tenant: "customer",
    spec: { template: "web" },
    requestedAt: now.toISOString(),
    deadline: new Date(now.getTime() + 60_000).toISOString(),
  };
  const id = await sendCommand(providerClient(), "commands", command, now);
  await sendCommand(providerClient(), "commands", command, now);
  assert.equal(id, "dep-7:1:Deploy");
  const agent = clientFor(emulator);
  const received = await agent
    .createReceiver("commands", { receiveMode: "receiveAndDelete" })
    .receiveMessages(5, { maxWaitTimeInMs: 1000 });
  assert.equal(received.length, 1);
  const [m] = received;
  assert.equal(m?.messageId, "dep-7:1:Deploy");
  assert.equal(m?.correlationId, "dep-7");
  assert.equal(m?.subject, "Deploy");
  assert.equal(m?.applicationProperties?.schema, "deploy.command.v1");
  assert.ok(m?.timeToLive && m.timeToLive <= 60_000 && m.timeToLive > 50_000);
  assert.deepEqual(m?.body, command);
  await agent.close();
});

test("a status batch separates valid statuses from ones to dead-letter, and settles each", async () => {
  const agent = clientFor(emulator);
  const sender = agent.createSender("status");
  const good = statusMessage({
    schemaVersion: 1,
    deploymentId: "dep-7",
    attempt: 1,
    state: "Accepted",
    progress: 0,
    sequence: 1,
    reportedAt: new Date().toISOString(),
  });
  await sender.sendMessages(good);
  await sender.sendMessages({
    body: Buffer.from("{not json"),
    contentType: "application/json",
    messageId: "bad-json",
  });
  await sender.sendMessages({
    body: { deploymentId: "dep-7" },
    contentType: "application/json",
    messageId: "bad-shape",
  });
  const batch = await receiveStatuses(providerClient(), "status", { maxMessages: 10, maxWaitTimeInMs: 1000 });
  try {
    assert.equal(batch.items.length, 3);
    for (const item of batch.items) {
      if (item.ok) {
        assert.equal(item.status.state, "Accepted");
        await batch.complete(item.message);
      } else {
        await batch.deadLetter(item.message, item.reason, item.description);
      }
    }
  } finally {
    await batch.close();
  }
  const dlq = agent.createReceiver("status", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  const dead = await dlq.receiveMessages(5, { maxWaitTimeInMs: 1000 });
  assert.deepEqual(dead.map((d) => [d.messageId, d.deadLetterReason]).sort(), [
    ["bad-json", "InvalidJson"],
    ["bad-shape", "SchemaViolation"],
  ]);
  assert.deepEqual(
    await agent.createReceiver("status").peekMessages(5),
    [],
    "nothing left on the status queue",
  );
  await agent.close();
});

test("an empty status queue returns an empty batch after the long-poll wait", async () => {
  const started = Date.now();
  const batch = await receiveStatuses(providerClient(), "status", { maxMessages: 10, maxWaitTimeInMs: 300 });
  assert.deepEqual(batch.items, []);
  assert.ok(Date.now() - started >= 250);
  await batch.close();
});

test("closing the pool ends a pending long-poll at once, as an empty batch", async () => {
  const own = new ServiceBusPool();
  const client = own.client("customer|sas", () => ({
    connectionString: emulator.namespaces[0]!.connectionString,
  }));
  const started = Date.now();
  const pending = receiveStatuses(client, "status", { maxMessages: 10, maxWaitTimeInMs: 20_000 });
  await new Promise((r) => setTimeout(r, 300));
  await own.closeAll();
  const batch = await pending;
  assert.deepEqual(batch.items, []);
  assert.ok(Date.now() - started < 10_000, "the receive did not run to its 20 s wait");
});
