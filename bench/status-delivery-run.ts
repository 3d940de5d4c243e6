/**
 * One mode of `npm run bench` (see bench/status-delivery.ts): a fresh local stack in this process
 * (in-memory Azurite, the Service Bus emulator with one namespace per tenant, the Provider app on the dev
 * host with STATUS_DELIVERY=<mode>) and the tenants' agents in one child process. Runs the latency,
 * throughput and idle phases and prints one `RESULT <json>` line.
 * Usage: node dist/bench/status-delivery-run.js <pump|timerPoll>
 */
import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startHost } from "../dev/host";
import { startServiceBusEmulator } from "../dev/servicebus-emulator";
import type { StatusDelivery } from "../lib/config/settings";

import { forEachLimited } from "../lib/concurrency/limited";
import { diffOps, percentile, providerOps, type ProviderOps } from "./provider-ops";
import { LOADED_SPEC, SPEC } from "./specs";

const TENANTS = 100;
const SUFFIX = ".servicebus.localhost";

export interface PhasePlan {
  /** Deployments run one at a time on one tenant before the loaded latency phase. */
  unloaded: number;
  latencyTenants: number;
  latencyPerTenant: number;
  latencyRounds: number;
  throughputInFlightPerTenant: number;
  throughputRampSeconds: number;
  throughputWindowSeconds: number;
  idleSeconds: number;
}

export const PLANS: Record<StatusDelivery, PhasePlan> = {
  pump: {
    unloaded: 20,
    latencyTenants: 5,
    latencyPerTenant: 10,
    latencyRounds: 4,
    throughputInFlightPerTenant: 3,
    throughputRampSeconds: 10,
    throughputWindowSeconds: 40,
    idleSeconds: 30,
  },
  // The timer poll's 10 s tick drains one status per tenant per tick: fewer deployments, fixed windows.
  timerPoll: {
    unloaded: 2,
    latencyTenants: 5,
    latencyPerTenant: 2,
    latencyRounds: 1,
    throughputInFlightPerTenant: 1,
    throughputRampSeconds: 30,
    throughputWindowSeconds: 90,
    idleSeconds: 30,
  },
};

export interface LatencyStats {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

function latencyStats(values: number[]): LatencyStats {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    mean: sorted.reduce((sum, x) => sum + x, 0) / Math.max(1, sorted.length),
  };
}

export interface CostSample {
  deployments: number;
  seconds: number;
  provider: ProviderOps;
  executions: Record<string, number>;
  executionsTotal: number;
}

export interface ModeResult {
  mode: StatusDelivery;
  plan: PhasePlan;
  latency: LatencyStats;
  latencyUnloaded: LatencyStats;
  throughput: {
    inFlight: number;
    windowSeconds: number;
    completedInWindow: number;
    perSecond: number;
    started: number;
    completed: number;
    failed: number;
  };
  perDeployment: CostSample;
  idle: CostSample & { pumpsRunning: number; pumpsWaitedSeconds: number };
  /** Cores busy during the throughput phase: the Provider process (host + emulator), Azurite, the agents. */
  cpuDuringThroughput: { provider: number; storage: number; agents: number };
  engine: { maxConcurrentActivities?: number; maxConcurrentOrchestrations?: number };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const tenantName = (i: number) => `tenant-${String(i).padStart(3, "0")}`;

async function main(): Promise<void> {
  const mode = process.argv[2] as StatusDelivery;
  if (!PLANS[mode]) throw new Error(`usage: status-delivery-run.js <${Object.keys(PLANS).join("|")}>`);
  // BENCH_PLAN='{"latencyRounds":1,...}' overrides parts of the plan for a quick experiment.
  const plan: PhasePlan = { ...PLANS[mode], ...(JSON.parse(process.env.BENCH_PLAN || "{}") as object) };
  const root = path.resolve(__dirname, "..", "..");
  const log = (m: string) => console.error(`[${mode} ${new Date().toISOString().slice(11, 19)}] ${m}`);

  const azurite = await startChild("azurite-child.js", (line) => /^ready (\S+)/.exec(line)?.[1]);
  const queues = [
    {
      Name: "commands",
      Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5, RequiresDuplicateDetection: true },
    },
    { Name: "status", Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5 } },
  ];
  const emulator = await startServiceBusEmulator({
    UserConfig: {
      Namespaces: Array.from({ length: TENANTS }, (_, i) => ({
        Name: tenantName(i),
        Fqdn: `${tenantName(i)}${SUFFIX}`,
        Port: 0,
        Queues: queues,
      })),
    },
  });
  // Completion of each deployment orchestration, from the engine's log line (no status polling load).
  const completions = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    log: (level, message, props) => {
      if (process.env.BENCH_DEBUG && (level === "warn" || level === "error"))
        console.error(level, message, JSON.stringify(props));
      const id = props?.instanceId;
      if (
        typeof id === "string" &&
        id.startsWith("deploy:") &&
        / (Completed|Failed|Terminated)$/.test(message)
      ) {
        completions.set(id, Date.now());
        waiters.get(id)?.();
      }
    },
    settings: {
      AzureWebJobsStorage: azurite.value,
      DEV_LOCAL_MODE: "true",
      SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: SUFFIX,
      DEV_SERVICEBUS_ENDPOINTS: emulator.namespaces
        .map((ns) => `${ns.fqdn}=sb://localhost:${ns.port}`)
        .join(","),
      STATUS_DELIVERY: mode,
      ...Object.fromEntries(emulator.namespaces.map((ns) => [sasSetting(ns.name), ns.connectionString])),
    },
  });
  const api = `${host.url}/api`;
  const agents = await startChild(
    "agents.js",
    (line) => (line === "ready" ? line : undefined),
    JSON.stringify(
      emulator.namespaces.map((ns) => ({ tenant: ns.name, connectionString: ns.connectionString })),
    ),
  );

  const tenants = Array.from({ length: TENANTS }, (_, i) => tenantName(i));
  await forEachLimited(tenants, 10, async (tenant) => {
    const res = await fetch(`${api}/tenants/${tenant}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directoryId: `00000000-0000-4000-8000-${String(tenants.indexOf(tenant)).padStart(12, "0")}`,
        serviceBus: { namespace: `${tenant}${SUFFIX}` },
        auth: { mode: "sas", sasSetting: sasSetting(tenant) },
        limits: { maxConcurrentDeployments: 20 },
      }),
    });
    if (res.status >= 300) throw new Error(`registering ${tenant}: ${res.status} ${await res.text()}`);
  });
  log(`stack up: ${TENANTS} tenants registered`);

  let failed = 0;
  /** Starts a deployment; resolves with its instance id once the orchestration has finished. */
  const deploy = async (
    tenant: string,
    spec: unknown = SPEC,
  ): Promise<{ id: string; instanceId: string }> => {
    const res = await fetch(`${api}/tenants/${tenant}/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ spec }),
    });
    if (res.status !== 202) throw new Error(`start on ${tenant}: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { id: string; instanceId: string };
    if (!completions.has(body.instanceId))
      await new Promise<void>((resolve) => waiters.set(body.instanceId, resolve));
    waiters.delete(body.instanceId);
    return body;
  };

  // ---- latency: agent's send of the terminal status → orchestration Completed ------------------------
  const latencyTenants = tenants.slice(0, plan.latencyTenants);
  if (mode === "pump") await Promise.all(latencyTenants.map((t) => deploy(t))); // warm-up, not measured
  let latencies: number[] = [];
  const measure = async (d: { id: string; instanceId: string }) => {
    const record = (await (await fetch(`${api}/deployments/${d.id}`)).json()) as {
      outcome?: string;
      lastStatus?: { state: string; reportedAt: string };
    };
    const status = (await (
      await fetch(`${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(d.instanceId)}`)
    ).json()) as { runtimeStatus: string; lastUpdatedTime: string };
    if (record.outcome !== "Succeeded" || status.runtimeStatus !== "Completed" || !record.lastStatus)
      failed++;
    else latencies.push(Date.parse(status.lastUpdatedTime) - Date.parse(record.lastStatus.reportedAt));
  };
  for (let i = 0; i < plan.unloaded; i++) await measure(await deploy(tenants[0] as string));
  const unloaded = latencies;
  latencies = [];
  log(`unloaded latency: ${unloaded.length} deployments measured`);
  // Closed loop: each tenant keeps `latencyPerTenant` deployments in flight (starts staggered by 20 ms),
  // each slot running `latencyRounds` deployments one after another.
  await Promise.all(
    latencyTenants.flatMap((t, ti) =>
      Array.from({ length: plan.latencyPerTenant }, async (_, si) => {
        await sleep((ti * plan.latencyPerTenant + si) * 20);
        for (let round = 0; round < plan.latencyRounds; round++) await measure(await deploy(t, LOADED_SPEC));
      }),
    ),
  );
  log(`latency: ${latencies.length} deployments measured`);

  // ---- throughput: 100 tenants, each kept at N deployments in flight --------------------------------
  const statsBefore = { ops: providerOps(emulator.stats()), host: host.stats() };
  const cpuBefore = [undefined, azurite.child.pid, agents.child.pid].map(cpuSeconds);
  const t0 = Date.now();
  const windowStart = t0 + plan.throughputRampSeconds * 1000;
  const windowEnd = windowStart + plan.throughputWindowSeconds * 1000;
  let started = 0;
  let completed = 0;
  let completedInWindow = 0;
  await Promise.all(
    tenants.flatMap((tenant) =>
      Array.from({ length: plan.throughputInFlightPerTenant }, async () => {
        while (Date.now() < windowEnd) {
          started++;
          try {
            await deploy(tenant);
          } catch (error) {
            failed++;
            log(String(error));
            await sleep(1000);
            continue;
          }
          completed++;
          const now = Date.now();
          if (now >= windowStart && now < windowEnd) completedInWindow++;
        }
      }),
    ),
  );
  const loadSeconds = (Date.now() - t0) / 1000;
  const [provider, storage, agentCpu] = [undefined, azurite.child.pid, agents.child.pid].map(
    (pid, i) => (cpuSeconds(pid) - (cpuBefore[i] as number)) / loadSeconds,
  );
  const statsAfter = { ops: providerOps(emulator.stats()), host: host.stats() };
  log(
    `throughput: ${completedInWindow} in the ${plan.throughputWindowSeconds} s window, ${completed} in all`,
  );

  // ---- idle: every tenant registered, nothing in flight ----------------------------------------------
  let pumpsRunning = 0;
  const waitStart = Date.now();
  if (mode === "pump") {
    // A pump ends after a long poll that finds nothing while its tenant has nothing in flight.
    for (;;) {
      const running = await pumpsStillRunning(host.url, tenants);
      if (running === 0 || Date.now() - waitStart > 60_000) break;
      await sleep(2000);
    }
  }
  const pumpsWaitedSeconds = (Date.now() - waitStart) / 1000;
  const idleBefore = { ops: providerOps(emulator.stats()), host: host.stats() };
  await sleep(plan.idleSeconds * 1000);
  const idleAfter = { ops: providerOps(emulator.stats()), host: host.stats() };
  if (mode === "pump") pumpsRunning = await pumpsStillRunning(host.url, tenants);
  log(`idle: ${plan.idleSeconds} s measured`);

  const cost = (
    a: typeof statsBefore,
    b: typeof statsBefore,
    deployments: number,
    seconds: number,
  ): CostSample => {
    const executions: Record<string, number> = {};
    for (const [name, f] of Object.entries(b.host.functions)) {
      const n = f.executions - (a.host.functions[name]?.executions ?? 0);
      if (n > 0) executions[name] = n;
    }
    return {
      deployments,
      seconds,
      provider: diffOps(a.ops, b.ops),
      executions,
      executionsTotal: b.host.total - a.host.total,
    };
  };

  const result: ModeResult = {
    mode,
    plan,
    latency: latencyStats(latencies),
    latencyUnloaded: latencyStats(unloaded),
    throughput: {
      inFlight: plan.throughputInFlightPerTenant * TENANTS,
      windowSeconds: plan.throughputWindowSeconds,
      completedInWindow,
      perSecond: completedInWindow / plan.throughputWindowSeconds,
      started,
      completed,
      failed,
    },
    perDeployment: cost(statsBefore, statsAfter, completed, loadSeconds),
    idle: {
      ...cost(idleBefore, idleAfter, 0, plan.idleSeconds),
      pumpsRunning,
      pumpsWaitedSeconds,
    },
    cpuDuringThroughput: { provider, storage, agents: agentCpu },
    engine: {
      maxConcurrentActivities: host.app.host.maxConcurrentActivities,
      maxConcurrentOrchestrations: host.app.host.maxConcurrentOrchestrations,
    },
  };
  console.log(`RESULT ${JSON.stringify(result)}`);

  agents.child.kill("SIGTERM");
  await host.stop();
  await emulator.stop();
  azurite.child.kill("SIGTERM");
  process.exit(0);
}

/** Starts a helper script of this folder and resolves once `ready(line)` finds what it waits for. */
function startChild(
  script: string,
  ready: (line: string) => string | undefined,
  stdin?: string,
): Promise<{ child: ChildProcess; value: string }> {
  const child = spawn(process.execPath, [path.join(__dirname, script)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  child.stdin?.end(stdin ?? "");
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      for (const line of out.split("\n")) {
        const value = ready(line.trim());
        if (value !== undefined) return resolve({ child, value });
      }
    });
    child.on("exit", (code) => reject(new Error(`${script} exited (${code})`)));
  });
}

/** CPU seconds (user + system) a process has used so far; Linux only, else NaN. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = fs
      .readFileSync(`/proc/${pid ?? "self"}/stat`, "utf8")
      .split(") ")[1]!
      .split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

function sasSetting(tenant: string): string {
  return `TENANT_${tenant.toUpperCase().replace(/-/g, "_")}_SAS`;
}

async function pumpsStillRunning(baseUrl: string, tenants: string[]): Promise<number> {
  let running = 0;
  await forEachLimited(tenants, 10, async (tenant) => {
    const res = await fetch(
      `${baseUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(`statusPump:${tenant}`)}`,
    );
    if (res.status === 404) return;
    const s = (await res.json()) as { runtimeStatus?: string };
    if (["Running", "Pending", "ContinuedAsNew"].includes(String(s.runtimeStatus))) running++;
  });
  return running;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
