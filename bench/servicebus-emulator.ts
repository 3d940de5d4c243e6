/**
 * Benchmark: send + receive + complete round trips per second through the real @azure/service-bus
 * client against the emulator on loopback, in batches of 100, with 1 and 10 concurrent receivers.
 * Writes bench/results/servicebus-emulator.md. Run: `npm run bench:servicebus`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { startServiceBusEmulator } from "../dev/servicebus-emulator";

const TOTAL = Number(process.env.BENCH_MESSAGES ?? 10_000);
const BATCH = 100;

async function run(
  receivers: number,
): Promise<{ receivers: number; messages: number; seconds: number; perSecond: number }> {
  const emulator = await startServiceBusEmulator({
    UserConfig: {
      Namespaces: [{ Name: "bench", Queues: [{ Name: "q", Properties: { LockDuration: "PT1M" } }] }],
    },
  });
  const client = new ServiceBusClient(emulator.namespaces[0]!.connectionString);
  try {
    const sender = client.createSender("q");
    await sender.sendMessages({ body: "warm-up" });
    const warm = client.createReceiver("q", { receiveMode: "receiveAndDelete" });
    await warm.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    await warm.close();
    const started = process.hrtime.bigint();
    let received = 0;
    const producing = (async () => {
      for (let sent = 0; sent < TOTAL; sent += BATCH) {
        const batch = await sender.createMessageBatch();
        for (let i = 0; i < BATCH; i++)
          batch.tryAddMessage({ body: { i: sent + i, payload: "x".repeat(200) } });
        await sender.sendMessages(batch);
      }
    })();
    await Promise.all([
      producing,
      ...Array.from({ length: receivers }, async () => {
        const receiver = client.createReceiver("q", { maxAutoLockRenewalDurationInMs: 0 });
        while (received < TOTAL) {
          const msgs = await receiver.receiveMessages(BATCH, { maxWaitTimeInMs: 200 });
          await Promise.all(msgs.map((m) => receiver.completeMessage(m)));
          received += msgs.length;
        }
        await receiver.close();
      }),
    ]);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { receivers, messages: received, seconds, perSecond: received / seconds };
  } finally {
    await client.close();
    await emulator.stop();
  }
}

async function main(): Promise<void> {
  const results = [await run(1), await run(10)];
  const lines = [
    "# Service Bus emulator benchmark",
    "",
    `- date: ${new Date().toISOString()}`,
    `- machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "unknown"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${process.platform}`,
    `- node: ${process.version}`,
    "- command: `npm run bench:servicebus`",
    `- workload: ${TOTAL} messages of ~220 bytes, sent in batches of ${BATCH}; receivers take up to ${BATCH} per call (peek-lock) and complete each; client and emulator in one process on loopback`,
    "- target: ≥ 2,000 round trips/s",
    "",
    "| receivers | messages | seconds | round trips/s |",
    "| --- | --- | --- | --- |",
    ...results.map(
      (r) => `| ${r.receivers} | ${r.messages} | ${r.seconds.toFixed(2)} | ${Math.round(r.perSecond)} |`,
    ),
    "",
  ];
  const file = path.join(__dirname, "..", "..", "bench", "results", "servicebus-emulator.md");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, lines.join("\n"));
  console.log(lines.join("\n"));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
