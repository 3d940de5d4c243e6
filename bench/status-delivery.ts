/**
 * `npm run bench`: the status pump (STATUS_DELIVERY=pump) against the baseline timer poll
 * (STATUS_DELIVERY=timerPoll, every 10 s, one status per tenant per tick) on the local stack, in one run.
 * Each mode runs in a fresh process with its own stack (bench/status-delivery-run.ts); this script
 * collects their results and writes bench/RESULTS.md.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { StatusDelivery } from "../lib/config/settings";
import type { CostSample, LatencyStats, ModeResult } from "./status-delivery-run";
import { LOADED_SPEC } from "./specs";

const MODES: StatusDelivery[] = ["pump", "timerPoll"];

function runMode(mode: StatusDelivery): Promise<ModeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, "status-delivery-run.js"), mode], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, BENCH_PLAN: "" },
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("RESULT "));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)) as ModeResult);
      else reject(new Error(`${mode} run failed (${code}):\n${out}`));
    });
  });
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : "n/a");
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "n/a");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");

function latencyRow(label: string, l: LatencyStats): string {
  return `| ${label} | ${l.samples} | ${f0(l.p50)} | ${f0(l.p95)} | ${f0(l.p99)} | ${f0(l.max)} |`;
}

/** Per deployment, or per idle tenant-hour when `perTenantHour` is given (tenants, seconds). */
function costRows(label: string, c: CostSample, divisor: number): string[] {
  const p = c.provider;
  const d = (n: number) => f1(n / divisor);
  return [
    `| ${label} | ${d(p.receiveRequests)} | ${d(p.drains)} | ${d(p.settlements)} | ${d(p.managementOps)} | ${d(p.commandSends)} | **${d(p.total)}** | ${d(p.linkAttaches)} / ${d(p.cbsPutTokens)} | **${d(c.executionsTotal)}** |`,
  ];
}

function executionBreakdown(c: CostSample, divisor: number): string {
  return Object.entries(c.executions)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${f2(n / divisor)}`)
    .join(", ");
}

function render(results: ModeResult[], started: Date, seconds: number): string {
  const cpus = os.cpus();
  const by = (m: StatusDelivery) => results.find((r) => r.mode === m) as ModeResult;
  const pump = by("pump");
  const timer = by("timerPoll");
  const tenantHours = (r: ModeResult) => (100 * r.idle.seconds) / 3600;
  const lines = [
    "# Status delivery benchmark: status pump vs the seed's timer poll",
    "",
    `- **Command:** \`npm run bench\` (\`npm run build --silent && node dist/bench/status-delivery.js\`)`,
    `- **Date:** ${started.toISOString()} (whole run ${f0(seconds)} s)`,
    `- **Machine:** ${cpus.length} × ${cpus[0]?.model ?? "unknown CPU"}, ${f1(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}; shared with other work while measuring`,
    "- **Stack per mode** (a fresh process each): the Provider app on the dev host with its durable engine and the",
    "  Service Bus emulator in one process; Azurite (Table Storage, in memory) in a second; the 100 tenants' agents",
    "  (the customer agent logic with the demo deployer, `spec.demo = { steps: 2, stepMs: 100 }`: Accepted,",
    "  InProgress, Succeeded) in a third. **One emulator namespace per tenant** (100 namespaces, each with",
    "  `commands` and `status`), SAS auth. Production defaults: `STATUS_POLL_WAIT_MS` 20000, `STATUS_POLL_BATCH`",
    "  50, `PUMP_REENSURE_SECONDS` 60; timer poll every 10 s (`*/10 * * * * *`). host.json durable limits:",
    `  ${pump.engine.maxConcurrentActivities ?? "default"} activities, ${pump.engine.maxConcurrentOrchestrations ?? "default"} orchestrator episodes at once.`,
    "",
    "## Status-detection latency",
    "",
    "From the agent sending the terminal status (its `reportedAt`, set when it builds the message just before",
    "sending; the ledger keeps it as `lastStatus.reportedAt`) to the orchestration's completion (its",
    "`lastUpdatedTime` from the Durable management API once `runtimeStatus` is Completed). Milliseconds.",
    "",
    "| mode, load | samples | p50 | p95 | p99 | max |",
    "| --- | --- | --- | --- | --- | --- |",
    latencyRow(`pump, one deployment at a time (${pump.plan.unloaded})`, pump.latencyUnloaded),
    latencyRow(
      `pump, ${pump.plan.latencyTenants} tenants × ${pump.plan.latencyPerTenant} in flight (closed loop, ${pump.plan.latencyRounds} each)`,
      pump.latency,
    ),
    latencyRow(`timerPoll, one deployment at a time (${timer.plan.unloaded})`, timer.latencyUnloaded),
    latencyRow(
      `timerPoll, ${timer.plan.latencyTenants} tenants × ${timer.plan.latencyPerTenant} in flight (${timer.plan.latencyRounds} each)`,
      timer.latency,
    ),
    "",
    `The "one at a time" rows run the 0.3 s deployments above; the "in flight" rows run deployments of about`,
    `5 s (\`spec.demo = ${JSON.stringify(LOADED_SPEC.demo)
      .replace(/"(\w+)":/g, "$1: ")
      .replace(/,/g, ", ")}\`), so that 10 per tenant are in flight`,
    "without asking more of the machine than it can complete (0.3 s deployments kept 50 in flight would ask about",
    "160 deployments/s of a stack that completes about 36/s, and measure only the queue in front of it).",
    "",
    "Targets for the pump: p50 ≤ 100 ms, p99 ≤ 1 s.",
    "",
    "## Throughput (100 tenants)",
    "",
    "Each tenant keeps N deployments in flight (a new one starts when one finishes) for a ramp, then a fixed",
    "window; deployments completed inside the window per second.",
    "",
    "| mode | in flight | ramp s | window s | completed in window | deployments/s | started / completed / failed | CPU cores busy: Provider / Azurite / agents |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...[pump, timer].map(
      (r) =>
        `| ${r.mode} | ${r.throughput.inFlight} | ${r.plan.throughputRampSeconds} | ${r.throughput.windowSeconds} | ${r.throughput.completedInWindow} | **${f1(r.throughput.perSecond)}** | ${r.throughput.started} / ${r.throughput.completed} / ${r.throughput.failed} | ${f2(r.cpuDuringThroughput.provider)} / ${f2(r.cpuDuringThroughput.storage)} / ${f2(r.cpuDuringThroughput.agents)} |`,
    ),
    "",
    "Target for the pump: ≥ 20 deployments/s.",
    "",
    "## Cost",
    "",
    "Provider-side Service Bus operations, counted by the emulator (`emulator.stats()`): on the status queue",
    "(and its dead-letter queue) receive requests (AMQP flows granting credit, plus drains: a drain is an",
    "empty or short receive), settlements and `$management` requests; on the command queue the Provider's",
    "sends. Link attaches and `$cbs` authorisations are shown apart (not in the total). Function executions",
    "counted by the dev host (`host.stats()`): HTTP, timer, orchestrator episodes (each replay) and activities.",
    "Per deployment = the throughput phase's counts (from its first start to its last completion) divided by",
    "the deployments completed in it. Per idle tenant-hour = an idle window (all 100 tenants registered,",
    "nothing in flight) scaled to an hour and divided by 100 tenants.",
    "",
    "| mode, per | receive requests | of which drains | settlements | management | command sends | **SB ops** | links / $cbs | **executions** |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...costRows("pump, per deployment", pump.perDeployment, pump.perDeployment.deployments),
    ...costRows("timerPoll, per deployment", timer.perDeployment, timer.perDeployment.deployments),
    ...costRows("pump, per idle tenant-hour", pump.idle, tenantHours(pump)),
    ...costRows("timerPoll, per idle tenant-hour", timer.idle, tenantHours(timer)),
    "",
    `Executions per deployment, pump: ${executionBreakdown(pump.perDeployment, pump.perDeployment.deployments)}.`,
    "",
    `Executions per deployment, timerPoll: ${executionBreakdown(timer.perDeployment, timer.perDeployment.deployments)}.`,
    "",
    `Idle windows: pump ${pump.idle.seconds} s, measured after waiting ${f0(pump.idle.pumpsWaitedSeconds)} s for the pumps to end; ` +
      `statusPump instances still running at its end: **${pump.idle.pumpsRunning}** of 100. timerPoll ${timer.idle.seconds} s.`,
    "",
    "## Exactly what ran",
    "",
    ...[pump, timer].map(
      (r) =>
        `- **${r.mode}:** ${r.plan.unloaded} deployments one at a time on one tenant; then ${r.plan.latencyTenants} tenants × ${r.plan.latencyPerTenant} in flight, ${r.plan.latencyRounds} deployment(s) per slot (${r.latency.samples} measured); then 100 tenants × ${r.plan.throughputInFlightPerTenant} in flight for ${r.plan.throughputRampSeconds} s ramp + ${r.plan.throughputWindowSeconds} s window, then until every deployment in flight finished; then a ${r.plan.idleSeconds} s idle window.`,
    ),
    "- The timer poll's latency and throughput phases are smaller than the pump's: at one status per tenant per",
    "  10 s tick, 10 deployments in flight per tenant (30 statuses) would take about 5 minutes to drain.",
    "",
    "## Interpretation",
    "",
    "_Written after looking at this run's numbers; see below._",
    "",
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const started = new Date();
  const t0 = Date.now();
  const results: ModeResult[] = [];
  for (const mode of MODES) {
    console.error(`running ${mode}...`);
    results.push(await runMode(mode));
  }
  const seconds = (Date.now() - t0) / 1000;
  const file = path.resolve(__dirname, "..", "..", "bench", "RESULTS.md");
  const previous = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  // The interpretation is written by a person; keep it across reruns.
  const interpretation = /## Interpretation\n([\s\S]*)$/.exec(previous)?.[1]?.trim();
  let text = render(results, started, seconds);
  if (interpretation) text = text.replace(/_Written after[^\n]*\n/, `${interpretation}\n`);
  fs.writeFileSync(file, text);
  fs.writeFileSync(
    path.resolve(__dirname, "..", "..", "bench", "results", "status-delivery.json"),
    `${JSON.stringify({ started: started.toISOString(), seconds, results }, null, 2)}\n`,
  );
  console.log(`wrote ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
