import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ServiceBusClient } from "@azure/service-bus";
import { commandSettler, receiveCommandsFor } from "../../../customer/agent/command-receiver";
import { type IncomingCommand, InvalidCommandError } from "../../../customer/agent/commands";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { createLogger } from "../../../lib/logging/logger";
import { clientFor, namespaceConfig, startEmulator } from "../../helpers/servicebus";

// The agent's own settlement of each command, through the real @azure/service-bus client against the
// project's emulator: a refusal reaches the dead-letter queue on its first delivery with its own reason.

let emulator: RunningEmulator;
let client: ServiceBusClient;
const lines: string[] = [];
const log = createLogger((_level, entry) => lines.push(JSON.stringify(entry)));

before(async () => {
  emulator = await startEmulator([
    namespaceConfig("agent", [
      { name: "commands", properties: { LockDuration: "PT2S", MaxDeliveryCount: 3 } },
    ]),
  ]);
  client = clientFor(emulator);
});

after(async () => {
  await client.close();
  await emulator.stop();
});

/** Sends the bodies, runs the receiver over them with `handle`, and answers what reached each sub-queue. */
async function receiveWith(
  queue: string,
  bodies: string[],
  handle: (m: IncomingCommand) => Promise<unknown>,
) {
  await client.createSender(queue).sendMessages(bodies.map((b) => ({ body: b, messageId: b })));
  const receiver = client.createReceiver(queue, { receiveMode: "peekLock" });
  try {
    const summary = await receiveCommandsFor(
      receiver,
      handle,
      { until: Date.now() + 3000, maxMessages: 16, maxWaitMs: 500 },
      log,
    );
    return summary;
  } finally {
    await receiver.close();
  }
}

test("handled → completed; refused → dead-lettered at once with the refusal's reason and description; failed → delivered again", async () => {
  const failedOnce = new Set<string>();
  const summary = await receiveWith("commands", ["ok", "forged", "flaky"], async (m) => {
    if (m.body === "forged") throw new InvalidCommandError("InvalidSignature", "no signature");
    if (m.body === "flaky" && !failedOnce.has("flaky")) {
      failedOnce.add("flaky");
      throw new Error("storage unavailable");
    }
    return "started";
  });
  assert.deepEqual(summary, { received: 4, completed: 2, deadLettered: 1, abandoned: 1 });

  const dlq = client.createReceiver("commands", {
    subQueueType: "deadLetter",
    receiveMode: "receiveAndDelete",
  });
  const dead = await dlq.receiveMessages(10, { maxWaitTimeInMs: 1000 });
  await dlq.close();
  assert.deepEqual(
    dead.map((m) => [m.messageId, m.deadLetterReason, m.deadLetterErrorDescription]),
    [["forged", "InvalidSignature", "no signature"]],
  );
  const left = await client.createReceiver("commands").peekMessages(10);
  assert.equal(left.length, 0, "the others were completed");
  assert.ok(lines.some((l) => /command not handled: it will be delivered again/.test(l)));
});

test("a message whose lock was lost is not settled twice: the failed settlement is logged, and the next delivery settles it", async () => {
  await client.createSender("commands").sendMessages({ body: "slow", messageId: "slow" });
  const receiver = client.createReceiver("commands", {
    receiveMode: "peekLock",
    maxAutoLockRenewalDurationInMs: 0,
  });
  const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
  assert.ok(message);
  // Handled past its 2 s lock: the broker has already made it available again.
  const settle = commandSettler(receiver, () => new Promise((resolve) => setTimeout(resolve, 2500)), log);
  const settled = await settle(message);
  assert.equal(settled, "completed");
  assert.ok(lines.some((l) => /command settlement failed/.test(l)));
  const summary = await receiveCommandsFor(
    receiver,
    async () => "duplicate",
    { until: Date.now() + 2000, maxMessages: 1, maxWaitMs: 500 },
    log,
  );
  await receiver.close();
  assert.equal(summary.completed, 1);
  assert.equal((await client.createReceiver("commands").peekMessages(10)).length, 0);
});

test("a run ends at its time, or at once when the app stops, with nothing received", async () => {
  const receiver = client.createReceiver("commands", { receiveMode: "peekLock" });
  try {
    const stopped = await receiveCommandsFor(
      receiver,
      async () => assert.fail("nothing to handle"),
      { until: Date.now() + 60_000, maxMessages: 1, maxWaitMs: 200, stopping: () => true },
      log,
    );
    assert.equal(stopped.received, 0);
    let now = 0;
    const timed = await receiveCommandsFor(
      receiver,
      async () => assert.fail("nothing to handle"),
      { until: 1000, maxMessages: 1, maxWaitMs: 200, now: () => (now += 400) },
      log,
    );
    assert.equal(timed.received, 0);
  } finally {
    await receiver.close();
  }
});
