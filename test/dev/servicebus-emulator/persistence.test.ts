import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { clientFor, namespaceConfig, startEmulator } from "../../helpers/servicebus";

test("with a data dir, queued, scheduled, deferred and dead-lettered messages survive a restart", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-data-"));
  const ns = [namespaceConfig("persist", [{ name: "q", properties: { LockDuration: "PT5S" } }], { Port: 0 })];
  try {
    const first = await startEmulator(ns, { dataDir });
    const c1 = clientFor(first);
    const sender = c1.createSender("q");
    await sender.sendMessages([
      { body: "kept", messageId: "k1", applicationProperties: { n: 1 } },
      { body: "locked" },
      { body: "deferred" },
      { body: "dead" },
    ]);
    await sender.scheduleMessages({ body: "scheduled" }, new Date(Date.now() + 60_000));
    const receiver = c1.createReceiver("q", { maxAutoLockRenewalDurationInMs: 0 });
    const msgs = await receiver.receiveMessages(4, { maxWaitTimeInMs: 1000 });
    const byBody = new Map(msgs.map((m) => [m.body as string, m]));
    await receiver.deferMessage(byBody.get("deferred")!);
    await receiver.deadLetterMessage(byBody.get("dead")!, {
      deadLetterReason: "Test",
      deadLetterErrorDescription: "kept across restart",
    });
    await receiver.abandonMessage(byBody.get("kept")!);
    // "locked" stays locked when the emulator stops: it must come back.
    await c1.close();
    await first.stop();

    const second = await startEmulator(ns, { dataDir });
    const c2 = clientFor(second);
    const r2 = c2.createReceiver("q");
    const peeked = await r2.peekMessages(10);
    assert.deepEqual(peeked.map((m) => [m.body, m.state]).sort(), [
      ["deferred", "deferred"],
      ["kept", "active"],
      ["locked", "active"],
      ["scheduled", "scheduled"],
    ]);
    const kept = peeked.find((m) => m.body === "kept")!;
    assert.equal(kept.messageId, "k1");
    assert.deepEqual(kept.applicationProperties, { n: 1 });
    assert.equal(kept.deliveryCount, 1);
    const dlq = c2.createReceiver("q", { subQueueType: "deadLetter" });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    assert.equal(dead?.deadLetterReason, "Test");
    const fresh = await r2.receiveMessages(5, { maxWaitTimeInMs: 1000 });
    assert.deepEqual(fresh.map((m) => m.body).sort(), ["kept", "locked"]);
    await c2.createSender("q").sendMessages({ body: "after restart" });
    const [next] = await r2.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    assert.ok(
      (next?.sequenceNumber?.toNumber() ?? 0) > Math.max(...fresh.map((m) => m.sequenceNumber!.toNumber())),
      "sequence numbers keep increasing",
    );
    await c2.close();
    await second.stop();
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test("in memory by default: nothing survives", async () => {
  const ns = [namespaceConfig("volatile", [{ name: "q" }])];
  const first = await startEmulator(ns);
  const c1 = clientFor(first);
  await c1.createSender("q").sendMessages({ body: "lost" });
  await c1.close();
  await first.stop();
  const second = await startEmulator(ns);
  const c2 = clientFor(second);
  assert.deepEqual(await c2.createReceiver("q").peekMessages(5), []);
  await c2.close();
  await second.stop();
});
