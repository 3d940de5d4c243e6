/**
 * The rollout orchestration's health gate (docs/rollouts.md, "Health gates") on the durable engine's
 * time-skipping clock: the real SDK replay, with scripted activities standing in for the rollout store,
 * the deployments (each "finishes" Succeeded at once, raising deploymentFinished to its batch) and the
 * ledger's health verdicts (available from a given call of the wave's health step on).
 */
import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import { appVersioning, startHarness, waitFor, type Harness } from "../dev/durable/harness";
import { EVENTS, type DeploymentFinished } from "../../lib/deployments/contract";
import {
  ROLLOUT_ACTIVITIES,
  ROLLOUT_EVENTS,
  ROLLOUT_ORCHESTRATIONS,
  rolloutInstanceId,
  type AdvanceBatchInput,
  type AdvanceBatchResult,
  type RolloutInput,
  type UpdateRolloutInput,
  type UpdateRolloutResult,
  type WaveHealthInput,
  type WaveHealthResult,
} from "../../lib/rollouts/contract";
import type { RolloutControl } from "../../lib/rollouts/model";
import { recordHistories } from "../replay/recorder";
import type { Engine } from "../../dev/durable/engine";

/** One scripted rollout: its waves, who turns out unhealthy or never answers, and what happened. */
interface World {
  waves: string[][];
  maxErrors: number;
  unhealthy: Set<string>;
  silent: Set<string>;
  /** Verdicts are in the ledger from this call of a wave's health step on. */
  readyAtCall: number;
  control: RolloutControl;
  failures: number;
  /** "start:<tenant>", "health:<wave>:<final>@<virtual s since start>", in order. */
  log: string[];
  states: string[];
  /** "<wave>:<state>" of each wave move, in order. */
  waveStates: string[];
  calls: Map<number, number>;
  judged: Set<string>;
  startedAt: number;
  onHealth?: (input: WaveHealthInput) => Promise<void>;
}

const worlds = new Map<string, World>();
let h: Harness;
const virtualNow = () => (h.engine as Engine).clock.now();

function register(): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- registration must happen inside the capture */
  require("../../orchestrators/rollout");
  /* eslint-enable @typescript-eslint/no-require-imports */
  df.app.activity(ROLLOUT_ACTIVITIES.advanceBatch.name, {
    handler: async (input: AdvanceBatchInput): Promise<AdvanceBatchResult> => {
      const w = worlds.get(input.rolloutId)!;
      const stop = w.control.aborted ? "abort" : w.failures > w.maxErrors ? "halt" : undefined;
      if (stop) return { finished: [], started: [], stop };
      const started = input.start.map((tenant) => ({
        tenant,
        id: `${input.rolloutId}.${tenant}`,
        attempt: 1,
      }));
      for (const s of started) {
        w.log.push(`start:${s.tenant}`);
        await h.client.raiseEvent(input.batchInstanceId, EVENTS.deploymentFinished, {
          ...s,
          outcome: "Succeeded",
        } satisfies DeploymentFinished);
      }
      return { finished: [], started };
    },
  });
  df.app.activity(ROLLOUT_ACTIVITIES.update.name, {
    handler: async (input: UpdateRolloutInput): Promise<UpdateRolloutResult> => {
      const w = worlds.get(input.rolloutId)!;
      if (input.state) w.states.push(input.state);
      if (input.wave) w.waveStates.push(`${input.wave.index}:${input.wave.state}`);
      return {
        control: w.control,
        ...(input.checkBudget ? { overBudget: w.failures > w.maxErrors } : {}),
      };
    },
  });
  df.app.activity(ROLLOUT_ACTIVITIES.waveHealth.name, {
    handler: async (input: WaveHealthInput): Promise<WaveHealthResult> => {
      const w = worlds.get(input.rolloutId)!;
      const call = (w.calls.get(input.wave) ?? 0) + 1;
      w.calls.set(input.wave, call);
      w.log.push(`health:${input.wave}:${input.final}@${Math.round((virtualNow() - w.startedAt) / 1000)}`);
      await w.onHealth?.(input);
      let awaiting = 0;
      for (const t of w.waves[input.wave]!) {
        if (w.judged.has(t)) continue;
        if (call >= w.readyAtCall && !w.silent.has(t)) {
          w.judged.add(t);
          if (w.unhealthy.has(t)) w.failures++;
        } else if (input.final) w.judged.add(t);
        else awaiting++;
      }
      return { awaiting, overBudget: w.failures > w.maxErrors };
    },
  });
}

before(async () => {
  h = await startHarness(register, { timeSkipping: true, versioning: appVersioning("provider") });
  record = recordHistories(h, "provider", Object.values(ROLLOUT_ORCHESTRATIONS));
});

/** `npm run histories:record` keeps each test's histories for the replay test; otherwise a no-op. */
let record: (t: { name: string }) => Promise<void>;
afterEach((t) => record(t));

after(async () => {
  await h.close();
});

let seq = 0;
function world(over: Partial<World> = {}): [string, World] {
  const id = `r-health-${++seq}`;
  const w: World = {
    waves: [
      ["t0000", "t0001"],
      ["t0002", "t0003", "t0004"],
    ],
    maxErrors: 0,
    unhealthy: new Set(),
    silent: new Set(),
    readyAtCall: 3,
    control: {},
    failures: 0,
    log: [],
    states: [],
    waveStates: [],
    calls: new Map(),
    judged: new Set(),
    startedAt: virtualNow(),
    ...over,
  };
  worlds.set(id, w);
  return [id, w];
}

async function run(id: string, w: World, over: Partial<RolloutInput> = {}) {
  const input: RolloutInput = {
    rolloutId: id,
    waves: w.waves.map((tenants, i) => ({ name: `w${i}`, tenants })),
    maxConcurrency: 2,
    bakeSeconds: 0,
    approval: "none",
    batchSize: 250,
    laneConcurrency: 50,
    sweepSeconds: 30,
    healthGate: { windowSeconds: 300, intervalSeconds: 30, graceSeconds: 60 },
    ...over,
  };
  await h.client.startNew(ROLLOUT_ORCHESTRATIONS.rollout, { instanceId: rolloutInstanceId(id), input });
  return waitFor(h.client, rolloutInstanceId(id));
}

test("each wave, the last too, waits Baking for its verdicts, re-read every interval, before the next starts", async () => {
  const [id, w] = world();
  const status = await run(id, w);
  assert.equal(status.output, "Succeeded");
  assert.deepEqual(
    w.log.map((l) => l.replace(/@\d+$/, "")),
    [
      "start:t0000",
      "start:t0001",
      "health:0:false",
      "health:0:false",
      "health:0:false",
      "start:t0002",
      "start:t0003",
      "start:t0004",
      "health:1:false",
      "health:1:false",
      "health:1:false",
    ],
  );
  // The re-reads are the check's interval apart.
  const at = w.log.filter((l) => l.startsWith("health:0")).map((l) => Number(l.split("@")[1]));
  assert.deepEqual([at[1]! - at[0]!, at[2]! - at[1]!], [30, 30]);
  assert.deepEqual(w.states, ["Running", "Baking", "Running", "Baking", "Succeeded"]);
  // Each wave ends Completed once its gate opens (the last one too: no bake or approval follows it).
  assert.deepEqual(w.waveStates, [
    "0:Running",
    "0:Completed",
    "0:Baking",
    "0:Completed",
    "1:Running",
    "1:Completed",
    "1:Baking",
    "1:Completed",
  ]);
});

test("an unhealthy tenant spends the error budget: the rollout halts at the gate and the next wave never starts", async () => {
  const [id, w] = world({ unhealthy: new Set(["t0001"]) });
  const status = await run(id, w);
  assert.equal(status.output, "Halted");
  assert.deepEqual(
    w.log.filter((l) => l.startsWith("start:")),
    ["start:t0000", "start:t0001"],
  );
  assert.equal(w.states.at(-1), "Halted");
});

test("within the budget an unhealthy tenant is counted and the rollout goes on", async () => {
  const [id, w] = world({ unhealthy: new Set(["t0001"]), maxErrors: 1 });
  const status = await run(id, w);
  assert.equal(status.output, "Succeeded");
  assert.equal(w.failures, 1);
});

test("a tenant that never answers is Unknown after the window and a grace, and spends nothing", async () => {
  const [id, w] = world({ silent: new Set(["t0000"]), waves: [["t0000", "t0001"]] });
  const status = await run(id, w, {
    healthGate: { windowSeconds: 600, intervalSeconds: 60, graceSeconds: 60 },
  });
  assert.equal(status.output, "Succeeded");
  const last = w.log.at(-1)!;
  assert.match(last, /^health:0:true@/);
  const first = Number(w.log.find((l) => l.startsWith("health:0"))!.split("@")[1]);
  const waited = Number(last.split("@")[1]) - first;
  assert.ok(waited >= 600 + 60 && waited < 600 + 60 + 60, `the gate waited ${waited} virtual s`);
});

test("an abort while the gate waits ends the rollout Aborted at once", async () => {
  const [id, w] = world({ readyAtCall: 1_000 });
  w.onHealth = async () => {
    if (w.calls.get(0) !== 2) return;
    w.control = { aborted: true };
    await h.client.raiseEvent(rolloutInstanceId(id), ROLLOUT_EVENTS.rolloutControl, { action: "abort" });
  };
  const status = await run(id, w);
  assert.equal(status.output, "Aborted");
  assert.equal(w.calls.get(0), 2, "no re-read after the abort");
  assert.deepEqual(
    w.log.filter((l) => l.startsWith("start:")),
    ["start:t0000", "start:t0001"],
  );
});
