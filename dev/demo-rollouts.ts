/**
 * `npm run demo`'s rollout scenarios (docs/rollouts.md): all succeed; the error budget halts; an approval
 * gate approved through the API; abort; a release rolled out and found in the inventory; a release halted
 * by its health gate and rolled back; a scheduled rollout aborted before it starts. They use whatever tenants the stack has registered (two or six),
 * in waves by their `ring` label when they carry one (canary, early, broad), else the first tenant alone
 * and then the rest. A scenario counts only if the rollout ended with one truth: its record final, its
 * orchestration Completed with that state, every deployment it started agreeing with it.
 */
import { checkRolloutTruth, type RolloutView } from "./one-truth";

export type ApiCall = (
  method: string,
  url: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> }>;

export interface DemoScenario {
  name: string;
  expected: string;
  run: () => Promise<string>;
  /**
   * Runs after all the others, on its own: it would change what another one checks while both run (a
   * release deployed beside `rollout of a release` moves the inventory that scenario counts).
   */
  alone?: boolean;
}

interface TenantItem {
  name: string;
  state?: string;
  labels?: Record<string, string>;
}

interface Wave {
  name: string;
  selector?: string;
  tenants?: string[];
}

const RING_ORDER = ["canary", "early", "broad"];
const FINAL = new Set(["Succeeded", "Halted", "Aborted"]);
const FAILURES = new Set(["Failed", "TimedOut", "Rejected", "Terminated"]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The waves, and the tenants of the first: by ring when labels give at least two waves (tenants without a
 * ring form the API's last wave, `rest`), else the first tenant and then the rest.
 */
export function planDemoWaves(tenants: readonly TenantItem[]): { waves: Wave[]; first: string[] } {
  const names = tenants.map((t) => t.name).sort();
  const rank = (ring: string) => (RING_ORDER.includes(ring) ? RING_ORDER.indexOf(ring) : RING_ORDER.length);
  const rings = [...new Set(tenants.flatMap((t) => (t.labels?.ring ? [t.labels.ring] : [])))].sort(
    (a, b) => rank(a) - rank(b) || a.localeCompare(b),
  );
  const unlabelled = tenants.some((t) => !t.labels?.ring);
  if (rings.length + (unlabelled ? 1 : 0) >= 2) {
    const first = names.filter((n) => tenants.find((t) => t.name === n)?.labels?.ring === rings[0]);
    return { waves: rings.map((ring) => ({ name: ring, selector: `ring=${ring}` })), first };
  }
  if (names.length < 2) return { waves: [{ name: "all" }], first: names };
  return { waves: [{ name: "first", tenants: [names[0]!] }, { name: "rest" }], first: [names[0]!] };
}

/** The stack's active tenants (at least one, else an error), as `GET /tenants` lists them. */
export async function activeTenants(call: ApiCall): Promise<TenantItem[]> {
  const listed = await call("GET", "/tenants?top=200");
  if (listed.status !== 200) throw new Error(`GET /tenants answered ${listed.status}`);
  const tenants = (listed.body.items as TenantItem[]).filter((t) => (t.state ?? "active") === "active");
  if (tenants.length === 0) throw new Error("no active tenant is registered");
  return tenants;
}

/** The rollout scenarios over the stack's active tenants; `api` is the stack's API base, with `/api`. */
export async function rolloutScenarios(api: string, call: ApiCall): Promise<DemoScenario[]> {
  const tenants = await activeTenants(call);
  const names = tenants.map((t) => t.name).sort();
  const n = names.length;
  const { waves, first } = planDemoWaves(tenants);
  // The API adds a last wave `rest` for targets no wave took (tenants without a ring).
  const waveCount = waves.length + (tenants.some((t) => !waves.some((w) => covers(w, t))) ? 1 : 0);
  const origin = new URL(api).origin;

  const start = async (body: Record<string, unknown>): Promise<string> => {
    const res = await call("POST", "/rollouts", {
      targets: { tenants: names },
      waves,
      // A tenant's closed maintenance window would hold the demo for hours; the demo is about the rollout.
      ignoreMaintenanceWindow: true,
      ...body,
    });
    if (res.status !== 202) throw new Error(`start failed: ${res.status} ${JSON.stringify(res.body)}`);
    return String(res.body.id);
  };
  const view = async (id: string) => (await call("GET", `/rollouts/${id}`)).body as unknown as RolloutView;
  const until = async (
    id: string,
    done: (r: RolloutView) => boolean,
    step?: (r: RolloutView) => Promise<void>,
  ) => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const r = await view(id);
      if (done(r) || Date.now() > deadline) return r;
      await step?.(r);
      await sleep(200);
    }
  };
  /** What happened, once the rollout ended with one truth; what is wrong otherwise. */
  const ended = async (id: string, describe: (r: RolloutView) => string): Promise<string> => {
    const last = await until(id, (r) => FINAL.has(r.state));
    if (!FINAL.has(last.state)) return `stuck at ${last.state}`;
    const check = await checkRolloutTruth(origin, id, 15_000);
    return check.ok ? describe(check.rollout) : check.problem;
  };
  const count = (r: RolloutView, match: (t: NonNullable<RolloutView["tenants"]>[number]) => boolean) =>
    (r.tenants ?? []).filter(match).length;
  const succeeded = (r: RolloutView) => count(r, (t) => t.outcome === "Succeeded");

  return [
    {
      name: "rollout all-succeed",
      expected: `Succeeded, ${n}/${n} succeeded`,
      run: async () => {
        const id = await start({ spec: { demo: { steps: 2, stepMs: 100 } }, maxConcurrency: 2 });
        return ended(id, (r) => `${r.state}, ${succeeded(r)}/${n} succeeded`);
      },
    },
    {
      // One at a time, so the first failure stops the rest before they start: exactly one failure.
      name: "rollout error-budget",
      expected: `Halted, 1 failed, ${n - 1} skipped`,
      run: async () => {
        const id = await start({
          spec: { demo: { steps: 1, stepMs: 100, failTenants: first } },
          maxConcurrency: 1,
          maxErrors: 0,
        });
        return ended(
          id,
          (r) =>
            `${r.state}, ${count(r, (t) => FAILURES.has(t.outcome ?? ""))} failed, ${count(r, (t) => t.phase === "Skipped")} skipped`,
        );
      },
    },
    {
      name: "rollout approval",
      expected: `Succeeded, ${n}/${n} succeeded after ${approvals(waveCount - 1)}`,
      run: async () => {
        const id = await start({
          spec: { demo: { steps: 1, stepMs: 100 } },
          maxConcurrency: 2,
          bakeSeconds: 1,
          approval: "afterEachWave",
        });
        // Each gate approved once, through the API, as an operator would (a repeat would be harmless).
        const approved = new Set<number>();
        await until(
          id,
          (r) => FINAL.has(r.state),
          async (r) => {
            const wave = (r as RolloutView & { currentWave: number }).currentWave;
            if (r.state !== "WaitingForApproval" || approved.has(wave)) return;
            const res = await call("POST", `/rollouts/${id}/approve`);
            if (res.status === 202) approved.add(wave);
          },
        );
        return ended(
          id,
          (r) => `${r.state}, ${succeeded(r)}/${n} succeeded after ${approvals(approved.size)}`,
        );
      },
    },
    {
      name: "rollout abort",
      expected: `Aborted, 1 cancelled, ${n - 1} skipped`,
      run: async () => {
        const id = await start({ spec: { demo: { steps: 100, stepMs: 200 } }, maxConcurrency: 1 });
        const running = await until(id, (r) => (r.tenants ?? []).some((t) => t.phase === "Running"));
        if (!(running.tenants ?? []).some((t) => t.phase === "Running"))
          return `never running: ${running.state}`;
        const res = await call("POST", `/rollouts/${id}/abort`);
        if (res.status !== 202) return `abort refused: ${res.status}`;
        return ended(
          id,
          (r) =>
            `${r.state}, ${count(r, (t) => t.outcome === "Cancelled")} cancelled, ${count(r, (t) => t.phase === "Skipped")} skipped`,
        );
      },
    },
    {
      // A release (docs/releases.md) rolled out: every tenant gets it, and the inventory says so.
      name: "rollout of a release",
      expected: `Succeeded, ${n}/${n} run the release`,
      run: async () => {
        const version = `1.0.0-demo.${Date.now()}`;
        const created = await call("POST", "/releases", {
          version,
          spec: { demo: { steps: 1, stepMs: 100 } },
          description: "npm run demo",
        });
        if (created.status !== 201) return `release not created: ${created.status}`;
        const id = await start({ release: version, maxConcurrency: 2 });
        const state = await ended(id, (r) => r.state);
        const inventory = await call("GET", `/inventory?release=${encodeURIComponent(version)}`);
        if (inventory.status !== 200) return `inventory answered ${inventory.status}`;
        return `${state}, ${(inventory.body.items as unknown[]).length}/${n} run the release`;
      },
    },
    {
      // Health gates and rollback on halt (docs/rollouts.md): every tenant on a release, then a newer one
      // whose health probes the first wave's tenants fail (the demo deployer's `unhealthyTenants`): the
      // rollout halts at that wave's gate and puts those tenants back on the release before; the others
      // never get it. It moves every tenant's current release, so it runs alone.
      name: "rollout health-halted, rolled back",
      expected: `Halted, ${first.length} unhealthy, ${first.length} rolled back, ${n - first.length} skipped, ${n}/${n} on the release before`,
      alone: true,
      run: async () => {
        const stamp = Date.now();
        const [before, bad] = [`1.1.0-demo.${stamp}`, `1.2.0-demo.${stamp}`];
        const quickSpec = { demo: { steps: 1, stepMs: 100 } };
        if ((await call("POST", "/releases", { version: before, spec: quickSpec })).status !== 201)
          return "the release before was not created";
        const base = await ended(await start({ release: before, maxConcurrency: 2 }), (r) => r.state);
        if (base !== "Succeeded") return `the release before: ${base}`;
        const created = await call("POST", "/releases", {
          version: bad,
          spec: { demo: { ...quickSpec.demo, unhealthyTenants: first } },
          healthCheck: { probe: { path: "/healthz" }, windowSeconds: 6, intervalSeconds: 2 },
        });
        if (created.status !== 201) return `the unhealthy release was not created: ${created.status}`;
        const id = await start({ release: bad, maxConcurrency: 2, onHalt: "rollback" });
        const shown = await ended(
          id,
          (r) =>
            `${r.state}, ${count(r, (t) => t.health === "Unhealthy")} unhealthy, ${count(r, (t) => t.rollback?.state === "Completed" && t.rollback.outcome === "Succeeded")} rolled back, ${count(r, (t) => t.phase === "Skipped")} skipped`,
        );
        const inventory = await call("GET", `/inventory?release=${encodeURIComponent(before)}`);
        if (inventory.status !== 200) return `inventory answered ${inventory.status}`;
        return `${shown}, ${(inventory.body.items as unknown[]).length}/${n} on the release before`;
      },
    },
    {
      // A rollout scheduled for tomorrow shows Scheduled; abort ends it at once, nothing started.
      name: "rollout scheduled",
      expected: `Scheduled, then Aborted, 0 started, ${n} skipped`,
      run: async () => {
        const notBefore = new Date(Date.now() + 86_400_000).toISOString();
        const id = await start({ spec: { demo: { steps: 1, stepMs: 100 } }, notBefore });
        const scheduled = (await view(id)).state;
        const res = await call("POST", `/rollouts/${id}/abort`);
        if (res.status !== 202) return `abort refused: ${res.status}`;
        return ended(
          id,
          (r) =>
            `${scheduled}, then ${r.state}, ${count(r, (t) => t.deploymentId !== undefined)} started, ${count(r, (t) => t.phase === "Skipped")} skipped`,
        );
      },
    },
  ];
}

const approvals = (k: number) => `${k} approval${k === 1 ? "" : "s"}`;

function covers(wave: Wave, tenant: TenantItem): boolean {
  if (wave.tenants) return wave.tenants.includes(tenant.name);
  if (wave.selector) return `ring=${tenant.labels?.ring}` === wave.selector;
  return true;
}
