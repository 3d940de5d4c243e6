/**
 * Settlements issued together on one receiver, through the real @azure/service-bus client (and so rhea)
 * against the emulator, which applies each disposition range exactly as it was sent. The first test pins
 * the upstream rhea 3.0.5 behaviour the gate exists for; the others fail without the gate.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ServiceBusClient, ServiceBusReceivedMessage } from "@azure/service-bus";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { receiveStatuses, ServiceBusPool } from "../../../lib/messaging/channel";
import { statusMessage } from "../../../lib/messaging/contracts";
import { sameOutcome, SettlementGate } from "../../../lib/messaging/settlement-gate";
import { clientFor, namespaceConfig, startEmulator } from "../../helpers/servicebus";

let emulator: RunningEmulator;
let client: ServiceBusClient;
const pool = new ServiceBusPool();

before(async () => {
  emulator = await startEmulator([
    namespaceConfig("customer", [
      { name: "raw" },
      { name: "guarded" },
      { name: "gated-raw" },
      { name: "flood" },
    ]),
  ]);
  client = clientFor(emulator);
});

after(async () => {
  await client.close();
  await pool.closeAll();
  await emulator.stop();
});

async function sendStatuses(queue: string, ids: string[]): Promise<void> {
  const sender = client.createSender(queue);
  await sender.sendMessages(
    ids.map((id) =>
      statusMessage({
        schemaVersion: 1,
        deploymentId: id,
        attempt: 1,
        state: "Accepted",
        progress: 0,
        sequence: 1,
        reportedAt: new Date().toISOString(),
      }),
    ),
  );
  await sender.close();
}

/** What is left: the dead-letter queue (id → reason) and the live queue (ids), drained. */
async function leftovers(queue: string): Promise<{ dead: Map<string, string>; live: string[] }> {
  const dead = new Map<string, string>();
  const dlq = client.createReceiver(queue, { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  for (const m of await dlq.receiveMessages(10, { maxWaitTimeInMs: 300 }))
    dead.set((m.body as { deploymentId: string }).deploymentId, String(m.deadLetterReason));
  await dlq.close();
  const main = client.createReceiver(queue, { receiveMode: "receiveAndDelete" });
  const live = (await main.receiveMessages(10, { maxWaitTimeInMs: 300 })).map(
    (m) => (m.body as { deploymentId: string }).deploymentId,
  );
  await main.close();
  return { dead, live };
}

async function receiveTwo(queue: string): Promise<{
  receiver: ReturnType<ServiceBusClient["createReceiver"]>;
  messages: ServiceBusReceivedMessage[];
}> {
  const receiver = client.createReceiver(queue, { receiveMode: "peekLock" });
  const messages: ServiceBusReceivedMessage[] = [];
  while (messages.length < 2)
    messages.push(...(await receiver.receiveMessages(2, { maxWaitTimeInMs: 2000 })));
  return { receiver, messages };
}

test("upstream: rhea 3.0.5 sends the second settlement of a flush with the first one's outcome", async () => {
  await sendStatuses("raw", ["a", "b"]);
  const { receiver, messages } = await receiveTwo("raw");
  const [a, b] = messages as [ServiceBusReceivedMessage, ServiceBusReceivedMessage];
  await Promise.all([
    receiver.completeMessage(a),
    receiver.deadLetterMessage(b, { deadLetterReason: "Bad", deadLetterErrorDescription: "b is bad" }),
  ]);
  await receiver.close();
  const left = await leftovers("raw");
  // b was completed with a: nothing was dead-lettered. If this starts failing, rhea fixed it upstream.
  assert.equal(left.dead.size, 0, JSON.stringify([...left.dead]));
  assert.deepEqual(left.live, []);
});

test("gated: a complete and a dead-letter issued together each keep their own outcome", async () => {
  await sendStatuses("gated-raw", ["a", "b", "c", "d"]);
  const receiver = client.createReceiver("gated-raw", { receiveMode: "peekLock" });
  const messages: ServiceBusReceivedMessage[] = [];
  while (messages.length < 4)
    messages.push(...(await receiver.receiveMessages(4, { maxWaitTimeInMs: 2000 })));
  const byId = new Map(messages.map((m) => [(m.body as { deploymentId: string }).deploymentId, m]));
  const gate = new SettlementGate();
  const deadLetter = (id: string) =>
    gate.run("exclusive", () =>
      receiver.deadLetterMessage(byId.get(id)!, {
        deadLetterReason: `Reason-${id}`,
        deadLetterErrorDescription: id,
      }),
    );
  const complete = (id: string) => gate.run("complete", () => receiver.completeMessage(byId.get(id)!));
  await Promise.all([complete("a"), deadLetter("b"), deadLetter("c"), complete("d")]);
  await receiver.close();
  const left = await leftovers("gated-raw");
  assert.deepEqual([...left.dead].sort(), [
    ["b", "Reason-b"],
    ["c", "Reason-c"],
  ]);
  assert.deepEqual(left.live, []);
});

test("the status channel's batch settles concurrently without crossing outcomes", async () => {
  await sendStatuses("guarded", ["a", "b", "c"]);
  const sb = pool.client("customer|sas", () => ({
    connectionString: emulator.namespaces[0]!.connectionString,
  }));
  const batch = await receiveStatuses(sb, "guarded", { maxMessages: 3, maxWaitTimeInMs: 2000 });
  const items = [...batch.items];
  while (items.length < 3) items.push(...(await batch.next({ maxMessages: 3, maxWaitTimeInMs: 2000 })));
  const byId = new Map(items.map((i) => [i.ok ? i.status.deploymentId : "", i.message]));
  await Promise.all([
    batch.deadLetter(byId.get("a")!, "First", "a"),
    batch.complete(byId.get("b")!),
    batch.deadLetter(byId.get("c")!, "Second", "c"),
  ]);
  await batch.close();
  const left = await leftovers("guarded");
  assert.deepEqual([...left.dead].sort(), [
    ["a", "First"],
    ["c", "Second"],
  ]);
  assert.deepEqual(left.live, []);
});

test("the gate serves waiters in order: completes run together, an exclusive settlement runs alone", async () => {
  const gate = new SettlementGate();
  const log: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const op = (name: string, wait?: Promise<void>) => async () => {
    log.push(`start ${name}`);
    await (wait ?? Promise.resolve());
    log.push(`end ${name}`);
  };
  const all = Promise.all([
    gate.run("complete", op("c1", held)),
    gate.run("complete", op("c2")),
    gate.run("exclusive", op("x")),
    gate.run("complete", op("c3")),
  ]);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ["start c1", "start c2", "end c2"], "c3 waits behind x, x behind c1");
  release();
  await all;
  assert.deepEqual(log, [
    "start c1",
    "start c2",
    "end c2",
    "end c1",
    "start x",
    "end x",
    "start c3",
    "end c3",
  ]);
});

test("dead-letters of one reason and description run together; other outcomes still wait their turn", async () => {
  const gate = new SettlementGate();
  let running = 0;
  let most = 0;
  const order: string[] = [];
  const settle = (name: string) => async () => {
    running++;
    most = Math.max(most, running);
    order.push(`+${name}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    order.push(`-${name}`);
    running--;
  };
  const flood = sameOutcome("InvalidJson\u0000body bytes are not JSON");
  await Promise.all([
    ...["a", "b", "c", "d"].map((n) => gate.run(flood, settle(n))),
    gate.run(sameOutcome("Oversized\u0000too big"), settle("big")),
    gate.run("complete", settle("ok")),
  ]);
  assert.equal(most, 4, "the four identical dead-letters were in flight at once");
  assert.deepEqual(
    order.slice(8),
    ["+big", "-big", "+ok", "-ok"],
    "a different outcome never shares their flush",
  );
});

test("a batch of identical dead-letters issued at once through the channel: each keeps its reason", async () => {
  const ids = ["f1", "f2", "f3", "f4", "f5", "f6", "f7"];
  await sendStatuses("flood", ids);
  const sb = pool.client("customer|sas", () => ({
    connectionString: emulator.namespaces[0]!.connectionString,
  }));
  const batch = await receiveStatuses(sb, "flood", { maxMessages: 10, maxWaitTimeInMs: 2000 });
  const items = [...batch.items];
  while (items.length < ids.length)
    items.push(...(await batch.next({ maxMessages: 10, maxWaitTimeInMs: 2000 })));
  const byId = new Map(items.map((i) => [i.ok ? i.status.deploymentId : "", i.message]));
  await Promise.all([
    ...["f1", "f2", "f3", "f4", "f5"].map((id) => batch.deadLetter(byId.get(id)!, "Flood", "same")),
    batch.complete(byId.get("f6")!),
    batch.deadLetter(byId.get("f7")!, "Other", "different"),
  ]);
  await batch.close();
  const left = await leftovers("flood");
  assert.deepEqual([...left.dead].sort(), [
    ["f1", "Flood"],
    ["f2", "Flood"],
    ["f3", "Flood"],
    ["f4", "Flood"],
    ["f5", "Flood"],
    ["f7", "Other"],
  ]);
  assert.deepEqual(left.live, []);
});
