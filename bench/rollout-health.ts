/**
 * `BENCH_HEALTH=1 npm run bench:rollout`: the 1,000-tenant rollout with health gates on (docs/rollouts.md,
 * "Health gates"). The spec gains a health check, so each agent probes after its success and reports a
 * verdict, the pumps wait for it and the rollout waits for every verdict of a wave before the next. This
 * module holds the check, the tally of verdicts and gates taken while the benchmark reads every record, and
 * the section's health lines with the per-deployment comparison against the plain run's result.
 */
import type { Cost, RolloutResult } from "./rollout";
import type { RolloutRun } from "./rollout-driver";

/**
 * The shortest check the schema allows (window 5 s, one probe at its end): the gate then waits about 5 s
 * per wave beyond its last success (plus up to one 5 s re-read of the verdicts), so the whole run stays a
 * few minutes, while every part of the health path runs: the spec member, the agent's probe and signed
 * verdict, the pump that keeps polling for it, the ledger's `health`, the gate's `rolloutWaveHealth` reads.
 * What it does not show: a window longer than the pump's long-poll (STATUS_POLL_WAIT_MS, 20 s) keeps each
 * tenant's pump cycling through it, one more cycle per 20 s of window (docs: bench/RESULTS.md), so the
 * per-deployment figures here are the floor of a real window's (300 s by default).
 */
export const HEALTH_CHECK = { version: 1, probe: {}, windowSeconds: 5, intervalSeconds: 5 } as const;

export interface HealthFigures {
  check: typeof HEALTH_CHECK;
  /** Deployment records holding a verdict (any state). */
  verdicts: number;
  /** Deployment records whose `health.state` is not Healthy (missing included). */
  recordsNotHealthy: number;
  /** Rollout tenant rows whose `health` is not Healthy (missing included). */
  rowsNotHealthy: number;
  /**
   * Per wave: its last success recorded → its gate open, i.e. the next wave's first deployment requested
   * (the Provider's clock), or for the last wave the rollout seen ended (the driver's poll, once a second).
   * `finalState`: the wave's state in the rollout's last view.
   */
  gates: { wave: string; lastSuccessToGateMs: number; finalState?: string }[];
  /** Executions of the gate's activity (`rolloutWaveHealth`) during the rollout. */
  waveHealthCalls: number;
}

/** Verdicts and each wave's last recorded success, gathered as the benchmark reads every deployment. */
export class HealthTally {
  private verdicts = 0;
  private recordsNotHealthy = 0;
  private rowsNotHealthy = 0;
  private readonly lastSuccess = new Map<string, number>();
  private readonly firstRequest = new Map<string, number>();

  /**
   * One deployment: its rollout row's health, its record's, when its success was recorded and when it was
   * requested; answers how many of the two health states are not Healthy.
   */
  add(
    d: { wave: string; health?: string },
    recordHealth: string | undefined,
    at: { succeeded: number; requested: number },
  ): number {
    if (recordHealth) this.verdicts++;
    const recordBad = recordHealth === "Healthy" ? 0 : 1;
    const rowBad = d.health === "Healthy" ? 0 : 1;
    this.recordsNotHealthy += recordBad;
    this.rowsNotHealthy += rowBad;
    if (Number.isFinite(at.succeeded))
      this.lastSuccess.set(d.wave, Math.max(this.lastSuccess.get(d.wave) ?? 0, at.succeeded));
    if (Number.isFinite(at.requested))
      this.firstRequest.set(d.wave, Math.min(this.firstRequest.get(d.wave) ?? Infinity, at.requested));
    return recordBad + rowBad;
  }

  figures(rollout: Pick<RolloutRun, "waves" | "endedAt">, run: Cost): HealthFigures {
    const waves = rollout.waves;
    return {
      check: HEALTH_CHECK,
      verdicts: this.verdicts,
      recordsNotHealthy: this.recordsNotHealthy,
      rowsNotHealthy: this.rowsNotHealthy,
      gates: waves.map((w, i) => {
        const next = waves[i + 1];
        const open = next ? (this.firstRequest.get(next.name) ?? NaN) : (rollout.endedAt ?? NaN);
        return {
          wave: w.name,
          lastSuccessToGateMs: open - (this.lastSuccess.get(w.name) ?? NaN),
          ...(w.finalState ? { finalState: w.finalState } : {}),
        };
      }),
      waveHealthCalls: run.executions.rolloutWaveHealth ?? 0,
    };
  }
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "n/a");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");

/** The health figures' rows of the section's main table. */
export function healthRows(h: HealthFigures, deployments: number): string[] {
  return [
    `| health verdicts recorded (records not Healthy / rollout rows not Healthy) | ${h.verdicts} of ${deployments} (${h.recordsNotHealthy} / ${h.rowsNotHealthy}) | all Healthy |`,
    `| a wave's last success recorded → its gate open (the next wave's first deployment requested; the last wave: the rollout seen ended) | ${h.gates.map((g) => `${g.wave} ${f1(g.lastSuccessToGateMs / 1000)} s`).join(", ")} | ≈ window (${h.check.windowSeconds} s) |`,
    `| waves' state in the rollout's last view | ${h.gates.map((g) => `${g.wave} ${g.finalState ?? "n/a"}`).join(", ")} | Completed |`,
    `| \`rolloutWaveHealth\` activity calls | ${h.waveHealthCalls} | |`,
  ];
}

/** Per-deployment costs of the health run against the plain run's (bench/results/rollout.json). */
export function comparison(health: RolloutResult, plain: RolloutResult | undefined): string[] {
  if (!plain) return ["No plain run's result (bench/results/rollout.json) to compare with.", ""];
  const per = (r: RolloutResult) => Math.max(1, r.deployments);
  const rows: [string, (r: RolloutResult) => number][] = [
    ["executions per deployment", (r) => r.run.executionsTotal / per(r)],
    ["Provider CPU ms per deployment", (r) => r.run.cpuMs / per(r)],
    ["product table ops per deployment", (r) => r.run.productTableOpsTotal / per(r)],
    ["durable table ops per deployment", (r) => r.run.durableTableOps / per(r)],
    ["Service Bus ops per deployment", (r) => r.run.sb.total / per(r)],
    ["receive requests per deployment", (r) => r.run.sb.receiveRequests / per(r)],
    ["peak RSS MiB", (r) => r.peakRssMiB],
    ["status detection p99 ms", (r) => r.detection.p99],
    ["deployments/s overall (includes the gates' waiting)", (r) => r.perSecondOverall],
  ];
  const changed = (pick: (r: RolloutResult) => Record<string, number>) => {
    const names = new Set([...Object.keys(pick(plain)), ...Object.keys(pick(health))]);
    return (
      [...names]
        .map((n) => ({ n, a: (pick(plain)[n] ?? 0) / per(plain), b: (pick(health)[n] ?? 0) / per(health) }))
        .filter((x) => Math.abs(x.b - x.a) >= 0.01)
        .sort((x, y) => y.b - y.a - (x.b - x.a))
        .map((x) => `${x.n} ${f2(x.a)} → ${f2(x.b)}`)
        .join(", ") || "none"
    );
  };
  return [
    `Against the plain run of ${plain.started} (calibration ${f1(plain.calibration.durable.orchestrationsPerSecond)} orchestrations/s, load ${f1(plain.loadAverage)}; this run ${f1(health.calibration.durable.orchestrationsPerSecond)}, load ${f1(health.loadAverage)}):`,
    "",
    "| figure | plain | health gates | change |",
    "| --- | --- | --- | --- |",
    ...rows.map(([label, get]) => {
      const a = get(plain);
      const b = get(health);
      return `| ${label} | ${f1(a)} | ${f1(b)} | ${a ? `${b >= a ? "+" : ""}${f1(((b - a) / a) * 100)} %` : "n/a"} |`;
    }),
    "",
    `Executions per deployment that changed (plain → health): ${changed((r) => r.run.executions)}.`,
    "",
    `Product table operations per deployment that changed: ${changed((r) => r.run.productTableOps)}.`,
    "",
  ];
}
