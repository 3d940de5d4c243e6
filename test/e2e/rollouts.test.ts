import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../dev/azurite";
import { RunningHost, startHost } from "../../dev/host";
import type { RunningEmulator } from "../../dev/servicebus-emulator";
import { startInMemoryAgents } from "../../dev/in-memory-agents";
import { localProviderSettings } from "../helpers/provider";
import { namespaceConfig, sleep, startEmulator } from "../helpers/servicebus";
import { assertNothingInFlight, assertOneTruth, assertRolloutTruth } from "../helpers/one-truth";
import { registerLocalTenant } from "../helpers/tenants";

// Rollouts end to end: the Provider app on the dev host, six customers (each its own emulator namespace
// and directory) labelled by ring, and their agents (the real command handling with the demo deployer,
// dev/in-memory-agents.ts). Batches are shrunk (2 tenants, one deployment each in flight) so a six-tenant
// rollout exercises several batches and rounds.
const root = path.join(__dirname, "..", "..", "..");
const RINGS: Record<string, string> = {
  alpha: "canary",
  bravo: "early",
  charlie: "early",
  delta: "broad",
  echo: "broad",
  foxtrot: "broad",
};
const TENANTS = Object.keys(RINGS);
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
let agents: { close(): Promise<void> } | undefined;

before(async () => {
  azurite = await startAzurite();
  emulator = await startEmulator(
    TENANTS.map((t) => namespaceConfig(t, [{ name: "commands" }, { name: "status" }])),
  );
  const settings = localProviderSettings(azurite.connectionString, emulator.namespaces, {
    CANCEL_GRACE_SECONDS: "2",
    ROLLOUT_BATCH_SIZE: "2",
    ROLLOUT_LANE_CONCURRENCY: "1",
    ROLLOUT_SWEEP_SECONDS: "5",
  });
  host = await startHost({ appDir: root, port: 0, quiet: true, settings, log: () => {} });
  for (const [i, tenant] of TENANTS.entries())
    await registerLocalTenant(host.url, tenant, `a0000000-0000-4000-8000-00000000000${i + 1}`, {
      labels: { ring: RINGS[tenant], region: i % 2 ? "eu" : "us" },
    });
  agents = startInMemoryAgents(
    emulator.namespaces.map((ns) => ({ tenant: ns.name, connectionString: ns.connectionString })),
  );
});

after(async () => {
  await agents?.close();
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
});

interface TenantView {
  tenant: string;
  wave: string;
  phase: string;
  deploymentId?: string;
  outcome?: string;
  message?: string;
  rollback?: { state: string; release?: string; deploymentId?: string; outcome?: string; message?: string };
}
interface WaveView {
  name: string;
  state: string;
  total: number;
  succeeded: number;
  failed: number;
  running: number;
  pending: number;
  skipped: number;
}
interface RolloutView {
  id: string;
  state: string;
  waves: WaveView[];
  errors: number;
  tenants: TenantView[];
  retryOf?: string;
  completedAt?: string;
  message?: string;
  rollback?: { state: string; tenants: number; succeeded: number; failed: number; notPossible: number };
}

const started = new Set<string>();

// After each scenario: every rollout ended with its orchestration, every deployment has one truth.
afterEach(async () => {
  for (const id of started) await assertRolloutTruth(host!.url, id, 30_000);
  started.clear();
  for (const tenant of TENANTS) await assertNothingInFlight(host!.url, tenant);
});

async function post(pathname: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${host!.url}${pathname}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { id: string } };
}

async function startRollout(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await post("/api/rollouts", body, headers);
  if (res.status === 202 || res.status === 200) started.add(res.body.id);
  return res;
}

async function rollout(id: string): Promise<RolloutView> {
  return (await (await fetch(`${host!.url}/api/rollouts/${id}`)).json()) as RolloutView;
}

async function until(
  id: string,
  done: (r: RolloutView) => boolean,
  timeoutMs = 30_000,
): Promise<RolloutView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await rollout(id);
    if (done(r)) return r;
    if (Date.now() > deadline) throw new Error(`rollout ${id} stuck at ${JSON.stringify(r)}`);
    await sleep(100);
  }
}

interface DeploymentRecordView {
  requestedAt: string;
  completedAt?: string;
  tenant: string;
  outcome?: string;
  rolloutId?: string;
}

async function deployments(r: RolloutView): Promise<DeploymentRecordView[]> {
  return Promise.all(
    r.tenants
      .filter((t) => t.deploymentId)
      .map(
        async (t) =>
          (await (
            await fetch(`${host!.url}/api/deployments/${t.deploymentId}`)
          ).json()) as DeploymentRecordView,
      ),
  );
}

/** The most deployments in flight at once, from the ledger's own start and end times. */
function peakInFlight(records: readonly DeploymentRecordView[]): number {
  const edges = records.flatMap((r) => [
    { at: Date.parse(r.requestedAt), d: 1 },
    { at: Date.parse(r.completedAt ?? new Date().toISOString()), d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let peak = 0;
  for (const e of edges) peak = Math.max(peak, (now += e.d));
  return peak;
}

const quick = { demo: { steps: 2, stepMs: 100 } };
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

test("tenants are selected by label", async () => {
  const res = await fetch(
    `${host!.url}/api/tenants?selector=${encodeURIComponent("ring in (canary,early),region=us")}`,
  );
  assert.equal(res.status, 200);
  const body = (await res.json()) as { items: { name: string }[] };
  assert.deepEqual(body.items.map((t) => t.name).sort(), ["alpha", "charlie"]);
});

test("a rollout runs its waves in order, never over maxConcurrency, and every tenant's deployment is a normal one", async () => {
  const res = await startRollout({
    spec: quick,
    targets: { selector: "ring" },
    waves: [
      { name: "canary", selector: "ring=canary" },
      { name: "early", selector: "ring=early" },
      { name: "broad", selector: "ring=broad" },
    ],
    maxConcurrency: 2,
  });
  assert.equal(res.status, 202);
  assert.match(String(res.body.statusUrl), /\/api\/rollouts\//);
  const r = await until(res.body.id, (v) => v.state === "Succeeded");
  assert.deepEqual(
    r.waves.map((w) => [w.name, w.state, w.total, w.succeeded]),
    [
      ["canary", "Completed", 1, 1],
      ["early", "Completed", 2, 2],
      ["broad", "Completed", 3, 3],
    ],
  );
  const records = await deployments(r);
  assert.equal(records.length, 6);
  assert.ok(records.every((d) => d.rolloutId === r.id && d.outcome === "Succeeded"));
  assert.ok(peakInFlight(records) <= 2, `peak in flight ${peakInFlight(records)}`);
  const waveOf = (tenant: string) => ["canary", "early", "broad"].indexOf(RINGS[tenant]!);
  for (const a of records)
    for (const b of records)
      if (waveOf(b.tenant) > waveOf(a.tenant))
        assert.ok(
          Date.parse(b.requestedAt) >= Date.parse(a.completedAt!),
          `${b.tenant} started before ${a.tenant} ended`,
        );
});

test("past the error budget nothing new starts, what is in flight finishes, and the rollout halts", async () => {
  // One at a time in name order: alpha ok, bravo fails (1 error, within budget), charlie ok, delta fails
  // (2 > 1): halt; echo and foxtrot are skipped.
  const res = await startRollout({
    spec: { demo: { steps: 2, stepMs: 50, failTenants: ["bravo", "delta"] } },
    targets: { tenants: TENANTS },
    maxConcurrency: 1,
    maxErrors: 1,
  });
  assert.equal(res.status, 202);
  const r = await until(res.body.id, (v) => v.state === "Halted");
  const outcome = Object.fromEntries(r.tenants.map((t) => [t.tenant, t.outcome ?? t.phase]));
  assert.deepEqual(outcome, {
    alpha: "Succeeded",
    bravo: "Failed",
    charlie: "Succeeded",
    delta: "Failed",
    echo: "Skipped",
    foxtrot: "Skipped",
  });
  assert.equal(r.errors, 2);
  assert.deepEqual(
    r.waves.map((w) => [w.succeeded, w.failed, w.skipped]),
    [[2, 2, 2]],
  );
});

test("an approval gate holds the next wave until the Provider approves", async () => {
  const res = await startRollout({
    spec: quick,
    targets: { selector: "ring" },
    waves: [{ name: "canary", selector: "ring=canary" }, { name: "rest" }],
    approval: "afterEachWave",
    maxConcurrency: 3,
  });
  const id = res.body.id;
  let r = await until(id, (v) => v.state === "WaitingForApproval");
  await sleep(1000);
  r = await rollout(id);
  assert.equal(r.state, "WaitingForApproval");
  assert.deepEqual(
    r.waves.map((w) => [w.state, w.succeeded, w.pending]),
    [
      ["WaitingForApproval", 1, 0],
      ["Pending", 0, 5],
    ],
  );
  const approved = await post(`/api/rollouts/${id}/approve`);
  assert.equal(approved.status, 202);
  r = await until(id, (v) => v.state === "Succeeded");
  assert.equal(r.waves[1]!.succeeded, 5);
  const again = await post(`/api/rollouts/${id}/approve`);
  assert.equal(again.status, 409);
});

test("after a wave the rollout bakes for bakeSeconds before the next wave starts", async () => {
  const res = await startRollout({
    spec: quick,
    targets: { tenants: ["alpha", "bravo"] },
    waves: [{ name: "first", tenants: ["alpha"] }, { name: "second" }],
    bakeSeconds: 2,
  });
  const baking = await until(res.body.id, (v) => v.state === "Baking");
  assert.deepEqual(
    baking.waves.map((w) => w.state),
    ["Baking", "Pending"],
  );
  const r = await until(res.body.id, (v) => v.state === "Succeeded");
  const [first, second] = await deployments(r);
  const gap = Date.parse(second!.requestedAt) - Date.parse(first!.completedAt!);
  assert.ok(gap >= 2000, `the second wave started ${gap} ms after the first ended`);
});

test("a rollout whose orchestration is terminated through the Durable API is recorded Aborted and stops", async () => {
  const res = await startRollout({
    spec: { demo: { steps: 50, stepMs: 200 } },
    targets: { tenants: TENANTS },
    maxConcurrency: 2,
  });
  const id = res.body.id;
  started.delete(id);
  await until(id, (v) => v.tenants.filter((t) => t.phase === "Running").length === 2);
  const instance = `${host!.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(`rollout:${id}`)}`;
  const terminated = await fetch(`${instance}/terminate?reason=operator`, { method: "POST" });
  assert.equal(terminated.status, 202);
  // The list reconciles too: the rollout shows Aborted there before anyone reads it by id.
  const listDeadline = Date.now() + 10_000;
  let listed: { id: string; state: string } | undefined;
  do {
    const list = (await (await fetch(`${host!.url}/api/rollouts`)).json()) as {
      items: { id: string; state: string }[];
    };
    listed = list.items.find((i) => i.id === id);
    if (listed?.state === "Aborted") break;
    await sleep(100);
  } while (Date.now() < listDeadline);
  assert.equal(listed?.state, "Aborted");
  const r = await until(id, (v) => v.state === "Aborted");
  assert.match(String((r as unknown as { message: string }).message), /terminated/);
  // The batches read the record before every start: they cancel what they run and start nothing more.
  const ended = await until(id, (v) => v.tenants.every((t) => t.phase !== "Running"), 30_000);
  assert.equal(ended.tenants.filter((t) => t.outcome === "Cancelled").length, 2);
  assert.equal(ended.tenants.filter((t) => t.phase === "Skipped").length, 4);
  for (const t of ended.tenants) if (t.deploymentId) await assertOneTruth(host!.url, t.deploymentId);
});

test("pause lets in-flight deployments finish and starts nothing until resume", async () => {
  const res = await startRollout({
    spec: { demo: { steps: 4, stepMs: 150 } },
    targets: { tenants: TENANTS },
    maxConcurrency: 2,
  });
  const id = res.body.id;
  await until(id, (v) => v.tenants.some((t) => t.phase === "Running"));
  assert.equal((await post(`/api/rollouts/${id}/pause`)).status, 202);
  const paused = await until(
    id,
    (v) => v.state === "Paused" && !v.tenants.some((t) => t.phase === "Running"),
  );
  const done = paused.tenants.filter((t) => t.phase === "Completed").length;
  assert.ok(done >= 1 && done < 6, `${done} finished before the pause took hold`);
  await sleep(1000);
  assert.equal((await rollout(id)).tenants.filter((t) => t.phase !== "Pending").length, done);
  assert.equal((await post(`/api/rollouts/${id}/resume`)).status, 202);
  const r = await until(id, (v) => v.state === "Succeeded");
  assert.equal(r.waves[0]!.succeeded, 6);
});

test("abort cancels in-flight deployments gracefully and skips the rest", async () => {
  const res = await startRollout({
    spec: { demo: { steps: 50, stepMs: 200 } },
    targets: { tenants: TENANTS },
    maxConcurrency: 2,
  });
  const id = res.body.id;
  await until(id, (v) => v.tenants.filter((t) => t.phase === "Running").length === 2);
  assert.equal((await post(`/api/rollouts/${id}/abort`)).status, 202);
  const r = await until(id, (v) => v.state === "Aborted");
  const cancelled = r.tenants.filter((t) => t.outcome === "Cancelled");
  assert.equal(cancelled.length, 2);
  assert.equal(r.tenants.filter((t) => t.phase === "Skipped").length, 4);
  assert.equal((await post(`/api/rollouts/${id}/abort`)).status, 409);
});

test("a tenant's closed maintenance window holds its rollout deployment in WaitingForWindow unless the rollout ignores it", async () => {
  const register = (windows: unknown[]) =>
    fetch(`${host!.url}/api/tenants/foxtrot`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directoryId: "a0000000-0000-4000-8000-000000000006",
        serviceBus: { namespace: "foxtrot.servicebus.localhost" },
        auth: { mode: "sas", sasSetting: "TENANT_FOXTROT_SAS" },
        labels: { ring: "broad", region: "eu" },
        maintenanceWindows: windows,
      }),
    });
  // Open ten minutes a day, starting half an hour from now: closed now, open within the completion timeout.
  const opens = new Date(Math.ceil((Date.now() + 30 * 60_000) / 60_000) * 60_000);
  const closed = {
    cron: `${opens.getUTCMinutes()} ${opens.getUTCHours()} * * *`,
    durationMinutes: 10,
    timeZone: "UTC",
  };
  assert.equal((await register([closed])).status, 200);
  try {
    const waiting = await startRollout({ spec: quick, targets: { tenants: ["foxtrot"] } });
    const r = await until(waiting.body.id, (v) => v.tenants[0]!.phase === "Running");
    const id = r.tenants[0]!.deploymentId!;
    const deadline = Date.now() + 15_000;
    let d: Record<string, unknown>;
    do {
      d = (await (await fetch(`${host!.url}/api/deployments/${id}`)).json()) as Record<string, unknown>;
      if (d.phase === "WaitingForWindow") break;
      await sleep(100);
    } while (Date.now() < deadline);
    assert.equal(d.phase, "WaitingForWindow");
    assert.equal(new Date(String(d.windowOpensAt)).getTime(), opens.getTime());
    assert.equal((await post(`/api/rollouts/${waiting.body.id}/abort`)).status, 202);
    const aborted = await until(waiting.body.id, (v) => v.state === "Aborted");
    assert.equal(aborted.tenants[0]!.outcome, "Cancelled");

    const ignoring = await startRollout({
      spec: quick,
      targets: { tenants: ["foxtrot"] },
      ignoreMaintenanceWindow: true,
    });
    const done = await until(ignoring.body.id, (v) => v.state === "Succeeded");
    assert.equal(done.tenants[0]!.outcome, "Succeeded");
  } finally {
    assert.equal((await register([])).status, 200);
  }
});

test("retry starts a new rollout over the tenants that did not succeed", async () => {
  const suspend = (state: string) =>
    fetch(`${host!.url}/api/tenants/echo`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directoryId: "a0000000-0000-4000-8000-000000000005",
        serviceBus: { namespace: "echo.servicebus.localhost" },
        auth: { mode: "sas", sasSetting: "TENANT_ECHO_SAS" },
        labels: { ring: "broad", region: "us" },
        state,
      }),
    });
  assert.equal((await suspend("suspended")).status, 200);
  const first = await startRollout({
    spec: quick,
    targets: { selector: "ring=broad" },
    maxErrors: 1,
    maxConcurrency: 3,
  });
  const r1 = await until(first.body.id, (v) => ["Succeeded", "Halted"].includes(v.state));
  assert.equal(r1.state, "Succeeded");
  const echo = r1.tenants.find((t) => t.tenant === "echo")!;
  assert.equal(echo.outcome, "Failed");
  assert.match(echo.message ?? "", /not started: .*suspended/);
  assert.equal((await suspend("active")).status, 200);
  const retried = await post(`/api/rollouts/${first.body.id}/retry`);
  assert.equal(retried.status, 202);
  started.add(retried.body.id);
  const r2 = await until(retried.body.id, (v) => v.state === "Succeeded");
  assert.equal(r2.retryOf, first.body.id);
  assert.deepEqual(
    r2.tenants.map((t) => [t.tenant, t.outcome]),
    [["echo", "Succeeded"]],
  );
});

test("a repeated Idempotency-Key answers the same rollout; another body under it is refused", async () => {
  const body = { spec: quick, targets: { tenants: ["alpha"] } };
  const a = await startRollout(body, { "idempotency-key": "release-42" });
  const b = await startRollout(body, { "idempotency-key": "release-42" });
  assert.equal(a.status, 202);
  assert.equal(b.status, 200);
  assert.equal(b.body.id, a.body.id);
  const c = await post("/api/rollouts", { ...body, maxErrors: 3 }, { "idempotency-key": "release-42" });
  assert.equal(c.status, 422);
  await until(a.body.id, (v) => v.state === "Succeeded");
  const list = (await (await fetch(`${host!.url}/api/rollouts`)).json()) as { items: { id: string }[] };
  assert.equal(list.items[0]!.id, a.body.id, "newest first");
});

test("bad rollout requests get a 400 naming the field, and start nothing", async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ spec: quick, targets: { tenants: ["nobody-here"] } }, "targets.tenants[0]"],
    [{ spec: quick, targets: { selector: "ring=none" } }, "targets"],
    [{ spec: quick, targets: { selector: "ring in (canary" } }, "targets.selector"],
    [{ spec: quick, targets: { selector: "ring" }, maxConcurrency: 0 }, "maxConcurrency"],
    [{ spec: quick, targets: { selector: "ring" }, maxErrors: "150%" }, "maxErrors"],
    [
      { spec: quick, targets: { selector: "ring" }, waves: [{ name: "a", percent: 120 }] },
      "waves[0].percent",
    ],
    [{ spec: quick, targets: {} }, "targets"],
    [{ targets: { selector: "ring" } }, "spec"],
    [{ spec: quick, targets: { selector: "ring" }, notBefore: "next tuesday" }, "notBefore"],
    [{ spec: quick, targets: { selector: "ring" }, notBefore: "2020-01-01T00:00:00Z" }, "notBefore"],
    [{ spec: quick, targets: { selector: "ring" }, notBefore: inDays(91) }, "notBefore"],
  ];
  const before = ((await (await fetch(`${host!.url}/api/rollouts?top=1000`)).json()) as { items: unknown[] })
    .items.length;
  for (const [body, field] of cases) {
    const res = await fetch(`${host!.url}/api/rollouts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.headers.get("content-type") ?? "", /application\/problem\+json/);
    const problem = (await res.json()) as { errors: { field: string }[] };
    assert.ok(
      problem.errors.some((e) => e.field === field),
      `${JSON.stringify(body)} → ${JSON.stringify(problem.errors)}`,
    );
  }
  const after = ((await (await fetch(`${host!.url}/api/rollouts?top=1000`)).json()) as { items: unknown[] })
    .items.length;
  assert.equal(after, before);
  assert.equal((await fetch(`${host!.url}/api/rollouts/nope`)).status, 404);
});

test("a scheduled rollout shows Scheduled until notBefore; approve is refused, pause is kept, abort ends it Aborted having started nothing", async () => {
  const notBefore = inDays(30);
  const res = await startRollout({ spec: quick, targets: { selector: "ring=canary" }, notBefore });
  assert.equal(res.status, 202);
  assert.deepEqual([res.body.state, res.body.notBefore], ["Scheduled", notBefore]);
  const listed = (await (await fetch(`${host!.url}/api/rollouts?top=1000`)).json()) as {
    items: { id: string; state: string; notBefore?: string }[];
  };
  const item = listed.items.find((i) => i.id === res.body.id);
  assert.deepEqual([item?.state, item?.notBefore], ["Scheduled", notBefore]);
  const approve = await post(`/api/rollouts/${res.body.id}/approve`);
  assert.equal(approve.status, 409);
  const pause = await post(`/api/rollouts/${res.body.id}/pause`);
  assert.equal(pause.status, 202);
  assert.deepEqual([pause.body.state, pause.body.pauseRequested], ["Scheduled", true]);
  const abort = await post(`/api/rollouts/${res.body.id}/abort`);
  assert.equal(abort.status, 202);
  // The orchestration wakes for the abort: not 30 days, a moment.
  const r = await until(res.body.id, (v) => v.state === "Aborted", 15_000);
  assert.deepEqual(
    r.tenants.map((t) => [t.tenant, t.phase, t.deploymentId]),
    [["alpha", "Skipped", undefined]],
  );
  assert.equal(r.waves[0]?.state, "Skipped");
  assert.ok(r.completedAt);
  // A retry runs now: the schedule stays with the rollout it retries.
  const retry = await post(`/api/rollouts/${res.body.id}/retry`);
  assert.equal(retry.status, 202);
  started.add(retry.body.id);
  assert.notEqual(retry.body.state, "Scheduled");
  assert.equal(retry.body.notBefore, undefined);
  await until(retry.body.id, (v) => v.state === "Succeeded");
});

test("onHalt rollback: a halted rollout redeploys the tenants that got its release to their previous one", async () => {
  const release = (version: string, spec: unknown) => post("/api/releases", { version, spec });
  assert.equal((await release("1.0.0", quick)).status, 201);
  const failing = { demo: { steps: 2, stepMs: 50, failTenants: ["delta"] } };
  assert.equal((await release("2.0.0", failing)).status, 201);
  // Release 1.0.0 to bravo, charlie and delta (alpha never ran a release).
  const a = await startRollout({ release: "1.0.0", targets: { tenants: ["bravo", "charlie", "delta"] } });
  assert.equal((await until(a.body.id, (v) => v.state === "Succeeded")).state, "Succeeded");
  // 2.0.0 one at a time: alpha, bravo, charlie succeed, delta fails: the budget (0) is spent.
  const b = await startRollout({
    release: "2.0.0",
    targets: { tenants: ["alpha", "bravo", "charlie", "delta"] },
    maxConcurrency: 1,
    maxErrors: 0,
    onHalt: "rollback",
  });
  assert.equal(b.status, 202);
  const r = await assertRolloutTruth(host!.url, b.body.id, 60_000);
  const view = await rollout(b.body.id);
  assert.equal(r.state, "Halted");
  assert.match(
    view.message ?? "",
    /error budget.*rolled back: 2 of 3 tenant\(s\) back on their previous release, 1 not possible/,
  );
  assert.deepEqual(view.rollback, {
    state: "Completed",
    tenants: 3,
    succeeded: 2,
    failed: 0,
    notPossible: 1,
  });
  const byTenant = Object.fromEntries(view.tenants.map((t) => [t.tenant, t]));
  assert.equal(byTenant.alpha?.rollback?.state, "NotPossible");
  assert.match(byTenant.alpha?.rollback?.message ?? "", /no release before/);
  assert.equal(byTenant.delta?.outcome, "Failed");
  assert.equal(byTenant.delta?.rollback, undefined, "delta never got 2.0.0");
  const inventory = (await (await fetch(`${host!.url}/api/inventory`)).json()) as {
    items: { tenant: string; current?: { release: string } }[];
  };
  const current = Object.fromEntries(inventory.items.map((i) => [i.tenant, i.current?.release]));
  for (const tenant of ["bravo", "charlie"]) {
    const rb = byTenant[tenant]?.rollback;
    assert.deepEqual([rb?.state, rb?.release, rb?.outcome], ["Completed", "1.0.0", "Succeeded"], tenant);
    const record = await assertOneTruth(host!.url, rb!.deploymentId!);
    const got = (await (await fetch(`${host!.url}/api/deployments/${record.id}`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(got.rollbackOf, byTenant[tenant]?.deploymentId);
    assert.equal(got.release, "1.0.0");
    assert.equal(got.rolloutId, b.body.id);
    assert.equal(current[tenant], "1.0.0", `${tenant} runs 1.0.0 again`);
  }
  assert.equal(current.alpha, "2.0.0", "a tenant without a previous release is not touched");
  // A retry takes the tenants that do not run 2.0.0: the rolled-back ones and the failed one.
  const retry = await post(`/api/rollouts/${b.body.id}/retry`);
  started.add(retry.body.id);
  const again = (await rollout(retry.body.id)).tenants.map((t) => t.tenant);
  assert.deepEqual(again.sort(), ["bravo", "charlie", "delta"]);
});
