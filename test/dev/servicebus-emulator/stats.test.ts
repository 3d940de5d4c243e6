import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ServiceBusClient } from "@azure/service-bus";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { clientFor, namespaceConfig, startEmulator } from "../../helpers/servicebus";

let emulator: RunningEmulator;
let client: ServiceBusClient;

before(async () => {
  emulator = await startEmulator([namespaceConfig("ns", [{ name: "q" }])]);
  client = clientFor(emulator);
});

after(async () => {
  await client.close();
  await emulator.stop();
});

const q = () => emulator.stats().ns!.entities.q!;

test("a receiver asking for one message is handed one; the rest stay available to the next", async () => {
  const sender = client.createSender("q");
  await sender.sendMessages([{ body: 1 }, { body: 2 }, { body: 3 }]);
  await sender.close();
  assert.equal(q().sendCalls, 1);
  assert.equal(q().messagesSent, 3);

  const first = client.createReceiver("q");
  const [one, ...none] = await first.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(none.length, 0);
  await first.completeMessage(one!);
  await first.close();
  let s = q();
  assert.deepEqual(
    [s.receiverAttaches, s.creditFlows, s.drains, s.messagesDelivered, s.completed],
    [1, 1, 0, 1, 1],
  );

  const second = client.createReceiver("q");
  const rest = await second.receiveMessages(5, { maxWaitTimeInMs: 300 });
  assert.deepEqual(rest.map((m) => m.body as number).sort(), [2, 3], "not locked away by the first receiver");
  await second.abandonMessage(rest[0]!);
  await second.deadLetterMessage(rest[1]!);
  await second.peekMessages(1);
  await second.close();
  s = q();
  assert.equal(s.messagesDelivered, 3);
  assert.equal(s.drains, 1, "the batch asked for 5, got 2: the leftover credit is drained");
  assert.equal(s.receiveRequests, s.creditFlows + s.drains);
  assert.deepEqual([s.abandoned, s.deadLettered, s.settlements], [1, 1, 3]);
  assert.ok(s.managementOps >= 1);
  assert.ok(emulator.stats().ns!.cbsPutTokens >= 3, "each link is authorised through $cbs");
});
