/**
 * Benchmark: send + receive + complete round trips per second through the real @azure/service-bus
 * client against the emulator on loopback, in batches of 100, with 1 and 10 concurrent receivers, in
 * memory and with persistence (`dataDir`), each the median of 3 runs (BENCH_REPEAT). A calibration of
 * the machine (CPU and fsync latency) is measured in the same run, so figures from a busy or different
 * machine can be compared.
 * Writes bench/results/servicebus-emulator.md. Run: `npm run bench:servicebus`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { startServiceBusEmulator } from "../dev/servicebus-emulator";
import { calibrate } from "../dev/calibration";

const TOTAL = Number(process.env.BENCH_MESSAGES ?? 10_000);
const BATCH = 100;
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);

interface Result {
  persisted: boolean;
  receivers: number;
  messages: number;
  seconds: number;
  perSecond: number;
}

async function run(receivers: number, persisted: boolean): Promise<Result> {
  const dataDir = persisted ? fs.mkdtempSync(path.join(os.tmpdir(), "bench-sb-")) : undefined;
  const emulator = await startServiceBusEmulator(
    {
      UserConfig: {
        Namespaces: [{ Name: "bench", Queues: [{ Name: "q", Properties: { LockDuration: "PT1M" } }] }],
      },
    },
    { dataDir },
  );
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
    return { persisted, receivers, messages: received, seconds, perSecond: received / seconds };
  } finally {
    await client.close();
    await emulator.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The median of `REPEAT` runs: the machine is shared, and one run can land on someone else's build. */
async function median(receivers: number, persisted: boolean): Promise<Result> {
  const runs: Result[] = [];
  for (let i = 0; i < REPEAT; i++) runs.push(await run(receivers, persisted));
  runs.sort((a, b) => a.perSecond - b.perSecond);
  return runs[Math.floor(runs.length / 2)] as Result;
}

async function main(): Promise<void> {
  const before = calibrate();
  const results: Result[] = [];
  for (const persisted of [false, true])
    for (const receivers of [1, 10]) results.push(await median(receivers, persisted));
  const after = calibrate();
  const lines = [
    "# Service Bus emulator benchmark",
    "",
    `- date: ${new Date().toISOString()}`,
    `- machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "unknown"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${process.platform}, load average ${os.loadavg()[0]?.toFixed(2)} at the end`,
    `- calibration (before / after the runs): sha256 ${Math.round(before.sha256MiBps)} / ${Math.round(after.sha256MiBps)} MiB/s on one core; append 256 B + fdatasync in ${os.tmpdir()} ${before.fsyncMs.toFixed(2)} / ${after.fsyncMs.toFixed(2)} ms`,
    `- node: ${process.version}`,
    "- command: `npm run bench:servicebus`",
    `- workload: ${TOTAL} messages of ~220 bytes, sent in batches of ${BATCH}; receivers take up to ${BATCH} per call (peek-lock) and complete each; client and emulator in one process on loopback; "data dir" = persistence on (a temporary folder in ${os.tmpdir()}); each row is the median of ${REPEAT} runs`,
    "- target: ≥ 2,000 round trips/s",
    "",
    "| persistence | receivers | messages | seconds | round trips/s |",
    "| --- | --- | --- | --- | --- |",
    ...results.map(
      (r) =>
        `| ${r.persisted ? "data dir" : "in memory"} | ${r.receivers} | ${r.messages} | ${r.seconds.toFixed(2)} | ${Math.round(r.perSecond)} |`,
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
