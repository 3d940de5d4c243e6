/**
 * The rollout and rolloutBatch orchestrations on their own, on the durable engine's time-skipping clock:
 * the real SDK replay and engine, with scripted activities standing in for the rollout store and the
 * deployments (a started deployment "finishes" by raising deploymentFinished to its batch from inside the
 * activity, as a real one does when its outcome is written). Days of bake and approval waits take
 * milliseconds; a 1,000-tenant rollout runs in seconds, so the cap and the history bound are checked at
 * the scale of the benchmark.
 */
import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import { appVersioning, startHarness, waitFor, type Harness } from "../dev/durable/harness";
import { EVENTS, type DeploymentFinished } from "../../lib/deployments/contract";
import type { Outcome } from "../../lib/deployments/model";
import {
  ROLLOUT_ACTIVITIES,
  ROLLOUT_EVENTS,
  ROLLOUT_ORCHESTRATIONS,
  rolloutInstanceId,
  type AdvanceBatchInput,
  type AdvanceBatchResult,
  type PlanRollbackInput,
  type PlanRollbackResult,
  type RolloutInput,
  type UpdateRolloutInput,
  type UpdateRolloutResult,
} from "../../lib/rollouts/contract";
import type { RolloutControl } from "../../lib/rollouts/model";
import { recordHistories } from "../replay/recorder";
import { MAX_TIMER_MS } from "../../lib/durable/timers";
import type { Engine } from "../../dev/durable/engine";

const DAY_S = 24 * 3600;

/** One scripted rollout: outcomes by tenant, the budget, the controls, and what happened. */
interface World {
  maxErrors: number;
  fail: Set<string>;
  control: RolloutControl;
  inFlight: number;
  peak: number;
  failures: number;
  started: string[];
  states: string[];
  waveStates: string[];
  /** The test raises each deployment's finish itself. */
  manual?: boolean;
  /** Every start is refused (a tenant that cannot take the deployment). */
  refuse?: boolean;
  calls?: number;
  /** The rollout store is away for this many `update` calls (each attempt of each retry counts). */
  updateOutage?: number;
  /** Runs in each update (the rollout store's write), e.g. to raise control events during a bake. */
  onUpdate?: (input: UpdateRolloutInput) => Promise<void>;
  /** Virtual time of the first deployment start. */
  firstStartAt?: number;
  /** Rollback: tenants without a previous release (the plan leaves them out), those rolled back. */
  noPrevious?: Set<string>;
  rolledBack?: string[];
  /** Rollback deployments do not finish by themselves; the first one's start asks abort. */
  abortRollback?: boolean;
  cancelled?: string[];
}

const worlds = new Map<string, World>();
let h: Harness;

before(async () => {
  h = await startHarness(
    () => {
      /* eslint-disable @typescript-eslint/no-require-imports -- registration must happen inside the capture */
      require("../../orchestrators/rollout");
      /* eslint-enable @typescript-eslint/no-require-imports */
      df.app.activity(ROLLOUT_ACTIVITIES.advanceBatch.name, {
        handler: async (input: AdvanceBatchInput): Promise<AdvanceBatchResult> => {
          const w = worlds.get(input.rolloutId)!;
          w.inFlight -= input.finished.length;
          // A rollback's outcomes do not spend the budget, and only an abort stops it.
          if (!input.rollback) for (const f of input.finished) if (f.outcome !== "Succeeded") w.failures++;
          const stop = w.control.aborted
            ? "abort"
            : input.rollback
              ? undefined
              : w.failures > w.maxErrors
                ? "halt"
                : w.control.paused
                  ? "pause"
                  : undefined;
          w.calls = (w.calls ?? 0) + 1;
          if (stop === "abort" && input.rollback && !input.stopped) await cancelled(w, input);
          if (stop) return { finished: [], started: [], stop };
          if (input.rollback) return rollbackStarts(w, input);
          if (w.refuse)
            return {
              finished: input.start.map((tenant) => ({
                tenant,
                id: `${input.rolloutId}.${tenant}`,
                attempt: 1,
                outcome: "Failed" as Outcome,
                message: "not started",
              })),
              started: [],
            };
          const started = input.start.map((tenant) => ({
            tenant,
            id: `${input.rolloutId}.${tenant}`,
            attempt: 1,
          }));
          w.inFlight += started.length;
          w.peak = Math.max(w.peak, w.inFlight);
          if (input.start.length > 0) w.firstStartAt ??= virtualNow();
          w.started.push(...input.start);
          for (const s of started) {
            if (w.manual) break;
            const outcome: Outcome = w.fail.has(s.tenant) ? "Failed" : "Succeeded";
            await h.client.raiseEvent(input.batchInstanceId, EVENTS.deploymentFinished, {
              ...s,
              outcome,
            } satisfies DeploymentFinished);
          }
          return { finished: [], started };
        },
      });
      df.app.activity(ROLLOUT_ACTIVITIES.planRollback.name, {
        handler: (input: PlanRollbackInput): PlanRollbackResult => {
          const w = worlds.get(input.rolloutId)!;
          return { tenants: w.started.filter((t) => !w.fail.has(t) && !w.noPrevious?.has(t)) };
        },
      });
      df.app.activity(ROLLOUT_ACTIVITIES.update.name, {
        handler: async (input: UpdateRolloutInput): Promise<UpdateRolloutResult> => {
          const w = worlds.get(input.rolloutId)!;
          if (w.updateOutage && w.updateOutage > 0) {
            w.updateOutage--;
            throw new Error("Table Storage unavailable (ECONNREFUSED)");
          }
          if (input.state) w.states.push(input.state);
          if (input.rollback) w.states.push(`rollback ${input.rollback}`);
          if (input.wave) w.waveStates.push(`${input.wave.index}:${input.wave.state}`);
          await w.onUpdate?.(input);
          return {
            control: w.control,
            ...(input.checkBudget ? { overBudget: w.failures > w.maxErrors } : {}),
          };
        },
      });
    },
    { timeSkipping: true, versioning: appVersioning("provider") },
  );
  // The 300-tenant run's batches are 100 KB each; the smaller tests walk the same paths.
  record = recordHistories(h, "provider", Object.values(ROLLOUT_ORCHESTRATIONS), /^300 tenants/);
});

/** `npm run histories:record` keeps each test's histories for the replay test; otherwise a no-op. */
let record: (t: { name: string }) => Promise<void>;
afterEach((t) => record(t));

after(async () => {
  await h.close();
});

/** Raises each deployment's finish to its batch, as the write of its outcome does. */
const finish = (batch: string, ds: readonly object[], outcome: Outcome) =>
  Promise.all(ds.map((d) => h.client.raiseEvent(batch, EVENTS.deploymentFinished, { ...d, outcome })));

/** A rollback batch's starts: each finishes Succeeded at once unless the world aborts at the first. */
async function rollbackStarts(w: World, input: AdvanceBatchInput): Promise<AdvanceBatchResult> {
  const started = input.start.map((tenant) => ({ tenant, id: `${tenant}.rollback`, attempt: 1 }));
  (w.rolledBack ??= []).push(...input.start);
  w.peak = Math.max(w.peak, (w.inFlight += started.length));
  if (!w.abortRollback || started.length === 0) await finish(input.batchInstanceId, started, "Succeeded");
  else {
    w.control = { aborted: true };
    await h.client.raiseEvent(rolloutInstanceId(input.rolloutId), ROLLOUT_EVENTS.rolloutControl, {});
  }
  return { finished: [], started };
}

/** Abort in a rollback batch: its deployments in flight are cancelled (and finish Cancelled). */
async function cancelled(w: World, input: AdvanceBatchInput): Promise<void> {
  (w.cancelled ??= []).push(...input.inFlight.map((d) => d.tenant));
  await finish(input.batchInstanceId, input.inFlight, "Cancelled");
}

/** The engine's (virtual) now: what a rollout's `notBefore` is measured against. */
const virtualNow = () => (h.engine as Engine).clock.now();

/** The rollout holds Paused with nothing started; resumed, it succeeds with all six tenants. */
async function heldPausedThenResumed(id: string, w: World): Promise<void> {
  await waitFor(
    h.client,
    rolloutInstanceId(id),
    (s) => (s.customStatus as { state?: string })?.state === "Paused",
  );
  assert.deepEqual(w.started, []);
  w.control = {};
  await h.client.raiseEvent(rolloutInstanceId(id), ROLLOUT_EVENTS.rolloutControl, { action: "resume" });
  const s = await waitFor(h.client, rolloutInstanceId(id));
  assert.equal(s.output, "Succeeded");
  assert.equal(w.started.length, 6);
}

let seq = 0;
function world(over: Partial<World> = {}): [string, World] {
  const id = `r-orch-${++seq}`;
  const w: World = {
    maxErrors: 0,
    fail: new Set(),
    control: {},
    inFlight: 0,
    peak: 0,
    failures: 0,
    started: [],
    states: [],
    waveStates: [],
    ...over,
  };
  worlds.set(id, w);
  return [id, w];
}

const names = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, "0")}`);

function input(id: string, over: Partial<RolloutInput> = {}): RolloutInput {
  return {
    rolloutId: id,
    waves: [{ name: "all", tenants: names("t", 6) }],
    maxConcurrency: 2,
    bakeSeconds: 0,
    approval: "none",
    batchSize: 250,
    laneConcurrency: 50,
    sweepSeconds: 30,
    ...over,
  };
}

async function run(id: string, over: Partial<RolloutInput> = {}, timeoutMs = 30_000) {
  await h.client.startNew(ROLLOUT_ORCHESTRATIONS.rollout, {
    instanceId: rolloutInstanceId(id),
    input: input(id, over),
  });
  const s = await waitFor(h.client, rolloutInstanceId(id), undefined, timeoutMs);
  return { status: s };
}

test("300 tenants in waves of 1 %, 10 % and the rest: the cap holds across batches and every history stays bounded", async () => {
  // The benchmark's shape scaled down: four lanes of 10 under a cap of 40, batches of at most 50.
  const [id, w] = world();
  const all = names("t", 300);
  const { status } = await run(
    id,
    {
      waves: [
        { name: "1%", tenants: all.slice(0, 3) },
        { name: "10%", tenants: all.slice(3, 33) },
        { name: "rest", tenants: all.slice(33) },
      ],
      maxConcurrency: 40,
      batchSize: 50,
      laneConcurrency: 10,
    },
    120_000,
  );
  assert.equal(status.output, "Succeeded");
  assert.equal(w.started.length, 300);
  assert.deepEqual([...w.started].sort(), all, "each tenant once");
  assert.deepEqual(w.started.slice(0, 3).sort(), all.slice(0, 3), "the first wave first");
  assert.deepEqual(w.started.slice(3, 33).sort(), all.slice(3, 33), "then the second");
  assert.ok(w.peak <= 40, `peak in flight ${w.peak}`);
  assert.ok(w.peak > 30, `the cap is used (peak ${w.peak})`);
  const parent = (status.history as unknown[]).length;
  assert.ok(parent < 80, `the rollout's history has ${parent} events`);
  // 267 tenants over four lanes, in batches of at most 50: two rounds.
  const batch = await h.client.getStatus(`rollout:${id}:w2:r3:b0`, { showHistory: true });
  const events = (batch.history as unknown[]).length;
  assert.ok(events < 50 * 8, `a batch of 50 tenants has ${events} events`);
});

test("beyond the error budget nothing new starts and the rollout halts", async () => {
  const [id, w] = world({ maxErrors: 1, fail: new Set(["t0001", "t0003"]) });
  const { status } = await run(id, { maxConcurrency: 1 });
  assert.equal(status.output, "Halted");
  assert.deepEqual(w.started, ["t0000", "t0001", "t0002", "t0003"]);
  // Without onHalt the halt ends the rollout at once: nothing is rolled back.
  assert.deepEqual(w.states, ["Running", "Halted"]);
  assert.equal(w.rolledBack, undefined);
});

test("a storage outage longer than the update's retries is ridden out: the rollout goes on and succeeds", async () => {
  // Eight attempts per call fail twice over (16): the call gives up, waits, and the same update runs again.
  const [id, w] = world({ updateOutage: 20 });
  const { status } = await run(id);
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  assert.equal(status.output, "Succeeded");
  assert.equal(w.started.length, 6);
  assert.equal(w.states.at(-1), "Succeeded");
});

test("a two-day bake takes milliseconds on the virtual clock, and the next wave waits for it", async () => {
  const [id, w] = world();
  const { status } = await run(id, {
    waves: [
      { name: "a", tenants: ["t0000"] },
      { name: "b", tenants: ["t0001"] },
    ],
    bakeSeconds: 2 * DAY_S,
  });
  assert.equal(status.output, "Succeeded");
  assert.deepEqual(w.states, ["Running", "Baking", "Running", "Succeeded"]);
  const history = status.history as { EventType: string; Timestamp: string; FireAt?: string }[];
  const fired = history.filter((e) => e.EventType === "TimerFired");
  assert.ok(fired.length >= 1);
});

test("a 7-day bake with pause, resume and approve during it ends after 7 days, on timers of under 6 days", async () => {
  // On the Azure Storage backend a timer over 6 days is split by the SDK (LongTimerTask), and each event
  // that wins the bake's wait cancels it; when its first piece fires the SDK's task ids drift from the
  // extension's and the rollout hangs. The bake's timers are capped (MAX_TIMER_MS), so none is split.
  const [id, w] = world();
  const raise = (action: string) =>
    h.client.raiseEvent(rolloutInstanceId(id), ROLLOUT_EVENTS.rolloutControl, { action });
  // Each event is raised by the store write that follows the previous one (as the API's write announces
  // it), so it reaches the rollout before its wait: pause at the start of the bake, then resume, approve.
  let during = 0;
  w.onUpdate = async (u) => {
    if (u.state === "Baking") {
      w.control = { paused: true };
      await raise("pause");
    } else if (w.states.at(-1) === "Baking" && !u.state && !u.wave) {
      during++;
      if (during === 1) {
        w.control = {};
        await raise("resume");
      } else if (during === 2) {
        w.control = { approved: [0] };
        await raise("approve");
      }
    }
  };
  const { status } = await run(id, {
    waves: [
      { name: "a", tenants: ["t0000"] },
      { name: "b", tenants: ["t0001"] },
    ],
    bakeSeconds: 7 * DAY_S,
    approval: "afterEachWave",
  });
  assert.equal(status.output, "Succeeded");
  assert.equal(during, 3, "three events reached the bake");
  assert.deepEqual(w.started, ["t0000", "t0001"]);
  assert.deepEqual(w.states, ["Running", "Baking", "WaitingForApproval", "Running", "Succeeded"]);
  const history = status.history as { EventType: string; Timestamp: string; FireAt?: string }[];
  const created = history.filter((e) => e.EventType === "TimerCreated");
  for (const t of created)
    assert.ok(Date.parse(String(t.FireAt)) - Date.parse(t.Timestamp) <= MAX_TIMER_MS, JSON.stringify(t));
  const bakeStart = Date.parse(created[0].Timestamp);
  const lastFired = history.filter((e) => e.EventType === "TimerFired").at(-1);
  const baked = Date.parse(String(lastFired?.FireAt)) - bakeStart;
  assert.ok(Math.abs(baked - 7 * DAY_S * 1000) < 1000, `baked ${baked} ms`);
  assert.deepEqual(
    h.logs.filter((l) => /already yielded|longer than maximumShortTimerDuration/.test(l)),
    [],
  );
});

test("the approval gate holds for days until approved; abort at a gate ends Aborted", async () => {
  const [id, w] = world();
  const waves = [
    { name: "a", tenants: ["t0000"] },
    { name: "b", tenants: ["t0001"] },
  ];
  await h.client.startNew(ROLLOUT_ORCHESTRATIONS.rollout, {
    instanceId: rolloutInstanceId(id),
    input: input(id, { waves, approval: "afterEachWave" }),
  });
  await waitFor(
    h.client,
    rolloutInstanceId(id),
    (s) => (s.customStatus as { state?: string })?.state === "WaitingForApproval",
  );
  // The gate re-reads the rollout once a (virtual) day: three days pass, still waiting.
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(w.started, ["t0000"]);
  w.control = { approved: [0] };
  await h.client.raiseEvent(rolloutInstanceId(id), ROLLOUT_EVENTS.rolloutControl, { action: "approve" });
  const s = await waitFor(h.client, rolloutInstanceId(id));
  assert.equal(s.output, "Succeeded");
  assert.deepEqual(w.started, ["t0000", "t0001"]);

  const [id2, w2] = world();
  await h.client.startNew(ROLLOUT_ORCHESTRATIONS.rollout, {
    instanceId: rolloutInstanceId(id2),
    input: input(id2, { waves, approval: "afterEachWave" }),
  });
  await waitFor(
    h.client,
    rolloutInstanceId(id2),
    (s) => (s.customStatus as { state?: string })?.state === "WaitingForApproval",
  );
  w2.control = { aborted: true };
  await h.client.raiseEvent(rolloutInstanceId(id2), ROLLOUT_EVENTS.rolloutControl, { action: "abort" });
  const s2 = await waitFor(h.client, rolloutInstanceId(id2));
  assert.equal(s2.output, "Aborted");
  assert.deepEqual(w2.started, ["t0000"]);
});

test("a control raised without the rollout record (through the Durable API alone) opens no gate", async () => {
  const [id, w] = world();
  await h.client.startNew(ROLLOUT_ORCHESTRATIONS.rollout, {
    instanceId: rolloutInstanceId(id),
    input: input(id, {
      waves: [
        { name: "a", tenants: ["t0000"] },
        { name: "b", tenants: ["t0001"] },
      ],
      approval: "afterEachWave",
    }),
  });
  await waitFor(
    h.client,
    rolloutInstanceId(id),
    (s) => (s.customStatus as { state?: string })?.state === "WaitingForApproval",
  );
  // The forged approve wakes the gate, which re-reads the record: nothing approved there.
  let reread!: () => void;
  const woke = new Promise<void>((resolve) => (reread = resolve));
  w.onUpdate = async (u) => {
    if (!u.state && !u.wave) reread();
  };
  await h.client.raiseEvent(rolloutInstanceId(id), ROLLOUT_EVENTS.rolloutControl, { action: "approve" });
  await woke;
  const held = await h.client.getStatus(rolloutInstanceId(id));
  assert.equal((held.customStatus as { state?: string }).state, "WaitingForApproval");
  assert.deepEqual(w.started, ["t0000"]);
  // Ended the recorded way.
  w.onUpdate = undefined;
  w.control = { aborted: true };
  await h.client.raiseEvent(rolloutInstanceId(id), ROLLOUT_EVENTS.rolloutControl, { action: "abort" });
  assert.equal((await waitFor(h.client, rolloutInstanceId(id))).output, "Aborted");
});

test("a pause drains the batch and holds; resume starts the rest", async () => {
  const [id, w] = world({ control: { paused: true } });
  await h.client.startNew(ROLLOUT_ORCHESTRATIONS.rollout, {
    instanceId: rolloutInstanceId(id),
    input: input(id),
  });
  await heldPausedThenResumed(id, w);
});

/** Two tenants in flight; a pause is asked and the first finishes; `then` changes the world; the second fails. */
async function pauseThenFail(then: (w: World) => void) {
  const [id, w] = world({ manual: true });
  await h.client.startNew(ROLLOUT_ORCHESTRATIONS.rollout, {
    instanceId: rolloutInstanceId(id),
    input: input(id, { waves: [{ name: "all", tenants: ["t0000", "t0001"] }] }),
  });
  const batch = `rollout:${id}:w0:r1:b0`;
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(done());
  };
  await until(() => w.started.length === 2);
  w.control = { paused: true };
  const finished = (tenant: string, outcome: Outcome) =>
    h.client.raiseEvent(batch, EVENTS.deploymentFinished, {
      tenant,
      id: `${id}.${tenant}`,
      attempt: 1,
      outcome,
    });
  await finished("t0000", "Succeeded");
  await until(() => (w.calls ?? 0) >= 2);
  then(w);
  await finished("t0001", "Failed");
  return waitFor(h.client, rolloutInstanceId(id));
}

test("a pause does not hide a spent budget: a failure after it halts the rollout", async () => {
  const s = await pauseThenFail(() => {});
  assert.equal(s.output, "Halted");
});

test("a pause does not hide an abort that comes after it", async () => {
  const s = await pauseThenFail((w) => (w.control = { paused: true, aborted: true }));
  assert.equal(s.output, "Aborted");
});

test("slots of tenants that could not start are filled at once, not after a sweep", async () => {
  const [id, w] = world({ refuse: true, maxErrors: 100 });
  const { status } = await run(id, { maxConcurrency: 1 });
  assert.equal(status.output, "Succeeded");
  // Six refusals at one slot: without refilling at once each waits a (doubling) sweep, 15 virtual minutes.
  const virtualMs = Date.parse(String(status.lastUpdatedTime)) - Date.parse(String(status.createdTime));
  assert.ok(virtualMs < 30_000, `took ${virtualMs} virtual ms`);
  assert.ok((w.calls ?? 0) >= 6);
});

type TimerEvent = { EventType: string; Timestamp: string; FireAt?: string };

test("a scheduled rollout is Scheduled until notBefore (40 days, on timers of under 6 days), then runs as before", async () => {
  const [id, w] = world();
  const notBefore = new Date(virtualNow() + 40 * DAY_S * 1000).toISOString();
  const { status } = await run(id, { notBefore });
  assert.equal(status.output, "Succeeded");
  assert.deepEqual(w.states, ["Scheduled", "Running", "Succeeded"]);
  assert.equal(w.started.length, 6);
  assert.ok(w.firstStartAt! >= Date.parse(notBefore), "nothing started before notBefore");
  const created = (status.history as TimerEvent[]).filter((e) => e.EventType === "TimerCreated");
  assert.ok(created.length >= 40, `${created.length} timers for 40 days (one a day at most)`);
  for (const t of created)
    assert.ok(Date.parse(String(t.FireAt)) - Date.parse(t.Timestamp) <= MAX_TIMER_MS, JSON.stringify(t));
  assert.deepEqual(
    h.logs.filter((l) => /already yielded|longer than maximumShortTimerDuration/.test(l)),
    [],
  );
});

test("a notBefore already past when the orchestration runs waits for nothing", async () => {
  const [id, w] = world();
  const { status } = await run(id, { notBefore: new Date(virtualNow() - 1000).toISOString() });
  assert.equal(status.output, "Succeeded");
  assert.deepEqual(w.states, ["Scheduled", "Running", "Succeeded"]);
  assert.equal((status.history as TimerEvent[]).filter((e) => e.EventType === "TimerCreated").length, 0);
});

test("abort while Scheduled wakes the rollout: Aborted at once, nothing started", async () => {
  const [id, w] = world();
  // The abort is announced as the rollout enters Scheduled and recorded by the time it re-reads.
  w.onUpdate = async (u) => {
    if (u.state === "Scheduled")
      await h.client.raiseEvent(rolloutInstanceId(id), ROLLOUT_EVENTS.rolloutControl, { action: "abort" });
    else if (!u.state && !u.wave) w.control = { aborted: true };
  };
  const { status } = await run(id, {
    notBefore: new Date(virtualNow() + 80 * DAY_S * 1000).toISOString(),
  });
  assert.equal(status.output, "Aborted");
  assert.deepEqual(w.started, []);
  assert.deepEqual(w.states, ["Scheduled", "Aborted"]);
  const virtualMs = Date.parse(String(status.lastUpdatedTime)) - Date.parse(String(status.createdTime));
  assert.ok(virtualMs < DAY_S * 1000, `ended after ${virtualMs} virtual ms`);
});

test("a pause asked while Scheduled holds the first wave at notBefore; resume runs it", async () => {
  const [id, w] = world();
  w.onUpdate = async (u) => {
    if (u.state !== "Scheduled") return;
    w.control = { paused: true };
    await h.client.raiseEvent(rolloutInstanceId(id), ROLLOUT_EVENTS.rolloutControl, { action: "pause" });
  };
  await h.client.startNew(ROLLOUT_ORCHESTRATIONS.rollout, {
    instanceId: rolloutInstanceId(id),
    input: input(id, { notBefore: new Date(virtualNow() + 10 * DAY_S * 1000).toISOString() }),
  });
  await heldPausedThenResumed(id, w);
  assert.deepEqual(w.states, ["Scheduled", "Running", "Paused", "Running", "Succeeded"]);
});

test("an abort whose announcement was lost is seen at the next daily re-read, nothing started", async () => {
  const [id, w] = world();
  // Recorded right after the rollout entered Scheduled, never announced.
  w.onUpdate = async (u) => {
    if (u.state === "Scheduled") setImmediate(() => (w.control = { aborted: true }));
  };
  const { status } = await run(id, { notBefore: new Date(virtualNow() + 60 * DAY_S * 1000).toISOString() });
  assert.equal(status.output, "Aborted");
  assert.deepEqual(w.started, []);
  assert.deepEqual(w.states, ["Scheduled", "Aborted"]);
  const virtualMs = Date.parse(String(status.lastUpdatedTime)) - Date.parse(String(status.createdTime));
  assert.ok(virtualMs <= 2 * DAY_S * 1000, `ended after ${virtualMs} virtual ms`);
});

test("onHalt rollback: a halted rollout rolls back the tenants that got the release, under its cap, then ends Halted", async () => {
  const [id, w] = world({ fail: new Set(["t0003"]), noPrevious: new Set(["t0001"]) });
  const { status } = await run(id, { maxConcurrency: 2, onHalt: "rollback" });
  assert.equal(status.output, "Halted");
  assert.deepEqual(w.started.slice(0, 4), ["t0000", "t0001", "t0002", "t0003"]);
  const succeeded = w.started.filter((t) => t !== "t0003");
  // The tenant without a previous release is not touched; the failed one never got the release.
  assert.deepEqual(
    w.rolledBack,
    succeeded.filter((t) => t !== "t0001"),
  );
  assert.ok(w.peak <= 2, `peak in flight ${w.peak}`);
  assert.deepEqual(w.states, ["Running", "RollingBack", "rollback Running", "Halted", "rollback Completed"]);
  const batch = await h.client.getStatus(`rollout:${id}:rollback:r2:b0`, { showInput: true });
  assert.equal((batch.input as { rollback?: boolean }).rollback, true);
});

test("abort during the rollback cancels the rollback in flight, starts no more, and ends Aborted", async () => {
  const [id, w] = world({ fail: new Set(["t0003"]), abortRollback: true });
  const { status } = await run(id, { maxConcurrency: 1, onHalt: "rollback" });
  assert.equal(status.output, "Aborted");
  assert.deepEqual(w.rolledBack, ["t0000"]);
  assert.deepEqual(w.cancelled, ["t0000"]);
  assert.deepEqual(w.states, ["Running", "RollingBack", "rollback Running", "Aborted", "rollback Aborted"]);
});
