import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ServiceBusClient } from "@azure/service-bus";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { clientFor, failsWith, namespaceConfig, startEmulator } from "../../helpers/servicebus";

let emulator: RunningEmulator;
let client: ServiceBusClient;

before(async () => {
  emulator = await startEmulator([
    namespaceConfig("sessions", [
      { name: "named", properties: { RequiresSession: true, LockDuration: "PT1S" } },
      { name: "next", properties: { RequiresSession: true, LockDuration: "PT1S" } },
      { name: "state", properties: { RequiresSession: true, LockDuration: "PT1S" } },
      { name: "empty", properties: { RequiresSession: true } },
      { name: "plain" },
    ]),
  ]);
  client = clientFor(emulator);
});

after(async () => {
  await client.close();
  await emulator.stop();
});

test("a named session receives only its messages, in order, and is exclusive", async () => {
  const sender = client.createSender("named");
  await sender.sendMessages([
    { body: "a1", sessionId: "a" },
    { body: "b1", sessionId: "b" },
    { body: "a2", sessionId: "a" },
  ]);
  const a = await client.acceptSession("named", "a");
  assert.equal(a.sessionId, "a");
  assert.ok(a.sessionLockedUntilUtc && a.sessionLockedUntilUtc.getTime() > Date.now());
  const msgs = await a.receiveMessages(5, { maxWaitTimeInMs: 1000 });
  assert.deepEqual(
    msgs.map((m) => [m.body, m.sessionId]),
    [
      ["a1", "a"],
      ["a2", "a"],
    ],
  );
  for (const m of msgs) await a.completeMessage(m);
  await assert.rejects(client.acceptSession("named", "a"), failsWith("SessionCannotBeLocked"));
  await a.close();
  const again = await client.acceptSession("named", "a");
  await again.close();
  const b = await client.acceptSession("named", "b");
  const [b1] = await b.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(b1?.body, "b1");
  await b.completeMessage(b1!);
  await b.close();
});

test("acceptNextSession picks a session with messages; none free is a timeout error", async () => {
  await client.createSender("next").sendMessages({ body: "n1", sessionId: "s-next" });
  const r = await client.acceptNextSession("next");
  assert.equal(r.sessionId, "s-next");
  const [m] = await r.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(m?.body, "n1");
  await r.completeMessage(m!);
  await r.close();
  const started = Date.now();
  await assert.rejects(
    client.acceptNextSession("empty", { maxAutoLockRenewalDurationInMs: 0 }),
    (e: unknown) => failsWith("ServiceTimeout")(e) || failsWith("SessionCannotBeLocked")(e),
  );
  assert.ok(Date.now() - started < 70_000);
});

test("session state round-trips and the session lock renews", async () => {
  await client.createSender("state").sendMessages({ body: "s", sessionId: "st" });
  const r = await client.acceptSession("state", "st", { maxAutoLockRenewalDurationInMs: 0 });
  assert.equal(await r.getSessionState(), null);
  await r.setSessionState({ step: 3 });
  assert.deepEqual(await r.getSessionState(), { step: 3 });
  const before = r.sessionLockedUntilUtc!.getTime();
  await new Promise((resolve) => setTimeout(resolve, 200));
  await r.renewSessionLock();
  assert.ok(r.sessionLockedUntilUtc!.getTime() > before);
  await r.close();
  const again = await client.acceptSession("state", "st");
  assert.deepEqual(await again.getSessionState(), { step: 3 }, "state survives the receiver");
  const [m] = await again.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  await again.completeMessage(m!);
  await again.close();
});

test("a session queue refuses messages without a session id; a plain queue refuses session receivers", async () => {
  await assert.rejects(
    client.createSender("named").sendMessages({ body: "no session" }),
    /SessionId was not set/,
  );
  await assert.rejects(client.acceptSession("plain", "x"));
});
