/**
 * What one receive batch holds, bounded in bytes as well as messages: an oversized status is refused at
 * receipt without its body being kept, and ends the cycle's taking, so a queue of huge messages is taken
 * one at a time. Real @azure/service-bus client against the emulator.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { receiveStatuses, ServiceBusPool } from "../../../lib/messaging/channel";
import { LIMITS, statusMessage } from "../../../lib/messaging/contracts";
import { clientFor, namespaceConfig, startEmulator } from "../../helpers/servicebus";

let emulator: RunningEmulator;
const pool = new ServiceBusPool();

before(async () => {
  emulator = await startEmulator([namespaceConfig("customer", [{ name: "status" }])]);
});

after(async () => {
  await pool.closeAll();
  await emulator.stop();
});

const status = (id: string) =>
  statusMessage({
    schemaVersion: 1,
    deploymentId: id,
    attempt: 1,
    state: "Accepted",
    progress: 0,
    sequence: 1,
    reportedAt: new Date().toISOString(),
  });

test("an oversized status is refused without keeping its body, and the cycle stops taking more", async () => {
  const agent = clientFor(emulator);
  const sender = agent.createSender("status");
  const big = Buffer.alloc(3 * LIMITS.bodyBytes, "x");
  for (let i = 0; i < 6; i++)
    await sender.sendMessages({ body: big, contentType: "application/json", messageId: `big-${i}` });
  await sender.sendMessages(status("after"));
  const sb = pool.client("customer|sas", () => ({
    connectionString: emulator.namespaces[0]!.connectionString,
  }));
  const batch = await receiveStatuses(sb, "status", { maxMessages: 50, maxWaitTimeInMs: 2000 });
  assert.equal(batch.items.length, 1, "one oversized message in memory, not the queue's six");
  const [item] = batch.items;
  assert.equal(item?.ok, false);
  assert.equal(!item?.ok && item.reason, "Oversized");
  assert.equal(item?.bytes, big.length);
  assert.equal(item?.message.body, undefined, "its body is not kept");
  assert.equal(batch.budgetReached, true);
  assert.deepEqual(
    await batch.next({ maxMessages: 50, maxWaitTimeInMs: 200 }),
    [],
    "the cycle takes no more",
  );
  await batch.deadLetter(item!.message, "Oversized", "too big");
  await batch.close();
  // The broker keeps the body on the dead-letter queue; the next cycle starts again with one message.
  const dlq = agent.createReceiver("status", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 2000 });
  assert.equal(dead?.deadLetterReason, "Oversized");
  assert.equal((dead?.body as Buffer).length, big.length);
  await dlq.close();
  const next = await receiveStatuses(sb, "status", { maxMessages: 50, maxWaitTimeInMs: 2000 });
  assert.equal(next.items.length, 1);
  await next.close();
  await agent.close();
});

test("statuses within the contract fill a batch as before (one long-poll, one drain)", async () => {
  const agent = clientFor(emulator);
  const drain = agent.createReceiver("status", { receiveMode: "receiveAndDelete" });
  while ((await drain.receiveMessages(50, { maxWaitTimeInMs: 300 })).length > 0);
  await drain.close();
  const sender = agent.createSender("status");
  await sender.sendMessages(Array.from({ length: 20 }, (_, i) => status(`ok-${i}`)));
  const sb = pool.client("customer|sas", () => ({
    connectionString: emulator.namespaces[0]!.connectionString,
  }));
  const batch = await receiveStatuses(sb, "status", { maxMessages: 50, maxWaitTimeInMs: 2000 });
  assert.equal(batch.items.length, 20);
  assert.ok(batch.items.every((i) => i.ok && i.bytes > 0));
  assert.equal(batch.budgetReached, false);
  await Promise.all(batch.items.map((i) => batch.complete(i.message)));
  await batch.close();
  await agent.close();
});
