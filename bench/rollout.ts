/**
 * `npm run bench:rollout`: one spec rolled out to 1,000 tenants on the local stack, in three waves (1 %,
 * 10 %, the rest), never more than 200 deployments in flight, each a demo deployment of about 2 s.
 * The Provider app runs on the dev host with its durable engine in this process; Azurite, the Service
 * Bus emulator (one namespace, a command and a status queue per tenant) and the 1,000 tenants' agents
 * (bench/agents.ts, one process) each in a child, so this process's CPU and memory are the Provider's
 * (plus the small driver). Prints the figures and writes bench/results/rollout.json and the
 * "Rollout of 1,000 tenants" section of bench/RESULTS.md. Calibration first, in the same run.
 * Environment: BENCH_TENANTS (default 1000), BENCH_MAX_IN_FLIGHT (200), BENCH_ROLLOUT_DRIVER
 * (`api`, the default: one POST /api/rollouts; or `stand-in`, the benchmark starting each deployment itself), BENCH_NO_WRITE=1 to leave the files alone,
 * BENCH_CALIBRATE=0 to skip the calibration, BENCH_HEALTH=1 for the same rollout with health gates on
 * (bench/rollout-health.ts: figures in bench/results/rollout-health.json and a section of their own).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startHost } from "../dev/host";
import type { NamespaceStats } from "../dev/servicebus-emulator";
import { forEachLimited } from "../lib/concurrency/limited";
import { HEALTH_REPORT_GRACE_MS } from "../lib/deployments/model";
import { benchCalibration, type Calibration } from "./calibration";
import { type BenchChild, cpuSeconds, startBenchChild } from "./children";
import { diffOps, percentile, providerOps, type ProviderOps } from "./provider-ops";
import { comparison, HEALTH_CHECK, type HealthFigures, HealthTally } from "./rollout-health";
import { renderRolloutSection, writeRolloutSection } from "./rollout-report";
import {
  apiRollout,
  Completions,
  type RolloutDriver,
  type RolloutRun,
  standInRollout,
} from "./rollout-driver";

const TENANTS = Number(process.env.BENCH_TENANTS || 1000);
const MAX_IN_FLIGHT = Number(process.env.BENCH_MAX_IN_FLIGHT || 200);
/** About 2 s: Accepted, InProgress after the first step, Succeeded after the second. */
export const ROLLOUT_SPEC = { demo: { outcome: "succeed", steps: 2, stepMs: 1000 } };
const HEALTH = process.env.BENCH_HEALTH === "1";
/** The spec rolled out: with BENCH_HEALTH=1 it carries a health check, so the rollout is health-gated. */
const SPEC: Record<string, unknown> = HEALTH ? { ...ROLLOUT_SPEC, healthCheck: HEALTH_CHECK } : ROLLOUT_SPEC;
/** The pumps may outlive the run by a health check's window and the grace for its verdict. */
const PUMP_WAIT_MS = 90_000 + (HEALTH ? HEALTH_CHECK.windowSeconds * 1000 + HEALTH_REPORT_GRACE_MS : 0);
const NAMESPACE = "fleet";
const FQDN = `${NAMESPACE}.servicebus.localhost`;
/**
 * A SAS setting per tenant, though all hold the one namespace's connection string: the Provider pools
 * its clients by namespace and setting, so each tenant gets a connection of its own, as with a namespace
 * per customer in production. (With one shared setting, every tenant's links would share one
 * connection, whose client authorises one link at a time: core-amqp's per-connection claim lock.)
 */
const sasSetting = (tenant: string) => `TENANT_${tenant.toUpperCase()}_SAS`;
const IDLE_SECONDS = 30;

/**
 * Where a deployment's time goes, from its ledger timeline: pairs of moments (the Provider's clock for
 * what it recorded, the agent's for what it sent; one machine, so one clock).
 */
const STAGES = [
  "start → `Sent` recorded (the Deploy is out)",
  "start → agent sends Accepted",
  "agent sends Accepted → recorded by the pump",
  "agent sends Succeeded → recorded by the pump",
  "Succeeded recorded → orchestration Completed",
  ...(HEALTH ? ["agent sends Healthy → recorded by the pump", "Succeeded recorded → Healthy recorded"] : []),
];
const tenantName = (i: number) => `t${String(i).padStart(4, "0")}`;
const log = (m: string) => console.error(`[rollout ${new Date().toISOString().slice(11, 19)}] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sample of every counter the figures are differences of. */
interface Snapshot {
  at: number;
  cpuMs: number;
  sb: Record<string, NamespaceStats>;
  tables: Record<string, number>;
  executions: Record<string, number>;
  executionsTotal: number;
}

export interface Cost {
  sb: ProviderOps;
  executions: Record<string, number>;
  executionsTotal: number;
  productTableOps: Record<string, number>;
  productTableOpsTotal: number;
  durableTableOps: number;
  cpuMs: number;
}

export interface RolloutResult {
  started: string;
  driver: RolloutDriver["name"];
  tenants: number;
  maxInFlight: number;
  spec: Record<string, unknown>;
  /** With BENCH_HEALTH=1: the verdicts, the gates and their checks. */
  health?: HealthFigures;
  machine: string;
  calibration: Calibration;
  registerSeconds: number;
  totalSeconds: number;
  deployments: number;
  failed: number;
  perSecondOverall: number;
  /** The last wave, from its 10 % to its 90 % completion. */
  perSecondSustained: number;
  waves: RolloutRun["waves"];
  detection: { samples: number; p50: number; p95: number; p99: number; max: number };
  stages: { name: string; p50: number; p99: number }[];
  peakRssMiB: number;
  /** Cores the other processes of the stack kept busy during the rollout. */
  otherCores: { storage: number; broker: number; agents: number };
  /** The machine's 5-minute load average at the end of the rollout (others' work included). */
  loadAverage: number;
  /** Most activities (and pump cycles among them) running at once: each holds one of the host's slots. */
  peaks: { activities: number; pumpCycles: number };
  run: Cost;
  idle: Cost & { seconds: number; pumpsRunning: number; waitedSeconds: number };
  engine: { maxConcurrentActivities?: number; maxConcurrentOrchestrations?: number };
}

function cost(a: Snapshot, b: Snapshot): Cost {
  const sb = diffOps(providerOps(a.sb), providerOps(b.sb));
  const executions: Record<string, number> = {};
  for (const [name, n] of Object.entries(b.executions)) {
    const d = n - (a.executions[name] ?? 0);
    if (d > 0) executions[name] = d;
  }
  const productTableOps: Record<string, number> = {};
  let durableTableOps = 0;
  for (const [table, n] of Object.entries(b.tables)) {
    const d = n - (a.tables[table] ?? 0);
    if (d <= 0) continue;
    // The durable engine's task hub (DurableDev<hub>...) and its entity batches stand for the Durable
    // Task extension's own storage; everything else is the product's tables.
    if (table.startsWith("DurableDev") || table === "$batch") durableTableOps += d;
    else productTableOps[table] = d;
  }
  return {
    sb,
    executions,
    executionsTotal: b.executionsTotal - a.executionsTotal,
    productTableOps,
    productTableOpsTotal: Object.values(productTableOps).reduce((s, n) => s + n, 0),
    durableTableOps,
    cpuMs: b.cpuMs - a.cpuMs,
  };
}

function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 2 ** 20;
}

async function pumpsRunning(hostUrl: string): Promise<number> {
  let count = 0;
  let token: string | null = null;
  do {
    const res: Response = await fetch(
      `${hostUrl}/runtime/webhooks/durabletask/instances?runtimeStatus=Running,Pending&instanceIdPrefix=statusPump:&top=500`,
      { headers: token ? { "x-ms-continuation-token": token } : {} },
    );
    count += ((await res.json()) as unknown[]).length;
    token = res.headers.get("x-ms-continuation-token");
  } while (token);
  return count;
}

async function main(): Promise<void> {
  const started = new Date();
  const cpus = os.cpus();
  const machine = `${cpus.length} × ${cpus[0]?.model ?? "unknown CPU"}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}`;
  log("calibrating");
  const calibration = await benchCalibration();
  log(`calibration ${JSON.stringify(calibration)}`);

  const root = path.resolve(__dirname, "..", "..");
  const tenants = Array.from({ length: TENANTS }, (_, i) => tenantName(i));
  const azurite = await startBenchChild("azurite-child.js");
  const configFile = path.join(os.tmpdir(), `bench-rollout-sb-${process.pid}.json`);
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      UserConfig: {
        Namespaces: [
          {
            Name: NAMESPACE,
            Fqdn: FQDN,
            Port: 0,
            Queues: tenants.flatMap((t) => [
              {
                Name: `commands-${t}`,
                Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5, RequiresDuplicateDetection: true },
              },
              { Name: `status-${t}`, Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5 } },
            ]),
          },
        ],
      },
    }),
  );
  const servicebus = await startBenchChild("servicebus-child.js", [configFile]);
  const ns = (JSON.parse(servicebus.value) as { port: number; connectionString: string }[])[0]!;
  const completions = new Completions();
  const host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    log: (level, message, props) => {
      if (process.env.BENCH_DEBUG && (level === "warn" || level === "error"))
        console.error(level, message, JSON.stringify(props));
      const id = props?.instanceId;
      const end = / (Completed|Failed|Terminated)$/.exec(message);
      if (end && typeof id === "string" && id.startsWith("deploy:")) completions.record(id, end[1] as string);
    },
    settings: {
      AzureWebJobsStorage: azurite.value,
      DEV_LOCAL_MODE: "true",
      SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: ".servicebus.localhost",
      DEV_SERVICEBUS_ENDPOINTS: `${FQDN}=sb://localhost:${ns.port}`,
      ...Object.fromEntries(tenants.map((t) => [sasSetting(t), ns.connectionString])),
    },
  });
  const api = `${host.url}/api`;
  const agents: BenchChild = await startBenchChild(
    "agents.js",
    [],
    JSON.stringify(
      tenants.map((t) => ({
        tenant: t,
        connectionString: ns.connectionString,
        commandQueue: `commands-${t}`,
        statusQueue: `status-${t}`,
      })),
    ),
  );

  // Activity slots in use (all activities, and pump cycles alone), sampled from the handlers themselves.
  const peaks = { activities: 0, pumpCycles: 0 };
  const running = { activities: 0, pumpCycles: 0 };
  for (const f of host.app.registry.list()) {
    if (f.trigger.type.toLowerCase() !== "activitytrigger") continue;
    const handler = f.handler;
    const pump = f.name === "pumpStatuses";
    f.handler = async (...args: unknown[]) => {
      running.activities++;
      if (pump) running.pumpCycles++;
      peaks.activities = Math.max(peaks.activities, running.activities);
      peaks.pumpCycles = Math.max(peaks.pumpCycles, running.pumpCycles);
      try {
        return await handler(...args);
      } finally {
        running.activities--;
        if (pump) running.pumpCycles--;
      }
    };
  }

  const t0 = Date.now();
  await forEachLimited(tenants, 16, async (tenant) => {
    const res = await fetch(`${api}/tenants/${tenant}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directoryId: `00000000-0000-4000-8000-${tenant.slice(1).padStart(12, "0")}`,
        serviceBus: { namespace: FQDN, commandQueue: `commands-${tenant}`, statusQueue: `status-${tenant}` },
        auth: { mode: "sas", sasSetting: sasSetting(tenant) },
      }),
    });
    if (res.status >= 300) throw new Error(`registering ${tenant}: ${res.status} ${await res.text()}`);
  });
  const registerSeconds = (Date.now() - t0) / 1000;
  log(`stack up: ${TENANTS} tenants registered in ${registerSeconds.toFixed(1)} s`);

  const snapshot = async (): Promise<Snapshot> => {
    const [sb, tables] = await Promise.all([
      servicebus.stats<Record<string, NamespaceStats>>(),
      azurite.stats<Record<string, number>>(),
    ]);
    const h = host.stats();
    const cpu = process.cpuUsage();
    return {
      at: Date.now(),
      cpuMs: (cpu.user + cpu.system) / 1000,
      sb,
      tables,
      executions: Object.fromEntries(Object.entries(h.functions).map(([n, f]) => [n, f.executions])),
      executionsTotal: h.total,
    };
  };

  const driver = process.env.BENCH_ROLLOUT_DRIVER === "stand-in" ? standInRollout(completions) : apiRollout();
  const onePercent = Math.max(1, Math.round(TENANTS / 100));
  const tenPercent = Math.max(1, Math.round(TENANTS / 10));
  const waves = [
    { name: "1%", tenants: tenants.slice(0, onePercent) },
    { name: "10%", tenants: tenants.slice(onePercent, onePercent + tenPercent) },
    { name: "rest", tenants: tenants.slice(onePercent + tenPercent) },
  ];
  const children = [azurite, servicebus, agents];
  const childCpuBefore = children.map((c) => cpuSeconds(c.child.pid));
  const before = await snapshot();
  const sampler = setInterval(() => {
    log(
      `${completions.count} deployments done; activities running ${running.activities} (pump cycles ${running.pumpCycles}), rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
    );
  }, 5000);
  log(`rolling out with the ${driver.name} driver`);
  const run = await driver.run(api, { spec: SPEC, waves, maxConcurrency: MAX_IN_FLIGHT });
  clearInterval(sampler);
  const after = await snapshot();
  const totalSeconds = (after.at - before.at) / 1000;
  const [storageCores, brokerCores, agentCores] = children.map(
    (c, i) => (cpuSeconds(c.child.pid) - (childCpuBefore[i] as number)) / totalSeconds,
  );
  const loadAverage = os.loadavg()[1] as number;
  log(
    `rollout done: ${run.deployments.length} deployments in ${totalSeconds.toFixed(1)} s, ${run.failed} failed`,
  );

  // Status detection: the agent's send of the terminal status → the orchestration Completed.
  const latencies: number[] = [];
  const stages: number[][] = STAGES.map(() => []);
  let failed = TENANTS - run.deployments.length; // starts refused
  const endTimes: number[] = [];
  const tally = new HealthTally();
  await forEachLimited(run.deployments, 10, async (d) => {
    const record = (await (await fetch(`${api}/deployments/${d.deploymentId}`)).json()) as {
      outcome?: string;
      instanceId?: string;
      lastStatus?: { reportedAt: string };
      health?: { state: string };
      timeline?: { at: string; source: string; event: string; reportedAt?: string }[];
    };
    const instanceId = d.instanceId ?? record.instanceId ?? "";
    const status = (await (
      await fetch(`${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}`)
    ).json()) as { runtimeStatus: string; lastUpdatedTime: string };
    const at = (source: string, event: string, field: "at" | "reportedAt" = "at") => {
      const e = record.timeline?.find((x) => x.source === source && x.event === event);
      return e?.[field] ? Date.parse(e[field] as string) : NaN;
    };
    // Health gates on: a verdict other than Healthy, on the record or the rollout's row, is a failure.
    if (HEALTH)
      failed += tally.add(d, record.health?.state, {
        succeeded: at("agent", "Succeeded"),
        requested: at("provider", "Requested"),
      });
    if (record.outcome !== "Succeeded" || status.runtimeStatus !== "Completed" || !record.lastStatus) {
      failed++;
      return;
    }
    const completedAt = Date.parse(status.lastUpdatedTime);
    // The outcome's detection: the Succeeded status (not the later health verdict, also a lastStatus).
    const outcomeSent = HEALTH
      ? at("agent", "Succeeded", "reportedAt")
      : Date.parse(record.lastStatus.reportedAt);
    latencies.push(completedAt - outcomeSent);
    const requested = at("provider", "Requested");
    const pairs = [
      [requested, at("provider", "Sent")],
      [requested, at("agent", "Accepted", "reportedAt")],
      [at("agent", "Accepted", "reportedAt"), at("agent", "Accepted")],
      [at("agent", "Succeeded", "reportedAt"), at("agent", "Succeeded")],
      [at("agent", "Succeeded"), completedAt],
      [at("agent", "Healthy", "reportedAt"), at("agent", "Healthy")],
      [at("agent", "Succeeded"), at("agent", "Healthy")],
    ];
    pairs.forEach(([from, to], i) => stages[i]?.push((to as number) - (from as number)));
    if (d.wave === "rest") endTimes.push(Date.parse(status.lastUpdatedTime));
  });
  latencies.sort((a, b) => a - b);
  const stageStats = STAGES.map((name, i) => {
    const v = (stages[i] as number[]).filter(Number.isFinite).sort((a, b) => a - b);
    return { name, p50: percentile(v, 50), p99: percentile(v, 99) };
  });
  endTimes.sort((a, b) => a - b);
  const p10 = percentile(endTimes, 10);
  const p90 = percentile(endTimes, 90);
  const sustainedCount = endTimes.filter((t) => t > p10 && t <= p90).length;

  // Idle: every pump must end, and then nothing polls.
  const waitStart = Date.now();
  let pumps = await pumpsRunning(host.url);
  while (pumps > 0 && Date.now() - waitStart < PUMP_WAIT_MS) {
    await sleep(2000);
    pumps = await pumpsRunning(host.url);
  }
  const waitedSeconds = (Date.now() - waitStart) / 1000;
  log(`pumps still running: ${pumps} after ${waitedSeconds.toFixed(0)} s; idle window ${IDLE_SECONDS} s`);
  const idleBefore = await snapshot();
  await sleep(IDLE_SECONDS * 1000);
  const idleAfter = await snapshot();

  const result: RolloutResult = {
    started: started.toISOString(),
    driver: driver.name,
    tenants: TENANTS,
    maxInFlight: MAX_IN_FLIGHT,
    spec: SPEC,
    ...(HEALTH ? { health: tally.figures(run, cost(before, after)) } : {}),
    machine,
    calibration,
    registerSeconds,
    totalSeconds,
    deployments: run.deployments.length,
    failed,
    perSecondOverall: run.deployments.length / totalSeconds,
    perSecondSustained: sustainedCount / ((p90 - p10) / 1000),
    waves: run.waves,
    detection: {
      samples: latencies.length,
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? NaN,
    },
    stages: stageStats,
    peakRssMiB: peakRssMiB(),
    otherCores: {
      storage: storageCores as number,
      broker: brokerCores as number,
      agents: agentCores as number,
    },
    loadAverage,
    peaks,
    run: cost(before, after),
    idle: {
      ...cost(idleBefore, idleAfter),
      seconds: IDLE_SECONDS,
      pumpsRunning: await pumpsRunning(host.url),
      waitedSeconds,
    },
    engine: {
      maxConcurrentActivities: host.app.host.maxConcurrentActivities,
      maxConcurrentOrchestrations: host.app.host.maxConcurrentOrchestrations,
    },
  };
  const plainFile = path.join(root, "bench", "results", "rollout.json");
  const plain =
    HEALTH && fs.existsSync(plainFile)
      ? (JSON.parse(fs.readFileSync(plainFile, "utf8")) as RolloutResult)
      : undefined;
  const section = renderRolloutSection(result, HEALTH ? comparison(result, plain) : []);
  console.log(section);
  if (!process.env.BENCH_NO_WRITE) {
    fs.writeFileSync(
      HEALTH ? path.join(root, "bench", "results", "rollout-health.json") : plainFile,
      `${JSON.stringify(result, null, 2)}\n`,
    );
    writeRolloutSection(path.join(root, "bench", "RESULTS.md"), section, HEALTH);
  }

  await agents.stop();
  await host.stop();
  await servicebus.stop();
  await azurite.stop();
  fs.rmSync(configFile, { force: true });
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
