import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ServiceBusClient } from "@azure/service-bus";
import {
  commandSettler,
  RECEIVER_OPTIONS,
  receiveCommandsFor,
} from "../../../customer/agent/command-receiver";
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

/** One run of the receiver over the queue with `handle`, as the agent's timer runs it. */
async function run(handle: (m: IncomingCommand) => Promise<unknown>) {
  const receiver = client.createReceiver("commands", RECEIVER_OPTIONS);
  try {
    return await receiveCommandsFor(
      receiver,
      handle,
      { until: Date.now() + 3000, maxMessages: 16, maxWaitMs: 500 },
      log,
    );
  } finally {
    await receiver.close();
  }
}

test("handled → completed; refused → dead-lettered at once with the refusal's reason and description; failed → left to come back after its lock", async () => {
  await client
    .createSender("commands")
    .sendMessages(["ok", "forged", "flaky"].map((b) => ({ body: b, messageId: b })));
  const failedOnce = new Set<string>();
  const handle = async (m: IncomingCommand) => {
    if (m.body === "forged") throw new InvalidCommandError("InvalidSignature", "no signature");
    if (m.body === "flaky" && !failedOnce.has("flaky")) {
      failedOnce.add("flaky");
      throw new Error("storage unavailable");
    }
    return "started";
  };
  const started = Date.now();
  assert.deepEqual(await run(handle), { received: 3, completed: 1, deadLettered: 1, retried: 1 });
  // The failed one is not abandoned (it would come back at once and spend its deliveries in seconds):
  // it comes back when its 2 s lock runs out, and the next run handles it.
  let again = await run(handle);
  while (again.received === 0 && Date.now() - started < 10_000) again = await run(handle);
  assert.deepEqual(again, { received: 1, completed: 1, deadLettered: 0, retried: 0 });
  assert.ok(Date.now() - started >= 1500, "not before its lock ran out");

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
  assert.ok(
    lines.some((l) => /command not handled: it will be delivered again when its lock expires/.test(l)),
  );
});

test("a message whose lock was lost is not settled twice: the failed settlement is logged, and the next delivery settles it", async () => {
  await client.createSender("commands").sendMessages({ body: "slow", messageId: "slow" });
  const receiver = client.createReceiver("commands", RECEIVER_OPTIONS);
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

test("a run ends when the queue is empty, at its time while commands keep coming, or at once when the app stops", async () => {
  const receiver = client.createReceiver("commands", RECEIVER_OPTIONS);
  const sender = client.createSender("commands");
  try {
    const stopped = await receiveCommandsFor(
      receiver,
      async () => assert.fail("nothing to handle"),
      { until: Date.now() + 60_000, maxMessages: 1, maxWaitMs: 200, stopping: () => true },
      log,
    );
    assert.equal(stopped.received, 0);
    const idle = Date.now();
    const empty = await receiveCommandsFor(
      receiver,
      async () => assert.fail("nothing to handle"),
      { until: Date.now() + 60_000, maxMessages: 1, maxWaitMs: 200 },
      log,
    );
    assert.equal(empty.received, 0);
    assert.ok(Date.now() - idle < 10_000, "an empty queue ends the run after one wait");
    // Commands keep coming: the run ends at its time (a virtual clock), the rest wait for the next run.
    await sender.sendMessages(["a", "b", "c"].map((b) => ({ body: b, messageId: b })));
    let now = 0;
    const timed = await receiveCommandsFor(
      receiver,
      async () => "started",
      { until: 1000, maxMessages: 1, maxWaitMs: 500, now: () => (now += 400) },
      log,
    );
    assert.equal(timed.received, 2, "two receives fit before its time");
    const rest = await receiveCommandsFor(
      receiver,
      async () => "started",
      { until: Date.now() + 5000, maxMessages: 16, maxWaitMs: 500 },
      log,
    );
    assert.equal(rest.completed, 1);
  } finally {
    await sender.close();
    await receiver.close();
  }
});
