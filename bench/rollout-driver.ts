/**
 * How the 1,000-tenant benchmark (bench/rollout.ts) rolls one spec out in waves. Two drivers with one
 * contract, so the benchmark measures the same thing either way:
 * - `standInRollout`: what the benchmark used before `POST /api/rollouts` existed: the driver itself
 *   starts one deployment per tenant over HTTP, wave after wave, never more than `maxConcurrency` in
 *   flight, and learns of each completion from the durable engine's log (no polling load).
 * - `apiRollout`: one `POST /api/rollouts` and polling `GET /api/rollouts/{id}` until it ends
 *   (`BENCH_ROLLOUT_DRIVER=api`), following the body and answer in the design's "Rollouts" section.
 */
import { forEachLimited } from "../lib/concurrency/limited";

export interface Wave {
  name: string;
  tenants: string[];
}

export interface RolloutPlan {
  spec: unknown;
  waves: Wave[];
  maxConcurrency: number;
}

export interface RolloutRun {
  /** One per tenant that got a deployment, with when its wave started it. */
  deployments: {
    tenant: string;
    wave: string;
    deploymentId: string;
    instanceId?: string;
    /** The rollout's tenant row's health verdict (a health-gated rollout, `api` driver only). */
    health?: string;
  }[];
  /**
   * When each wave's first deployment started and its last one finished (epoch ms); with the `api` driver
   * also when the wave was first seen Completed (after its bake or approval, if any).
   */
  waves: {
    name: string;
    startedAt: number;
    finishedAt: number;
    completedAt?: number;
    /** The wave's state in the rollout's last view (`api` driver). */
    finalState?: string;
    count: number;
  }[];
  /** When the driver saw the rollout end (`api` driver: its poll, once a second). */
  endedAt?: number;
  /** Starts refused or deployments that did not end Completed. */
  failed: number;
}

export interface RolloutDriver {
  name: "stand-in" | "api";
  run(api: string, plan: RolloutPlan): Promise<RolloutRun>;
}

/** Completion notices for deployment instances, fed by the host's log (bench/rollout.ts). */
export class Completions {
  private readonly done = new Map<string, { at: number; status: string }>();
  private readonly waiters = new Map<string, () => void>();
  get count(): number {
    return this.done.size;
  }
  record(instanceId: string, status: string): void {
    this.done.set(instanceId, { at: Date.now(), status });
    this.waiters.get(instanceId)?.();
  }
  async wait(instanceId: string): Promise<{ at: number; status: string }> {
    if (!this.done.has(instanceId))
      await new Promise<void>((resolve) => this.waiters.set(instanceId, resolve));
    this.waiters.delete(instanceId);
    return this.done.get(instanceId) as { at: number; status: string };
  }
}

export function standInRollout(completions: Completions): RolloutDriver {
  return {
    name: "stand-in",
    async run(api, plan) {
      const out: RolloutRun = { deployments: [], waves: [], failed: 0 };
      for (const wave of plan.waves) {
        const startedAt = Date.now();
        await forEachLimited(wave.tenants, plan.maxConcurrency, async (tenant) => {
          const res = await fetch(`${api}/tenants/${tenant}/deployments`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ spec: plan.spec }),
          });
          if (res.status !== 202) {
            out.failed++;
            console.error(`start on ${tenant}: ${res.status} ${await res.text()}`);
            return;
          }
          const body = (await res.json()) as { id: string; instanceId: string };
          out.deployments.push({
            tenant,
            wave: wave.name,
            deploymentId: body.id,
            instanceId: body.instanceId,
          });
          if ((await completions.wait(body.instanceId)).status !== "Completed") out.failed++;
        });
        out.waves.push({ name: wave.name, startedAt, finishedAt: Date.now(), count: wave.tenants.length });
      }
      return out;
    },
  };
}

interface RolloutView {
  id: string;
  state: string;
  waves: { name: string; state: string; total: number; succeeded: number; failed: number }[];
  tenants: { tenant: string; wave: string; deploymentId?: string; outcome?: string; health?: string }[];
}

const ENDED = new Set(["Succeeded", "Halted", "Aborted"]);

/** Wave timings come from polling (once a second), so they are as coarse as that. */
export function apiRollout(): RolloutDriver {
  return {
    name: "api",
    async run(api, plan) {
      const res = await fetch(`${api}/rollouts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          spec: plan.spec,
          targets: { tenants: plan.waves.flatMap((w) => w.tenants) },
          waves: plan.waves.map((w) => ({ name: w.name, tenants: w.tenants })),
          maxConcurrency: plan.maxConcurrency,
        }),
      });
      if (res.status !== 202) throw new Error(`POST /rollouts: ${res.status} ${await res.text()}`);
      const { id } = (await res.json()) as { id: string };
      const seen = new Map<string, { startedAt: number; finishedAt: number; completedAt?: number }>();
      for (;;) {
        const view = (await (await fetch(`${api}/rollouts/${encodeURIComponent(id)}`)).json()) as RolloutView;
        const now = Date.now();
        for (const w of view.waves) {
          const t = seen.get(w.name) ?? { startedAt: now, finishedAt: 0 };
          if (w.state !== "Pending" && !seen.has(w.name)) seen.set(w.name, t);
          if (w.succeeded + w.failed === w.total && t.finishedAt === 0) t.finishedAt = now;
          if (w.state === "Completed" && t.completedAt === undefined) t.completedAt = now;
        }
        if (ENDED.has(view.state))
          return {
            deployments: view.tenants.flatMap((t) =>
              t.deploymentId
                ? [{ tenant: t.tenant, wave: t.wave, deploymentId: t.deploymentId, health: t.health }]
                : [],
            ),
            waves: view.waves.map((w) => ({
              name: w.name,
              startedAt: seen.get(w.name)?.startedAt ?? now,
              finishedAt: seen.get(w.name)?.finishedAt || now,
              completedAt: seen.get(w.name)?.completedAt,
              finalState: w.state,
              count: w.total,
            })),
            failed: view.tenants.filter((t) => t.outcome !== "Succeeded").length,
            endedAt: now,
          };
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
  };
}
