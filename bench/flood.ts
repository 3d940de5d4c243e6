/**
 * `npm run bench:flood`: a hostile or broken customer floods its status queue with 10,000 bad messages
 * (unparsable JSON, statuses of made-up deployments, and oversized bodies) while five other tenants
 * deploy. Three runs, each on a fresh stack (Azurite, the Service Bus emulator and the Provider on the dev
 * host, each in a process of its own, bench/children.ts; the five agents in a fourth): no flood (the
 * baseline), the flood with the default quarantine (QUARANTINE_BAD_MESSAGES 100 in 600 s), and the flood
 * with quarantine off (QUARANTINE_BAD_MESSAGES=0), where the Provider refuses all 10,000 through the byte
 * budget, the one-read refusal and the batched dead-letters alone. Reports the other tenants' status
 * detection (agent's terminal status sent → orchestration Completed) and the Provider's RSS, sampled
 * every second. The machine's calibration is taken first, in the same run (bench/calibration.ts).
 * Writes bench/results/flood.json and the "Status flood on one tenant" section of bench/RESULTS.md.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBusClient, type ServiceBusMessage } from "@azure/service-bus";
import { LIMITS, statusMessage } from "../lib/messaging/contracts";
import { benchCalibration, type Calibration } from "./calibration";
import { type BenchChild, startBenchChild } from "./children";
import type { ProviderStats } from "./provider-child";
import { percentile } from "./provider-ops";
import { calibrationLine, writeSection } from "./rollout-report";
import { LOADED_SPEC } from "./specs";

const GOOD = ["alpha", "bravo", "charlie", "delta", "echo"];
const HOSTILE = "hostile";
const SUFFIX = ".servicebus.localhost";
const IN_FLIGHT_PER_TENANT = 3;
const WINDOW_SECONDS = Number(process.env.BENCH_FLOOD_WINDOW ?? 45);
const FLOOD = 10_000;
/** One bad message in this many is oversized (a body of OVERSIZED_BYTES); the rest alternate JSON / unknown. */
const OVERSIZED_EVERY = 20;
const OVERSIZED_BYTES = LIMITS.bodyBytes + 16 * 1024;

type RunName = "baseline" | "flood, quarantine on (100 in 600 s)" | "flood, quarantine off";
const RUNS: { name: RunName; flood: boolean; quarantine: string }[] = [
  { name: "baseline", flood: false, quarantine: "100" },
  { name: "flood, quarantine on (100 in 600 s)", flood: true, quarantine: "100" },
  { name: "flood, quarantine off", flood: true, quarantine: "0" },
];

interface Stats {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

interface RunResult {
  name: RunName;
  detection: Stats;
  completed: number;
  failed: number;
  floodSent: number;
  floodSendSeconds: number;
  /** The hostile status queue at the end: deliveries to the Provider, dead-lettered, still queued. */
  hostileQueue: { delivered: number; deadLettered: number; left: number };
  quarantine?: { at: string; badMessages: number; lastReason: string };
  rssMiB: { before: number; peak: number; end: number };
  providerCpuSeconds: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sas = (t: string) => `TENANT_${t.toUpperCase()}_SAS`;

function stats(values: number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  return {
    samples: s.length,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? NaN,
  };
}

function badMessage(i: number): ServiceBusMessage {
  if (i % OVERSIZED_EVERY === 0)
    return { body: Buffer.alloc(OVERSIZED_BYTES, "x"), contentType: "application/json" };
  if (i % 2 === 0) return { body: Buffer.from(`{"not json ${i}`), contentType: "application/json" };
  return statusMessage({
    schemaVersion: 1,
    deploymentId: `made-up-${i}`,
    attempt: 1,
    state: "Accepted",
    progress: 0,
    sequence: 1,
    reportedAt: new Date().toISOString(),
  }) as ServiceBusMessage;
}

async function sendFlood(client: ServiceBusClient): Promise<number> {
  const sender = client.createSender("status");
  let batch = await sender.createMessageBatch();
  let sent = 0;
  for (let i = 0; i < FLOOD; i++) {
    const m = badMessage(i);
    if (!batch.tryAddMessage(m)) {
      await sender.sendMessages(batch);
      sent += batch.count;
      batch = await sender.createMessageBatch();
      if (!batch.tryAddMessage(m)) {
        await sender.sendMessages(m);
        sent++;
      }
    }
  }
  if (batch.count > 0) {
    await sender.sendMessages(batch);
    sent += batch.count;
  }
  await sender.close();
  return sent;
}

async function run(spec: (typeof RUNS)[number], log: (m: string) => void): Promise<RunResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-flood-"));
  const tenants = [...GOOD, HOSTILE];
  const azurite = await startBenchChild("azurite-child.js");
  const sbConfig = path.join(tmp, "servicebus.json");
  const queues = [
    {
      Name: "commands",
      Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5, RequiresDuplicateDetection: true },
    },
    { Name: "status", Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5 } },
  ];
  fs.writeFileSync(
    sbConfig,
    JSON.stringify({
      UserConfig: {
        Namespaces: tenants.map((t) => ({ Name: t, Fqdn: `${t}${SUFFIX}`, Port: 0, Queues: queues })),
      },
    }),
  );
  const servicebus = await startBenchChild("servicebus-child.js", [sbConfig]);
  const namespaces = JSON.parse(servicebus.value) as {
    name: string;
    port: number;
    connectionString: string;
  }[];
  const settingsFile = path.join(tmp, "provider.json");
  // Production defaults otherwise (STATUS_POLL_WAIT_MS 20000, STATUS_POLL_BATCH 50, PUMP_REENSURE_SECONDS 60).
  fs.writeFileSync(
    settingsFile,
    JSON.stringify({
      AzureWebJobsStorage: azurite.value,
      DEV_LOCAL_MODE: "true",
      SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: SUFFIX,
      DEV_SERVICEBUS_ENDPOINTS: namespaces
        .map((ns) => `${ns.name}${SUFFIX}=sb://localhost:${ns.port}`)
        .join(","),
      QUARANTINE_BAD_MESSAGES: spec.quarantine,
      QUARANTINE_WINDOW_SECONDS: "600",
      ...Object.fromEntries(namespaces.map((ns) => [sas(ns.name), ns.connectionString])),
    }),
  );
  const provider: BenchChild = await startBenchChild("provider-child.js", [settingsFile]);
  const api = `${provider.value}/api`;
  const agents = await startBenchChild(
    "agents.js",
    [],
    JSON.stringify(
      namespaces
        .filter((ns) => ns.name !== HOSTILE)
        .map((ns) => ({ tenant: ns.name, connectionString: ns.connectionString })),
    ),
  );
  const hostile = new ServiceBusClient(namespaces.find((ns) => ns.name === HOSTILE)!.connectionString);
  try {
    for (const [i, t] of tenants.entries()) {
      const res = await fetch(`${api}/tenants/${t}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          directoryId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
          serviceBus: { namespace: `${t}${SUFFIX}` },
          auth: { mode: "sas", sasSetting: sas(t) },
        }),
      });
      if (res.status >= 300) throw new Error(`registering ${t}: ${res.status} ${await res.text()}`);
    }
    // A deployment in flight at the hostile tenant (no agent answers it), so its pump runs and receives.
    const start = (tenant: string, body: unknown) =>
      fetch(`${api}/tenants/${tenant}/deployments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const h = await start(HOSTILE, {
      spec: { app: "x" },
      acceptanceTimeoutSeconds: 3600,
      completionTimeoutSeconds: 3600,
    });
    if (h.status !== 202) throw new Error(`hostile start: ${h.status} ${await h.text()}`);

    const latencies: number[] = [];
    let completed = 0;
    let failed = 0;
    const deployAndMeasure = async (tenant: string) => {
      const res = await start(tenant, { spec: LOADED_SPEC });
      if (res.status !== 202) {
        failed++;
        return sleep(500);
      }
      const { id, instanceId } = (await res.json()) as { id: string; instanceId: string };
      for (;;) {
        await sleep(250);
        const s = (await (
          await fetch(
            `${provider.value}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}`,
          )
        ).json()) as { runtimeStatus: string; lastUpdatedTime: string };
        if (["Running", "Pending"].includes(s.runtimeStatus)) continue;
        const record = (await (await fetch(`${api}/deployments/${id}`)).json()) as {
          outcome?: string;
          lastStatus?: { reportedAt: string };
        };
        if (s.runtimeStatus !== "Completed" || record.outcome !== "Succeeded" || !record.lastStatus) failed++;
        else {
          completed++;
          latencies.push(Date.parse(s.lastUpdatedTime) - Date.parse(record.lastStatus.reportedAt));
        }
        return;
      }
    };
    // Warm-up (not measured): one deployment per tenant.
    await Promise.all(GOOD.map((t) => deployAndMeasure(t)));
    latencies.length = 0;
    completed = 0;
    const before = await provider.stats<ProviderStats>();
    let peak = before.rssMiB;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, (await provider.stats<ProviderStats>()).rssMiB);
        await sleep(1000);
      }
    })();
    const end = Date.now() + WINDOW_SECONDS * 1000;
    let floodSent = 0;
    let floodSendSeconds = 0;
    const flood = spec.flood
      ? (async () => {
          const t0 = Date.now();
          floodSent = await sendFlood(hostile);
          floodSendSeconds = (Date.now() - t0) / 1000;
          log(`flood sent: ${floodSent} in ${floodSendSeconds.toFixed(1)} s`);
        })()
      : Promise.resolve();
    await Promise.all([
      flood,
      ...GOOD.flatMap((t) =>
        Array.from({ length: IN_FLIGHT_PER_TENANT }, async (_, slot) => {
          await sleep(slot * 300);
          while (Date.now() < end) await deployAndMeasure(t);
        }),
      ),
    ]);
    sampling = false;
    await sampler;
    const after = await provider.stats<ProviderStats>();
    type Entity = {
      messagesSent: number;
      messagesDelivered: number;
      deadLettered: number;
      completed: number;
    };
    const q = (await servicebus.stats<Record<string, { entities: Record<string, Entity> }>>())[HOSTILE]
      ?.entities.status;
    const health = (await (await fetch(`${api}/tenants/${HOSTILE}/health`)).json()) as {
      quarantine?: RunResult["quarantine"];
    };
    return {
      name: spec.name,
      detection: stats(latencies),
      completed,
      failed,
      floodSent,
      floodSendSeconds,
      hostileQueue: {
        delivered: q?.messagesDelivered ?? NaN,
        deadLettered: q?.deadLettered ?? NaN,
        left: q ? q.messagesSent - q.completed - q.deadLettered : NaN,
      },
      ...(health.quarantine ? { quarantine: health.quarantine } : {}),
      rssMiB: { before: before.rssMiB, peak, end: after.rssMiB },
      providerCpuSeconds: (after.cpuMs - before.cpuMs) / 1000,
    };
  } finally {
    await hostile.close();
    await agents.stop();
    await provider.stop();
    await servicebus.stop();
    await azurite.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : "n/a");

function render(
  results: RunResult[],
  calibration: Calibration,
  machine: string,
  started: Date,
  seconds: number,
): string {
  const base = results[0]!;
  const vs = (r: RunResult) =>
    r === base
      ? ""
      : ` (${r.detection.p99 >= base.detection.p99 ? "+" : ""}${f0((100 * (r.detection.p99 - base.detection.p99)) / base.detection.p99)} %)`;
  return [
    "## Status flood on one tenant",
    "",
    `- **Command:** \`npm run bench:flood\` (\`npm run build --silent && node dist/bench/flood.js\`)`,
    `- **Date:** ${started.toISOString()} (whole run ${f0(seconds)} s)`,
    `- **Machine:** ${machine}; shared with other work while measuring`,
    `- **Calibration (same run):** ${calibrationLine(calibration)}.`,
    `- **Load:** ${GOOD.length} tenants with agents, each keeping ${IN_FLIGHT_PER_TENANT} deployments of about 5 s in flight (\`spec.demo = ${JSON.stringify(LOADED_SPEC.demo)}\`) for ${WINDOW_SECONDS} s after a warm-up; a sixth tenant (\`${HOSTILE}\`, no agent, one deployment in flight so its pump runs) gets ${FLOOD.toLocaleString("en")} bad messages at the window's start: every ${OVERSIZED_EVERY}th oversized (${OVERSIZED_BYTES} bytes), the rest alternately unparsable JSON and statuses of made-up deployments. Each run on a fresh stack: Azurite, the emulator and the Provider (dev host, production pump settings) in a process each, the agents in a fourth. RSS is the Provider process's, sampled every second.`,
    "",
    "| run | detection p50 / p95 / p99 / max, ms (others) | samples | Provider RSS before / peak / end, MiB | hostile queue: delivered / dead-lettered / left | quarantine |",
    "| --- | --- | --- | --- | --- | --- |",
    ...results.map(
      (r) =>
        `| ${r.name} | ${f0(r.detection.p50)} / ${f0(r.detection.p95)} / **${f0(r.detection.p99)}**${vs(r)} / ${f0(r.detection.max)} | ${r.detection.samples} | ${f0(r.rssMiB.before)} / **${f0(r.rssMiB.peak)}** / ${f0(r.rssMiB.end)} | ${r.floodSent ? `${f0(r.hostileQueue.delivered)} / ${f0(r.hostileQueue.deadLettered)} / ${f0(r.hostileQueue.left)}` : "-"} | ${r.quarantine ? `at ${r.quarantine.badMessages} bad (last ${r.quarantine.lastReason})` : "-"} |`,
    ),
    "",
    "Target: the other tenants' detection p99 within 20 % of the run without the flood; the Provider's RSS bounded.",
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const started = new Date();
  const t0 = Date.now();
  const log = (m: string) => console.error(`[flood ${new Date().toISOString().slice(11, 19)}] ${m}`);
  const cpus = os.cpus();
  const machine = `${cpus.length} × ${cpus[0]?.model ?? "unknown CPU"}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}`;
  log("calibrating");
  const calibration = await benchCalibration();
  const results: RunResult[] = [];
  for (const spec of RUNS) {
    log(`running ${spec.name}`);
    results.push(await run(spec, log));
    log(JSON.stringify(results[results.length - 1]));
  }
  const seconds = (Date.now() - t0) / 1000;
  const root = path.resolve(__dirname, "..", "..");
  fs.writeFileSync(
    path.join(root, "bench", "results", "flood.json"),
    `${JSON.stringify({ started: started.toISOString(), seconds, machine, calibration, results }, null, 2)}\n`,
  );
  writeSection(
    path.join(root, "bench", "RESULTS.md"),
    "## Status flood on one tenant",
    render(results, calibration, machine, started, seconds),
  );
  log("wrote bench/RESULTS.md and bench/results/flood.json");
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
