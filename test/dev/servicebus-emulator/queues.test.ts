import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ServiceBusClient } from "@azure/service-bus";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { clientFor, namespaceConfig, sleep, startEmulator, failsWith } from "../../helpers/servicebus";

let emulator: RunningEmulator;
let client: ServiceBusClient;

before(async () => {
  emulator = await startEmulator([
    namespaceConfig("main", [
      { name: "basic" },
      { name: "rad" },
      { name: "batch" },
      {
        name: "dedupe",
        properties: { RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: "PT1M" },
      },
      { name: "sched" },
      { name: "peek" },
      { name: "ttl-dlq", properties: { DeadLetteringOnMessageExpiration: true } },
      { name: "ttl-drop", properties: { DefaultMessageTimeToLive: "PT0.3S" } },
      { name: "big" },
      { name: "stream" },
      { name: "longpoll" },
    ]),
  ]);
  client = clientFor(emulator);
});

after(async () => {
  await client.close();
  await emulator.stop();
});

describe("send and receive through the real client", () => {
  test("a message keeps its properties and gets broker annotations", async () => {
    const sender = client.createSender("basic");
    await sender.sendMessages({
      body: { hello: "world", n: 1 },
      messageId: "msg-1",
      correlationId: "dep-1",
      subject: "Deploy",
      contentType: "application/json",
      timeToLive: 60_000,
      applicationProperties: { schema: "deploy.command.v1", attempt: 2, flag: true },
    });
    const receiver = client.createReceiver("basic");
    const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    assert.ok(m);
    assert.deepEqual(m.body, { hello: "world", n: 1 });
    assert.equal(m.messageId, "msg-1");
    assert.equal(m.correlationId, "dep-1");
    assert.equal(m.subject, "Deploy");
    assert.equal(m.contentType, "application/json");
    assert.equal(m.timeToLive, 60_000);
    assert.deepEqual(m.applicationProperties, { schema: "deploy.command.v1", attempt: 2, flag: true });
    assert.equal(m.deliveryCount, 0);
    assert.ok(m.sequenceNumber && m.sequenceNumber.toNumber() >= 1);
    assert.ok(m.enqueuedTimeUtc instanceof Date);
    assert.ok(m.lockedUntilUtc && m.lockedUntilUtc.getTime() > Date.now());
    assert.match(m.lockToken ?? "", /^[0-9a-f-]{36}$/);
    await receiver.completeMessage(m);
    assert.deepEqual(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 }), []);
    await receiver.close();
    await sender.close();
  });

  test("arrays and batches are delivered in order with increasing sequence numbers", async () => {
    const sender = client.createSender("batch");
    await sender.sendMessages([{ body: "a" }, { body: "b" }]);
    const batch = await sender.createMessageBatch();
    for (const body of ["c", "d", "e"]) assert.ok(batch.tryAddMessage({ body }));
    await sender.sendMessages(batch);
    const receiver = client.createReceiver("batch");
    const got: string[] = [];
    const seqs: number[] = [];
    while (got.length < 5) {
      const msgs = await receiver.receiveMessages(5, { maxWaitTimeInMs: 1000 });
      assert.ok(msgs.length > 0, "messages keep coming");
      for (const m of msgs) {
        got.push(m.body as string);
        seqs.push((m.sequenceNumber as { toNumber(): number }).toNumber());
        await receiver.completeMessage(m);
      }
    }
    assert.deepEqual(got, ["a", "b", "c", "d", "e"]);
    assert.deepEqual(
      [...seqs].sort((x, y) => x - y),
      seqs,
    );
    await receiver.close();
  });

  test("receive-and-delete removes messages on delivery", async () => {
    const sender = client.createSender("rad");
    await sender.sendMessages([{ body: 1 }, { body: 2 }]);
    const receiver = client.createReceiver("rad", { receiveMode: "receiveAndDelete" });
    const msgs = await receiver.receiveMessages(2, { maxWaitTimeInMs: 1000 });
    assert.deepEqual(
      msgs.map((m) => m.body),
      [1, 2],
    );
    assert.equal(msgs[0]?.lockToken, undefined);
    assert.deepEqual(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 }), []);
    await receiver.close();
  });

  test("a long poll returns as soon as a message arrives", async () => {
    const receiver = client.createReceiver("longpoll");
    const sender = client.createSender("longpoll");
    const started = Date.now();
    const pending = receiver.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
    await sleep(200);
    await sender.sendMessages({ body: "wake" });
    const [m] = await pending;
    assert.equal(m?.body, "wake");
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    await receiver.completeMessage(m!);
    // Leftover credit is drained without breaking the link: repeated short polls keep working.
    for (let i = 0; i < 5; i++)
      assert.deepEqual(await receiver.receiveMessages(10, { maxWaitTimeInMs: 100 }), []);
    await sender.sendMessages({ body: "again" });
    const [again] = await receiver.receiveMessages(10, { maxWaitTimeInMs: 2000 });
    assert.equal(again?.body, "again");
    await receiver.completeMessage(again!);
    await receiver.close();
  });

  test("subscribe() streams messages to a handler", async () => {
    const sender = client.createSender("stream");
    const receiver = client.createReceiver("stream");
    const seen: number[] = [];
    const done = new Promise<void>((resolve, reject) => {
      receiver.subscribe(
        {
          async processMessage(m) {
            seen.push(m.body as number);
            if (seen.length === 20) resolve();
          },
          async processError(args) {
            reject(args.error);
          },
        },
        { autoCompleteMessages: true },
      );
    });
    await sender.sendMessages(Array.from({ length: 20 }, (_, i) => ({ body: i })));
    await done;
    assert.deepEqual(
      seen,
      Array.from({ length: 20 }, (_, i) => i),
    );
    await receiver.close();
    const check = client.createReceiver("stream");
    assert.deepEqual(await check.peekMessages(10), [], "auto-completed messages are gone");
    await check.close();
  });
});

describe("queue features", () => {
  test("duplicate detection drops a repeated message id within the window", async () => {
    const sender = client.createSender("dedupe");
    await sender.sendMessages({ body: "first", messageId: "same" });
    await sender.sendMessages({ body: "second", messageId: "same" });
    await sender.sendMessages({ body: "other", messageId: "different" });
    const receiver = client.createReceiver("dedupe", { receiveMode: "receiveAndDelete" });
    const msgs = await receiver.receiveMessages(10, { maxWaitTimeInMs: 1000 });
    assert.deepEqual(
      msgs.map((m) => m.body),
      ["first", "other"],
    );
    await receiver.close();
  });

  test("scheduled messages appear at their time, and cancelled ones never do", async () => {
    const sender = client.createSender("sched");
    // Far enough ahead that the checks before it run first even on a loaded machine; each check that
    // depends on "not yet" says so, so a slow run proves less but never fails for being slow.
    const at = new Date(Date.now() + 1500);
    const [keep] = await sender.scheduleMessages({ body: "later" }, at);
    const [drop] = await sender.scheduleMessages({ body: "never" }, at);
    assert.ok(keep && drop && keep.toNumber() !== drop.toNumber());
    await sender.cancelScheduledMessages(drop);
    const receiver = client.createReceiver("sched");
    const peeked = await receiver.peekMessages(10);
    const peekedEarly = Date.now() < at.getTime() - 100;
    assert.deepEqual(
      peeked.map((m) => m.body),
      ["later"],
    );
    if (peekedEarly) assert.equal(peeked[0]?.state, "scheduled");
    const early = await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 });
    const [m] = early.length > 0 ? early : await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    assert.equal(m?.body, "later");
    assert.ok(Date.now() >= at.getTime() - 50, "never delivered before its time");
    await receiver.completeMessage(m!);
    assert.deepEqual(await receiver.receiveMessages(1, { maxWaitTimeInMs: 800 }), []);
    await receiver.close();
  });

  test("peek returns messages in order without locking them, from a sequence number", async () => {
    const sender = client.createSender("peek");
    await sender.sendMessages([{ body: "p1" }, { body: "p2" }, { body: "p3" }]);
    const receiver = client.createReceiver("peek");
    const first = await receiver.peekMessages(2);
    assert.deepEqual(
      first.map((m) => m.body),
      ["p1", "p2"],
    );
    assert.equal(first[0]?.lockToken, undefined);
    const next = await receiver.peekMessages(5);
    assert.deepEqual(
      next.map((m) => m.body),
      ["p3"],
    );
    const from = await receiver.peekMessages(5, { fromSequenceNumber: first[1]!.sequenceNumber });
    assert.deepEqual(
      from.map((m) => m.body),
      ["p2", "p3"],
    );
    const all = await receiver.receiveMessages(3, { maxWaitTimeInMs: 1000 });
    assert.equal(all.length, 3, "peeking locked nothing");
    await receiver.close();
  });

  test("expired messages go to the dead-letter queue when configured", async () => {
    const sender = client.createSender("ttl-dlq");
    await sender.sendMessages({ body: "short-lived", timeToLive: 200 });
    await sleep(400);
    const receiver = client.createReceiver("ttl-dlq");
    assert.deepEqual(await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 }), []);
    const dlq = client.createReceiver("ttl-dlq", { subQueueType: "deadLetter" });
    const [m] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    assert.equal(m?.body, "short-lived");
    assert.equal(m?.deadLetterReason, "TTLExpiredException");
    await dlq.completeMessage(m!);
    await dlq.close();
    await receiver.close();
  });

  test("without dead-lettering, expired messages (default TTL) are dropped", async () => {
    const sender = client.createSender("ttl-drop");
    await sender.sendMessages({ body: "gone" });
    await sleep(500);
    const receiver = client.createReceiver("ttl-drop");
    assert.deepEqual(await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 }), []);
    assert.deepEqual(await receiver.peekMessages(5), []);
    const dlq = client.createReceiver("ttl-drop", { subQueueType: "deadLetter" });
    assert.deepEqual(await dlq.peekMessages(5), []);
    await dlq.close();
    await receiver.close();
  });

  test("a message over 256 KB is refused with MessageSizeExceeded; the link keeps working", async () => {
    const sender = client.createSender("big");
    await assert.rejects(
      sender.sendMessages({ body: "x".repeat(300 * 1024) }),
      failsWith("MessageSizeExceeded"),
    );
    await sender.sendMessages({ body: "small" });
    const receiver = client.createReceiver("big", { receiveMode: "receiveAndDelete" });
    const msgs = await receiver.receiveMessages(5, { maxWaitTimeInMs: 1000 });
    assert.deepEqual(
      msgs.map((m) => m.body),
      ["small"],
    );
    await receiver.close();
  });

  test("an unknown queue is MessagingEntityNotFound", async () => {
    const sender = client.createSender("no-such-queue");
    await assert.rejects(sender.sendMessages({ body: 1 }), failsWith("MessagingEntityNotFound"));
    const receiver = client.createReceiver("no-such-queue");
    await assert.rejects(
      receiver.receiveMessages(1, { maxWaitTimeInMs: 500 }),
      failsWith("MessagingEntityNotFound"),
    );
  });
});
