import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBusClient, ServiceBusReceivedMessage } from "@azure/service-bus";
import { kill9, startPart } from "../../helpers/part";
import { FAST_RETRIES } from "../../helpers/servicebus";

/** The emulator in a child process of its own, so it can be killed for real; resolves with its SAS. */
async function startChild(
  configFile: string,
  dataDir: string,
): Promise<{ child: ChildProcess; sas: string }> {
  const { child, ready } = await startPart<{ namespaces: { connectionString: string }[] }>(
    path.join("servicebus-emulator", "cli.js"),
    ["--config", configFile, "--data-dir", dataDir],
  );
  return { child, sas: ready.namespaces[0]?.connectionString as string };
}

const bodyOf = (m: ServiceBusReceivedMessage) => m.body as number;

test("kill -9 loses no acknowledged send or settlement: every message comes back but the completed, dead-lettered and received-and-deleted ones", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-crash-"));
  const configFile = path.join(dir, "Config.json");
  const dataDir = path.join(dir, "data");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      UserConfig: {
        Namespaces: [
          {
            Name: "crash",
            Queues: [
              {
                Name: "q",
                Properties: { LockDuration: "PT1M", RequiresDuplicateDetection: true },
              },
            ],
          },
        ],
      },
    }),
  );
  let running: ChildProcess | undefined;
  try {
    const first = await startChild(configFile, dataDir);
    running = first.child;
    const c1 = new ServiceBusClient(first.sas, FAST_RETRIES);
    const sender = c1.createSender("q");
    // 300 messages: three batches, then one send each, all acknowledged by the broker.
    for (let b = 0; b < 3; b++)
      await sender.sendMessages(
        Array.from({ length: 50 }, (_, i) => ({ body: b * 50 + i, messageId: `m${b * 50 + i}` })),
      );
    for (let i = 150; i < 300; i++) await sender.sendMessages({ body: i, messageId: `m${i}` });
    const receiver = c1.createReceiver("q", { maxAutoLockRenewalDurationInMs: 0 });
    const taken: ServiceBusReceivedMessage[] = [];
    while (taken.length < 120) taken.push(...(await receiver.receiveMessages(120 - taken.length)));
    const completed = taken.slice(0, 80);
    const deadLettered = taken.slice(80, 90);
    const deferred = taken.slice(90, 100);
    const abandoned = taken.slice(100, 110);
    // taken.slice(110): still locked at the crash; locks do not survive it, the messages do.
    await Promise.all(completed.map((m) => receiver.completeMessage(m)));
    await Promise.all(
      deadLettered.map((m) =>
        receiver.deadLetterMessage(m, { deadLetterReason: "Test", deadLetterErrorDescription: "crash test" }),
      ),
    );
    await Promise.all(deferred.map((m) => receiver.deferMessage(m)));
    const deleting = c1.createReceiver("q", { receiveMode: "receiveAndDelete" });
    const deleted: ServiceBusReceivedMessage[] = [];
    while (deleted.length < 20) deleted.push(...(await deleting.receiveMessages(20 - deleted.length)));
    await Promise.all(abandoned.map((m) => receiver.abandonMessage(m)));
    // The last acknowledgement, then the crash at once: nothing may wait for a later save.
    await sender.sendMessages({ body: 300, messageId: "m300" });
    await kill9(first.child);
    running = undefined;
    await c1.close();

    const second = await startChild(configFile, dataDir);
    running = second.child;
    const c2 = new ServiceBusClient(second.sas, FAST_RETRIES);
    // Duplicate detection history survived too: a resend of an acknowledged message id (body -1) is dropped.
    await c2.createSender("q").sendMessages({ body: -1, messageId: "m300" });
    const r2 = c2.createReceiver("q");
    const left: ServiceBusReceivedMessage[] = [];
    // Each peek continues after the previous one.
    for (;;) {
      const page = await r2.peekMessages(100);
      if (page.length === 0) break;
      left.push(...page);
    }
    const gone = new Set([...completed, ...deadLettered, ...deleted].map(bodyOf));
    const expected = Array.from({ length: 301 }, (_, i) => i).filter((i) => !gone.has(i));
    assert.deepEqual(
      left.map(bodyOf).sort((a, b) => a - b),
      expected,
      "every acknowledged send is there and no settled message came back",
    );
    const states = new Map(left.map((m) => [bodyOf(m), m.state]));
    for (const m of deferred) assert.equal(states.get(bodyOf(m)), "deferred");
    const counts = new Map(left.map((m) => [bodyOf(m), m.deliveryCount]));
    for (const m of abandoned) assert.equal(counts.get(bodyOf(m)), 1, "an abandon counts a delivery");
    const dlq = c2.createReceiver("q", { subQueueType: "deadLetter" });
    const dead = await dlq.peekMessages(50);
    assert.deepEqual(
      dead.map(bodyOf).sort((a, b) => a - b),
      deadLettered.map(bodyOf).sort((a, b) => a - b),
    );
    await c2.close();
  } finally {
    if (running) await kill9(running);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
