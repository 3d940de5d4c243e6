/**
 * The "Rollout of 1,000 tenants" section of bench/RESULTS.md, written by `npm run bench:rollout`
 * (bench/rollout.ts), and with BENCH_HEALTH=1 the "... with health gates" one. It replaces its own section and leaves the rest of the file alone; the status
 * delivery benchmark keeps it when it rewrites the file (it keeps everything from its interpretation on).
 */
import fs from "node:fs";
import type { Calibration } from "./calibration";
import type { Cost, RolloutResult } from "./rollout";
import { healthRows } from "./rollout-health";

export const SECTION_TITLE = "## Rollout of 1,000 tenants";
export const HEALTH_SECTION_TITLE = "## Rollout of 1,000 tenants with health gates";
/** Where the health section goes the first time: before the plain run's interpretation. */
const INTERPRETATION_TITLE = "## Rollout of 1,000 tenants: what the figures say";

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : "n/a");
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "n/a");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");

function costRow(label: string, c: Cost, per: number): string {
  const d = (n: number) => f1(n / per);
  return `| ${label} | ${d(c.sb.receiveRequests)} | ${d(c.sb.settlements)} | ${d(c.sb.commandSends)} | **${d(c.sb.total)}** | ${d(c.sb.linkAttaches)} / ${d(c.sb.connections)} | **${d(c.executionsTotal)}** | **${d(c.productTableOpsTotal)}** | ${d(c.durableTableOps)} | ${f1(c.cpuMs / per)} |`;
}

const breakdown = (counts: Record<string, number>, per: number) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${f2(n / per)}`)
    .join(", ");

/** The section; `extra` (the health run's comparison with the plain run) goes at its end. */
export function renderRolloutSection(r: RolloutResult, extra: string[] = []): string {
  const n = Math.max(1, r.deployments);
  const idleHours = (r.idle.seconds / 3600) * r.tenants;
  return [
    r.health ? HEALTH_SECTION_TITLE : SECTION_TITLE,
    "",
    r.health
      ? "- **Command:** `BENCH_HEALTH=1 npm run bench:rollout` (`BENCH_HEALTH=1 node dist/bench/rollout.js`): the plain run's rollout with the spec's `healthCheck`, so each wave waits for every tenant's verdict"
      : `- **Command:** \`npm run bench:rollout\` (\`node dist/bench/rollout.js\`; also the second half of \`npm run bench\`)`,
    `- **Date:** ${r.started}; **machine:** ${r.machine}; shared with other work while measuring`,
    `- **Driver:** ${r.driver === "stand-in" ? "the stand-in (the rollout API was not there yet): the benchmark starts one deployment per tenant over `POST /api/tenants/{t}/deployments`, wave after wave, at most " + r.maxInFlight + " in flight" : "`POST /api/rollouts`, then `GET /api/rollouts/{id}` once a second until it ends"}`,
    `- **Load:** ${r.tenants} tenants (one emulator namespace, a command and a status queue per tenant, a SAS setting per tenant, so a Provider connection per tenant as with a namespace per customer; the agents likewise), waves ${r.waves.map((w) => `${w.name} (${w.count})`).join(", ")}, \`spec = ${JSON.stringify(r.spec)}\` (Accepted, InProgress, Succeeded in about 2 s${r.health ? `; then one probe after ${r.health.check.windowSeconds} s and the Healthy verdict` : ""}). The Provider (dev host + durable engine, host.json limits ${r.engine.maxConcurrentActivities ?? "default"} activities, ${r.engine.maxConcurrentOrchestrations ?? "default"} orchestrator episodes) in the benchmark's process; Azurite (in memory), the Service Bus emulator (in memory) and the ${r.tenants} agents (\`bench/agents.ts\`) in a process each.`,
    `- **Calibration (same run):** ${calibrationLine(r.calibration)}.`,
    "",
    "| figure | value | target |",
    "| --- | --- | --- |",
    `| deployments (failed) | ${r.deployments} (${r.failed}) | 0 failed |`,
    `| total time, first start to last completion | ${f1(r.totalSeconds)} s | |`,
    `| deployments/s overall / sustained (last wave, its 10th to 90th percentile completion) | ${f1(r.perSecondOverall)} / **${f1(r.perSecondSustained)}** | ≥ 30 |`,
    `| status detection p50 / p95 / p99 / max (agent's terminal status sent → orchestration Completed) | ${f0(r.detection.p50)} / ${f0(r.detection.p95)} / **${f0(r.detection.p99)}** / ${f0(r.detection.max)} ms | p99 ≤ 1 s |`,
    `| Provider process peak RSS | **${f0(r.peakRssMiB)} MiB** | ≤ 1 GiB |`,
    `| Provider CPU per deployment | ${f1(r.run.cpuMs / n)} ms (${f2(r.run.cpuMs / 1000 / r.totalSeconds)} cores busy) | |`,
    `| cores busy during the rollout: Provider / Azurite / emulator / agents; machine load average (5 min) | ${f2(r.run.cpuMs / 1000 / r.totalSeconds)} / ${f2(r.otherCores.storage)} / ${f2(r.otherCores.broker)} / ${f2(r.otherCores.agents)}; ${f1(r.loadAverage)} | |`,
    `| activities running at once, peak (pump cycles among them) | ${r.peaks.activities} (${r.peaks.pumpCycles}) | < ${r.engine.maxConcurrentActivities ?? "limit"} slots |`,
    `| idle after the run: pumps still running after ${f0(r.idle.waitedSeconds)} s wait / polls and executions in ${r.idle.seconds} s | ${r.idle.pumpsRunning} / ${r.idle.sb.receiveRequests} receive requests, ${r.idle.executionsTotal} executions, ${r.idle.productTableOpsTotal + r.idle.durableTableOps} table operations | 0 polls |`,
    `| waves: duration | ${r.waves.map((w) => `${w.name} ${f1((w.finishedAt - w.startedAt) / 1000)} s`).join(", ")} | |`,
    ...(r.health ? healthRows(r.health, r.deployments) : []),
    "",
    "Where a deployment's time goes (its ledger timeline: the Provider's clock for what it recorded, the agent's for",
    "what it sent; one machine, so one clock), p50 / p99 ms of each interval:",
    "",
    "| stage | p50 | p99 |",
    "| --- | --- | --- |",
    ...r.stages.map((s) => `| ${s.name} | ${f0(s.p50)} | ${f0(s.p99)} |`),
    "",
    "Cost per deployment (the whole rollout's counts over its deployments). Service Bus: the Provider's own operations",
    "counted by the emulator (receive requests, settlements on the status queues; sends on the command queues); link",
    "attaches and connections opened apart. Table operations: requests counted at Azurite, the product's tables",
    "(registry, ledger, health) apart from the durable engine's task hub (which stands for the Durable extension's",
    "storage provider).",
    "",
    "| per | receive requests | settlements | command sends | **SB ops** | links / connections | **executions** | **product table ops** | durable table ops | Provider CPU ms |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    costRow("deployment", r.run, n),
    costRow("idle tenant-hour", r.idle, idleHours),
    "",
    `Executions per deployment: ${breakdown(r.run.executions, n)}.`,
    "",
    `Product table operations per deployment: ${breakdown(r.run.productTableOps, n)}.`,
    "",
    ...extra,
  ].join("\n");
}

/** Replaces the section in RESULTS.md (up to the next `## ` heading), or appends it. */
export function writeRolloutSection(file: string, section: string, health = false): void {
  writeSection(file, health ? HEALTH_SECTION_TITLE : SECTION_TITLE, section, INTERPRETATION_TITLE);
}

/**
 * Replaces the section whose heading line is `title` in a Markdown file, up to the next `## ` heading (so
 * a hand-written section after it stays), or inserts it before the heading `before` (if there), or
 * appends it. Shared by the benchmarks that own a section.
 */
export function writeSection(file: string, title: string, section: string, before?: string): void {
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  // The whole heading line: "## Rollout of 1,000 tenants" must not find "... with health gates".
  const line = (heading: string) => {
    const at = `\n${text}`.indexOf(`\n${heading}\n`);
    return at < 0 ? -1 : at;
  };
  const start = line(title);
  const at = before ? line(before) : -1;
  if (start < 0 && at >= 0)
    return fs.writeFileSync(file, `${text.slice(0, at)}${section}\n${text.slice(at)}`);
  if (start < 0) return fs.writeFileSync(file, `${text.trimEnd()}\n\n${section}`);
  const next = text.indexOf("\n## ", start + title.length);
  const rest = next < 0 ? "" : text.slice(next + 1);
  fs.writeFileSync(file, `${text.slice(0, start)}${section}${rest ? `\n${rest}` : ""}`);
}

/** The calibration as the results show it. */
export function calibrationLine(c: Calibration): string {
  return `sha256 ${f0(c.sha256MiBps)} MiB/s, fdatasync ${f2(c.fsyncMs)} ms; Azurite ${f0(c.azuriteUpsertsPerSecond8)} upserts/s with 8 in flight; \`npm run bench:durable -- 500 10\`: ${f1(c.durable.orchestrationsPerSecond)} orchestrations/s, p50 ${f0(c.durable.p50Ms)} ms, p99 ${f0(c.durable.p99Ms)} ms`;
}
