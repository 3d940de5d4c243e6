import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { ServiceBusClient } from "@azure/service-bus";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { clientFor, namespaceConfig, startEmulator } from "../../helpers/servicebus";

let emulator: RunningEmulator;

before(async () => {
  emulator = await startEmulator([
    namespaceConfig("alpha", [{ name: "shared-name" }, { name: "many" }]),
    namespaceConfig("beta", [{ name: "shared-name" }]),
  ]);
});

after(async () => {
  await emulator.stop();
});

function rawSend(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(bytes);
      setTimeout(() => socket.destroy(), 100);
    });
    socket.on("error", () => resolve());
    socket.on("close", () => resolve());
  });
}

test("namespaces are isolated: same queue name, separate messages", async () => {
  const a = clientFor(emulator, "alpha");
  const b = clientFor(emulator, "beta");
  await a.createSender("shared-name").sendMessages({ body: "for alpha" });
  await b.createSender("shared-name").sendMessages({ body: "for beta" });
  const [fromA] = await a
    .createReceiver("shared-name", { receiveMode: "receiveAndDelete" })
    .receiveMessages(5, { maxWaitTimeInMs: 500 });
  const [fromB] = await b
    .createReceiver("shared-name", { receiveMode: "receiveAndDelete" })
    .receiveMessages(5, { maxWaitTimeInMs: 500 });
  assert.equal(fromA?.body, "for alpha");
  assert.equal(fromB?.body, "for beta");
  await a.close();
  await b.close();
});

test("garbage, a wrong protocol header and a truncated frame are refused without taking the emulator down", async () => {
  const port = emulator.namespace("alpha").port;
  await rawSend(port, Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  await rawSend(
    port,
    Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x03, 0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x02]),
  );
  await rawSend(
    port,
    Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00]),
  );
  await rawSend(port, Buffer.alloc(4096, 0xab));
  const client = clientFor(emulator, "alpha");
  await client.createSender("many").sendMessages({ body: "still alive" });
  const [m] = await client
    .createReceiver("many", { receiveMode: "receiveAndDelete" })
    .receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(m?.body, "still alive");
  await client.close();
});

test("200 concurrent client connections each send and receive", async () => {
  const ns = emulator.namespace("alpha");
  // A generous timeout: this is about 200 connections at once being served, not how fast on a busy machine.
  const patient = { retryOptions: { maxRetries: 2, retryDelayInMs: 100, timeoutInMs: 30_000 } };
  const clients = Array.from({ length: 200 }, () => new ServiceBusClient(ns.connectionString, patient));
  try {
    await Promise.all(clients.map((c, i) => c.createSender("many").sendMessages({ body: i })));
    const receiver = clients[0]!.createReceiver("many", { receiveMode: "receiveAndDelete" });
    const seen = new Set<number>();
    while (seen.size < 200) {
      const batch = await receiver.receiveMessages(100, { maxWaitTimeInMs: 1000 });
      assert.ok(batch.length > 0, `stalled at ${seen.size}`);
      for (const m of batch) seen.add(m.body as number);
    }
    assert.equal(seen.size, 200);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});
