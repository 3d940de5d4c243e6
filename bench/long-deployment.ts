/**
 * `npm run bench:long`: one deployment that reports a lot. The Provider app (dev host + durable engine,
 * bench/provider-child.ts), Azurite and the Service Bus emulator each run in a child; one tenant is
 * registered and ONE deployment is started through the HTTP API. The benchmark plays the agent: it takes
 * the Deploy off the customer's command queue, sends Accepted, then BENCH_REPORTS (default 10,000)
 * InProgress reports through the customer's real status queue in ten blocks (sequence increasing,
 * progress creeping up, a short message, a `detail` of about 3 KB on every tenth), then Succeeded. Each
 * block is timed from its first send until GET /api/deployments/{id} shows its last sequence as
 * `lastStatus.sequence`. Reports per block: routing rate, the Provider's CPU (its `process.cpuUsage()`),
 * function executions, Service Bus and table operations; at the end the instance's history length
 * (showHistory=true) and the one-truth check (dev/one-truth.ts). Calibration first, in the same run.
 * Writes bench/results/long-deployment.json and the "One long deployment" section of bench/RESULTS.md.
 * Environment: BENCH_REPORTS (default 10000; blocks of 10 %), BENCH_NO_WRITE=1, BENCH_CALIBRATE=0.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBusClient, type ServiceBusSender } from "@azure/service-bus";
import { checkOneTruth } from "../dev/one-truth";
import type { NamespaceStats } from "../dev/servicebus-emulator";
import { statusMessage, type Status } from "../lib/messaging/contracts";
import { nextCommand } from "../test/helpers/servicebus";
import { benchCalibration, type Calibration } from "./calibration";
import { type BenchChild, cpuSeconds, startBenchChild } from "./children";
import type { ProviderStats } from "./provider-child";
import { diffOps, providerOps, type ProviderOps } from "./provider-ops";
import { calibrationLine, writeSection } from "./rollout-report";

export const SECTION_TITLE = "## One long deployment";
const REPORTS = Number(process.env.BENCH_REPORTS || 10_000);
const BLOCKS = 10;
const BLOCK = Math.ceil(REPORTS / BLOCKS);
const TENANT = "longrun";
const FQDN = `${TENANT}.servicebus.localhost`;
const SAS_SETTING = "TENANT_LONGRUN_SAS";
/** How often the benchmark reads the ledger while a block is routed. */
const POLL_MS = 200;
/** Every tenth report carries a `detail` of about this many bytes (the contract allows 8 KB). */
const DETAIL_EVERY = 10;
const DETAIL_BYTES = 3000;

const log = (m: string) => console.error(`[long ${new Date().toISOString().slice(11, 19)}] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every counter the figures are differences of. */
interface Snapshot {
  at: number;
  provider: ProviderStats;
  sb: Record<string, NamespaceStats>;
  tables: Record<string, number>;
  /** CPU seconds of the Azurite and emulator children. */
  storageCpu: number;
  brokerCpu: number;
  /** CPU seconds the whole machine was busy (every process, others' work included). */
  machineCpu: number;
}

export interface Block {
  /** Sequences first..last. */
  first: number;
  last: number;
  reports: number;
  seconds: number;
  /** Until the block's last message was on the queue. */
  sendSeconds: number;
  perSecond: number;
  providerCpuMs: number;
  executions: Record<string, number>;
  executionsTotal: number;
  sb: ProviderOps;
  productTableOps: number;
  durableTableOps: number;
  /** Cores the Provider, Azurite and the emulator kept busy during the block, and the whole machine. */
  cores: { provider: number; storage: number; broker: number; machine: number };
  /** The benchmark's own GETs of the record while it waited (each an HTTP execution). */
  polls: number;
  /** The longest time the ledger's last sequence stood still while the block was being routed. */
  longestStallSeconds: number;
}

export interface LongResult {
  started: string;
  machine: string;
  calibration: Calibration;
  reports: number;
  blockSize: number;
  blocks: Block[];
  ratio: number;
  totalSeconds: number;
  history: { events: number; byType: Record<string, number> };
  oneTruth: { ok: boolean; outcome?: string; runtimeStatus?: string; problem?: string };
  peakRssMiB: number;
  loadAverage: number;
}

function detail(i: number): Record<string, unknown> {
  const line = `step ${i}: applied resource group, 3 of 3 templates validated, waiting for rollout\n`;
  return { step: i, phase: "apply", log: line.repeat(Math.ceil(DETAIL_BYTES / line.length)) };
}

/** Sends statuses in as few batches as fit (a batch holds up to the sender's maximum message size). */
async function sendAll(sender: ServiceBusSender, statuses: Status[]): Promise<void> {
  let batch = await sender.createMessageBatch();
  for (const s of statuses) {
    const message = statusMessage(s);
    if (batch.tryAddMessage(message)) continue;
    await sender.sendMessages(batch);
    batch = await sender.createMessageBatch();
    if (!batch.tryAddMessage(message)) throw new Error(`status ${s.sequence} does not fit a batch`);
  }
  if (batch.count > 0) await sender.sendMessages(batch);
}

/** CPU seconds the machine has been busy since boot (all cores, /proc/stat less idle and iowait); NaN off Linux. */
function machineBusySeconds(): number {
  try {
    const cpu = fs
      .readFileSync("/proc/stat", "utf8")
      .split("\n")[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const total = cpu.slice(0, 8).reduce((s, n) => s + n, 0);
    return (total - (cpu[3] ?? 0) - (cpu[4] ?? 0)) / 100; // USER_HZ 100
  } catch {
    return NaN;
  }
}

function diffCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(b)) if (n - (a[k] ?? 0) > 0) out[k] = n - (a[k] ?? 0);
  return out;
}

const executionsOf = (s: ProviderStats) =>
  Object.fromEntries(Object.entries(s.host.functions).map(([n, f]) => [n, f.executions]));

function block(
  first: number,
  last: number,
  sent: number,
  a: Snapshot,
  b: Snapshot,
  reads: { polls: number; longestStallMs: number },
): Block {
  const seconds = (b.at - a.at) / 1000;
  const tables = diffCounts(a.tables, b.tables);
  // The durable engine's task hub stands for the Durable extension's storage; the rest is the product's.
  const durable = Object.entries(tables).filter(([t]) => t.startsWith("DurableDev") || t === "$batch");
  const durableTableOps = durable.reduce((s, [, n]) => s + n, 0);
  const allTableOps = Object.values(tables).reduce((s, n) => s + n, 0);
  const providerCpuMs = b.provider.cpuMs - a.provider.cpuMs;
  return {
    first,
    last,
    reports: last - first + 1,
    seconds,
    sendSeconds: (sent - a.at) / 1000,
    perSecond: (last - first + 1) / seconds,
    providerCpuMs,
    executions: diffCounts(executionsOf(a.provider), executionsOf(b.provider)),
    executionsTotal: b.provider.host.total - a.provider.host.total,
    sb: diffOps(providerOps(a.sb), providerOps(b.sb)),
    productTableOps: allTableOps - durableTableOps,
    durableTableOps,
    cores: {
      provider: providerCpuMs / 1000 / seconds,
      storage: (b.storageCpu - a.storageCpu) / seconds,
      broker: (b.brokerCpu - a.brokerCpu) / seconds,
      machine: (b.machineCpu - a.machineCpu) / seconds,
    },
    polls: reads.polls,
    longestStallSeconds: reads.longestStallMs / 1000,
  };
}

async function main(): Promise<void> {
  const started = new Date();
  const cpus = os.cpus();
  const machine = `${cpus.length} × ${cpus[0]?.model ?? "unknown CPU"}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}`;
  log("calibrating");
  const calibration = await benchCalibration();
  log(`calibration ${JSON.stringify(calibration)}`);

  const root = path.resolve(__dirname, "..", "..");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-long-"));
  const azurite = await startBenchChild("azurite-child.js");
  const sbConfig = path.join(tmp, "servicebus.json");
  fs.writeFileSync(
    sbConfig,
    JSON.stringify({
      UserConfig: {
        Namespaces: [
          {
            Name: TENANT,
            Fqdn: FQDN,
            Port: 0,
            Queues: [
              {
                Name: "commands",
                Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5, RequiresDuplicateDetection: true },
              },
              { Name: "status", Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5 } },
            ],
          },
        ],
      },
    }),
  );
  const servicebus = await startBenchChild("servicebus-child.js", [sbConfig]);
  const ns = (JSON.parse(servicebus.value) as { port: number; connectionString: string }[])[0]!;
  const settingsFile = path.join(tmp, "provider.json");
  // Production defaults otherwise (STATUS_POLL_WAIT_MS 20000, STATUS_POLL_BATCH 50, PUMP_REENSURE_SECONDS 60).
  fs.writeFileSync(
    settingsFile,
    JSON.stringify({
      AzureWebJobsStorage: azurite.value,
      DEV_LOCAL_MODE: "true",
      SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: ".servicebus.localhost",
      DEV_SERVICEBUS_ENDPOINTS: `${FQDN}=sb://localhost:${ns.port}`,
      [SAS_SETTING]: ns.connectionString,
    }),
  );
  const provider: BenchChild = await startBenchChild("provider-child.js", [settingsFile]);
  const origin = provider.value;
  const api = `${origin}/api`;
  const agent = new ServiceBusClient(ns.connectionString);
  const sender = agent.createSender("status");

  try {
    const reg = await fetch(`${api}/tenants/${TENANT}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directoryId: "00000000-0000-4000-8000-000000000001",
        serviceBus: { namespace: FQDN },
        auth: { mode: "sas", sasSetting: SAS_SETTING },
      }),
    });
    if (reg.status >= 300) throw new Error(`registering ${TENANT}: ${reg.status} ${await reg.text()}`);
    const res = await fetch(`${api}/tenants/${TENANT}/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ spec: { release: "long-1.0.0", note: "bench/long-deployment.ts" } }),
    });
    if (res.status !== 202) throw new Error(`starting the deployment: ${res.status} ${await res.text()}`);
    const { id, instanceId } = (await res.json()) as { id: string; instanceId: string };
    const cmd = await nextCommand(agent, id, "Deploy", 60_000);
    log(`deployment ${id} (instance ${instanceId}): Deploy taken, attempt ${cmd.attempt}`);

    const status = (sequence: number, state: Status["state"], more: Partial<Status> = {}): Status => ({
      schemaVersion: 1,
      deploymentId: id,
      attempt: cmd.attempt,
      state,
      progress: 0,
      sequence,
      reportedAt: new Date().toISOString(),
      ...more,
    });
    const reads = { polls: 0, longestStallMs: 0 };
    /** Reads the record until the ledger shows `sequence` as its last status. */
    const recorded = async (sequence: number, timeoutMs: number) => {
      const until = Date.now() + timeoutMs;
      let seen = { sequence: -1, since: Date.now() };
      for (;;) {
        reads.polls++;
        const r = (await (await fetch(`${api}/deployments/${encodeURIComponent(id)}`)).json()) as {
          lastStatus?: { sequence: number };
        };
        const now = Date.now();
        const at = r.lastStatus?.sequence ?? -1;
        if (at !== seen.sequence) seen = { sequence: at, since: now };
        reads.longestStallMs = Math.max(reads.longestStallMs, now - seen.since);
        if (at >= sequence) return;
        if (Date.now() > until) throw new Error(`sequence ${sequence} not recorded in ${timeoutMs} ms`);
        await sleep(POLL_MS);
      }
    };
    const snapshot = async (): Promise<Snapshot> => {
      const [p, sb, tables] = await Promise.all([
        provider.stats<ProviderStats>(),
        servicebus.stats<Record<string, NamespaceStats>>(),
        azurite.stats<Record<string, number>>(),
      ]);
      return {
        at: Date.now(),
        provider: p,
        sb,
        tables,
        storageCpu: cpuSeconds(azurite.child.pid),
        brokerCpu: cpuSeconds(servicebus.child.pid),
        machineCpu: machineBusySeconds(),
      };
    };

    await sendAll(sender, [status(1, "Accepted", { message: "accepted" })]);
    await recorded(1, 60_000);
    const blocks: Block[] = [];
    let peakRssMiB = 0;
    const t0 = Date.now();
    for (let first = 2; first < REPORTS + 2; first += BLOCK) {
      const last = Math.min(first + BLOCK - 1, REPORTS + 1);
      const statuses = Array.from({ length: last - first + 1 }, (_, k) => {
        const i = first - 1 + k; // the i-th report, 1-based
        return status(first + k, "InProgress", {
          progress: Math.min(99, 1 + Math.floor((98 * i) / REPORTS)),
          message: `step ${i} of ${REPORTS}`,
          ...(i % DETAIL_EVERY === 0 ? { detail: detail(i) } : {}),
        });
      });
      const before = await snapshot();
      Object.assign(reads, { polls: 0, longestStallMs: 0 });
      await sendAll(sender, statuses);
      const sent = Date.now();
      await recorded(last, 15 * 60_000);
      const after = await snapshot();
      peakRssMiB = Math.max(peakRssMiB, after.provider.rssMiB);
      const b = block(first, last, sent, before, after, reads);
      blocks.push(b);
      log(
        `block ${blocks.length}: sequences ${first}..${last} in ${b.seconds.toFixed(1)} s (longest stall ${b.longestStallSeconds.toFixed(1)} s) = ${b.perSecond.toFixed(1)} reports/s; Provider CPU ${b.providerCpuMs.toFixed(0)} ms, ${b.executionsTotal} executions (deployment ${b.executions.deployment ?? 0})`,
      );
    }
    const totalSeconds = (Date.now() - t0) / 1000;
    await sendAll(sender, [status(REPORTS + 2, "Succeeded", { progress: 100, message: "done" })]);
    const truth = await checkOneTruth(origin, id, 120_000);
    const instance = (await (
      await fetch(
        `${origin}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}?showHistory=true&showInput=false`,
      )
    ).json()) as { runtimeStatus: string; historyEvents?: { EventType: string }[] };
    const events = instance.historyEvents ?? [];
    const byType: Record<string, number> = {};
    for (const e of events) byType[e.EventType] = (byType[e.EventType] ?? 0) + 1;
    const result: LongResult = {
      started: started.toISOString(),
      machine,
      calibration,
      reports: REPORTS,
      blockSize: BLOCK,
      blocks,
      ratio: (blocks.at(-1)?.perSecond ?? NaN) / (blocks[0]?.perSecond ?? NaN),
      totalSeconds,
      history: { events: events.length, byType },
      oneTruth: truth.ok
        ? { ok: true, outcome: truth.record.outcome, runtimeStatus: instance.runtimeStatus }
        : { ok: false, problem: truth.problem, runtimeStatus: instance.runtimeStatus },
      peakRssMiB,
      loadAverage: os.loadavg()[1] as number,
    };
    const section = renderSection(result);
    console.log(section);
    console.log(
      `RESULT ${JSON.stringify({ ratio: result.ratio, history: result.history, oneTruth: result.oneTruth })}`,
    );
    if (!process.env.BENCH_NO_WRITE) {
      fs.writeFileSync(
        path.join(root, "bench", "results", "long-deployment.json"),
        `${JSON.stringify(result, null, 2)}\n`,
      );
      writeSection(path.join(root, "bench", "RESULTS.md"), SECTION_TITLE, section);
    }
    if (!truth.ok) process.exitCode = 1;
  } finally {
    await sender.close().catch(() => undefined);
    await agent.close().catch(() => undefined);
    await provider.stop();
    await servicebus.stop();
    await azurite.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : "n/a");
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "n/a");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");

export function renderSection(r: LongResult): string {
  const per1000 = (b: Block, n: number) => f0((n * 1000) / b.reports);
  const total = r.blocks.reduce(
    (s, b) => ({
      reports: s.reports + b.reports,
      cpu: s.cpu + b.providerCpuMs,
      executions: s.executions + b.executionsTotal,
      deployment: s.deployment + (b.executions.deployment ?? 0),
      polls: s.polls + b.polls,
    }),
    { reports: 0, cpu: 0, executions: 0, deployment: 0, polls: 0 },
  );
  const k = total.reports / 1000;
  const allExecutions: Record<string, number> = {};
  for (const b of r.blocks)
    for (const [n, c] of Object.entries(b.executions)) allExecutions[n] = (allExecutions[n] ?? 0) + c;
  return [
    SECTION_TITLE,
    "",
    `- **Command:** \`npm run bench:long\` (\`node dist/bench/long-deployment.js\`${r.reports === 10_000 ? "" : `, \`BENCH_REPORTS=${r.reports}\``})`,
    `- **Date:** ${r.started}; **machine:** ${r.machine}; shared with other work while measuring (load average over 5 min at the end ${f1(r.loadAverage)})`,
    `- **Load:** one tenant, ONE deployment started through \`POST /api/tenants/{t}/deployments\`; the benchmark plays the agent: the Deploy off the command queue, Accepted, then ${r.reports} InProgress reports on the customer's status queue in blocks of ${r.blockSize} (a message each, a \`detail\` of about ${DETAIL_BYTES} bytes on every ${DETAIL_EVERY}th), then Succeeded. A block is timed from its first send until \`GET /api/deployments/{id}\` (read every ${POLL_MS} ms) shows its last sequence as \`lastStatus.sequence\`. The Provider (dev host + durable engine, \`bench/provider-child.ts\`), Azurite and the Service Bus emulator (in memory) in a process each; production pump settings.`,
    `- **Calibration (same run):** ${calibrationLine(r.calibration)}.`,
    "",
    "| block | sequences | s (sending; longest stall) | **reports/s** | Provider CPU ms per 1,000 | executions per 1,000 (deployment episodes) | SB ops per 1,000 | table ops per 1,000: product / durable | cores busy: Provider / Azurite / emulator / whole machine |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...r.blocks.map(
      (b, i) =>
        `| ${i + 1} | ${b.first}..${b.last} | ${f1(b.seconds)} (${f1(b.sendSeconds)}; ${f1(b.longestStallSeconds)}) | **${f1(b.perSecond)}** | ${per1000(b, b.providerCpuMs)} | ${per1000(b, b.executionsTotal)} (${per1000(b, b.executions.deployment ?? 0)}) | ${per1000(b, b.sb.total)} | ${per1000(b, b.productTableOps)} / ${per1000(b, b.durableTableOps)} | ${f2(b.cores.provider)} / ${f2(b.cores.storage)} / ${f2(b.cores.broker)} / ${f2(b.cores.machine)} |`,
    ),
    "",
    "| figure | value | target |",
    "| --- | --- | --- |",
    `| routing rate, last block / first block | **${f2(r.ratio)}** (${f1(r.blocks.at(-1)?.perSecond ?? NaN)} / ${f1(r.blocks[0]?.perSecond ?? NaN)} reports/s) | ≥ 0.9 |`,
    `| all ${total.reports} reports | ${f1(r.totalSeconds)} s, ${f1(total.reports / r.totalSeconds)} reports/s | |`,
    `| Provider CPU per 1,000 reports (whole run) | ${f0(total.cpu / k)} ms (${f1(total.cpu / 1000)} s in all) | |`,
    `| function executions per 1,000 reports (whole run; of which deployment episodes; of which the benchmark's GETs) | ${f0(total.executions / k)} (${f1(total.deployment / k)}; ${f0(total.polls / k)}) | |`,
    `| deployment instance history at the end (showHistory=true) | **${r.history.events} events**: ${Object.entries(
      r.history.byType,
    )
      .sort((a, b) => b[1] - a[1])
      .map(([t, n]) => `${t} ${n}`)
      .join(", ")} | < 100 |`,
    `| record and instance (dev/one-truth.ts) | ${r.oneTruth.ok ? `agree: ${r.oneTruth.outcome}, instance ${r.oneTruth.runtimeStatus}` : `**disagree**: ${r.oneTruth.problem}`} | terminal, agreeing |`,
    `| Provider process RSS, highest sampled | ${f0(r.peakRssMiB)} MiB | |`,
    "",
    `Executions in all: ${Object.entries(allExecutions)
      .sort((a, b) => b[1] - a[1])
      .map(([n, c]) => `${n} ${c}`)
      .join(", ")}.`,
    "",
  ].join("\n");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
