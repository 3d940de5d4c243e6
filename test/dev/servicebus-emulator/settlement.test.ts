import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ServiceBusClient } from "@azure/service-bus";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { clientFor, namespaceConfig, sleep, startEmulator, failsWith } from "../../helpers/servicebus";

let emulator: RunningEmulator;
let client: ServiceBusClient;
const short = { LockDuration: "PT0.5S", MaxDeliveryCount: 3 };

before(async () => {
  emulator = await startEmulator([
    namespaceConfig("settle", [
      { name: "abandon", properties: short },
      { name: "maxdelivery", properties: short },
      { name: "deadletter", properties: short },
      { name: "defer", properties: short },
      { name: "expiry", properties: short },
      // Long enough that a renewal 300 ms apart never misses it on a loaded machine.
      { name: "renew", properties: { ...short, LockDuration: "PT2S" } },
      { name: "mgmt-settle", properties: short },
    ]),
  ]);
  client = clientFor(emulator);
});

after(async () => {
  await client.close();
  await emulator.stop();
});

const noAutoRenew = { maxAutoLockRenewalDurationInMs: 0 };

test("abandon makes the message available again with a higher delivery count and modified properties", async () => {
  await client.createSender("abandon").sendMessages({ body: "retry-me" });
  const receiver = client.createReceiver("abandon", noAutoRenew);
  const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(first?.deliveryCount, 0);
  await receiver.abandonMessage(first!, { reason: "busy" });
  const [second] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(second?.body, "retry-me");
  assert.equal(second?.deliveryCount, 1);
  assert.equal(second?.applicationProperties?.reason, "busy");
  assert.equal(second?.sequenceNumber?.toNumber(), first?.sequenceNumber?.toNumber());
  await receiver.completeMessage(second!);
  await receiver.close();
});

test("after MaxDeliveryCount deliveries the message is dead-lettered with the reason", async () => {
  await client.createSender("maxdelivery").sendMessages({ body: "poison", messageId: "poison-1" });
  const receiver = client.createReceiver("maxdelivery", noAutoRenew);
  for (let i = 0; i < 3; i++) {
    const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    assert.equal(m?.deliveryCount, i);
    await receiver.abandonMessage(m!);
  }
  assert.deepEqual(await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 }), []);
  const dlq = client.createReceiver("maxdelivery", { subQueueType: "deadLetter" });
  const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(dead?.body, "poison");
  assert.equal(dead?.messageId, "poison-1");
  assert.equal(dead?.deadLetterReason, "MaxDeliveryCountExceeded");
  assert.match(dead?.deadLetterErrorDescription ?? "", /3 delivery attempts/);
  assert.equal(dead?.deadLetterSource, "maxdelivery");
  await dlq.completeMessage(dead!);
  await dlq.close();
  await receiver.close();
});

test("deadLetterMessage moves the message with its reason and description", async () => {
  await client.createSender("deadletter").sendMessages({ body: "bad" });
  const receiver = client.createReceiver("deadletter");
  const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  await receiver.deadLetterMessage(m!, {
    deadLetterReason: "SchemaViolation",
    deadLetterErrorDescription: "state: bad",
  });
  const dlq = client.createReceiver("deadletter", { subQueueType: "deadLetter" });
  const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(dead?.deadLetterReason, "SchemaViolation");
  assert.equal(dead?.deadLetterErrorDescription, "state: bad");
  await dlq.completeMessage(dead!);
  assert.deepEqual(await dlq.peekMessages(5), []);
  await dlq.close();
  await receiver.close();
});

test("deferred messages are received by sequence number, then settled", async () => {
  await client.createSender("defer").sendMessages([{ body: "later" }, { body: "now" }]);
  const receiver = client.createReceiver("defer");
  const [later] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  const seq = later!.sequenceNumber!;
  await receiver.deferMessage(later!);
  const [now] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(now?.body, "now");
  await receiver.completeMessage(now!);
  assert.deepEqual(
    await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 }),
    [],
    "deferred messages are not delivered",
  );
  const [peeked] = await receiver.peekMessages(1, { fromSequenceNumber: seq });
  assert.equal(peeked?.state, "deferred");
  const [back] = await receiver.receiveDeferredMessages(seq);
  assert.equal(back?.body, "later");
  assert.ok(back?.lockToken);
  await receiver.completeMessage(back!);
  await assert.rejects(receiver.receiveDeferredMessages(seq), failsWith("MessageNotFound"));
  await receiver.close();
});

test("an expired lock makes the message available again and settling with it fails with MessageLockLost", async () => {
  await client.createSender("expiry").sendMessages({ body: "slow" });
  const receiver = client.createReceiver("expiry", noAutoRenew);
  const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.ok(m?.lockedUntilUtc && m.lockedUntilUtc.getTime() - Date.now() <= 600);
  await sleep(800);
  await assert.rejects(receiver.completeMessage(m!), failsWith("MessageLockLost"));
  const [again] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(again?.body, "slow");
  assert.equal(again?.deliveryCount, 1);
  await receiver.completeMessage(again!);
  await receiver.close();
});

test("renewMessageLock extends the lock; automatic renewal keeps a slow handler's lock alive", async () => {
  await client.createSender("renew").sendMessages([{ body: "manual" }, { body: "auto" }]);
  const manual = client.createReceiver("renew", noAutoRenew);
  const [m] = await manual.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  for (let i = 0; i < 3; i++) {
    await sleep(300);
    const until = await manual.renewMessageLock(m!);
    assert.ok(until.getTime() > Date.now() + 300);
  }
  await manual.completeMessage(m!);
  await manual.close();

  const auto = client.createReceiver("renew", { maxAutoLockRenewalDurationInMs: 5000 });
  const [a] = await auto.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(a?.body, "auto");
  await sleep(2600); // past the 2 s lock: only the automatic renewal keeps it
  await auto.completeMessage(a!);
  await auto.close();
});

test("settling after the receiver link closed goes through $management", async () => {
  await client.createSender("mgmt-settle").sendMessages([{ body: 1 }, { body: 2 }]);
  const receiver = client.createReceiver("mgmt-settle", noAutoRenew);
  const [one, two] = await receiver.receiveMessages(2, { maxWaitTimeInMs: 1000 });
  assert.ok(one && two);
  await receiver.deferMessage(one);
  const [deferred] = await receiver.receiveDeferredMessages(one.sequenceNumber!);
  await receiver.deadLetterMessage(deferred!, {
    deadLetterReason: "ByManagement",
    deadLetterErrorDescription: "settled via management",
  });
  await receiver.completeMessage(two);
  const dlq = client.createReceiver("mgmt-settle", {
    subQueueType: "deadLetter",
    receiveMode: "receiveAndDelete",
  });
  const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(dead?.deadLetterReason, "ByManagement");
  await dlq.close();
  await receiver.close();
});
