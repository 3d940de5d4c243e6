/**
 * The `rollout` and `rolloutBatch` orchestrations (docs/rollouts.md).
 *
 * `rollout` waits while Scheduled (only with `notBefore`), then runs the waves in order. A wave's
 * tenants are split into batches (`rolloutBatch` sub-orchestrations, at most `batchSize` tenants each, so no history grows with the fleet); as many
 * batches run at once as `maxConcurrency / laneConcurrency` asks, and their shares of `maxConcurrency`
 * add up to it, so the cap holds across the rollout. After a wave: bake, then the approval gate.
 *
 * `rolloutBatch` keeps its share of deployments in flight: each is a normal deployment (started through
 * the same path as the API's, carrying `rolloutId`) that raises `deploymentFinished` to the batch when
 * its outcome is written; a batch that hears nothing for a while sweeps its in-flight records. Before each
 * start the activity checks abort, the error budget and pause (SSM semantics: beyond the budget nothing
 * new starts and what is in flight finishes).
 *
 * A halt (the spent budget) goes through one phase, `halt`: with `onHalt: "rollback"` the rollout rolls
 * back the tenants that got its release (rollback batches, the same `rolloutBatch` in rollback mode)
 * before it ends Halted.
 *
 * `rollout` reads as its numbered steps: each is a named phase below (a generator it delegates to with
 * `yield*`, adding no yield of its own), sharing one execution's state (`RolloutRun`).
 *
 * Deterministic (all I/O in activities, time from `df.currentUtcDateTime`); events through EventInbox
 * (each wait yielded once); sub-orchestrations only in Task.all (each yielded once); no continueAsNew.
 */
import * as durable from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { call, type ActivityDef, type DurableApi } from "../lib/durable/activities";
import { EventInbox } from "../lib/durable/events";
import { STORAGE_RETRY } from "../lib/durable/retry";
import {
  ROLLOUT_ACTIVITIES,
  ROLLOUT_EVENTS,
  ROLLOUT_ORCHESTRATIONS,
  rollbackBatchInstanceId,
  rolloutBatchInstanceId,
  type BatchInput,
  type BatchResult,
  type AdvanceBatchInput,
  type AdvanceBatchResult,
  type BatchStop,
  type FinishedDeployment,
  type InFlightDeployment,
  type RolloutInput,
  type RolloutEventPayloads,
  type UpdateRolloutInput,
} from "../lib/rollouts/contract";
import type { RolloutControl, RolloutState } from "../lib/rollouts/model";

const MAX_SWEEP_MS = 10 * 60_000;
/** A gate (pause, approval) re-reads the rollout this often even if no event came (a lost announcement). */
const GATE_RECHECK_MS = 5 * 60_000;
const STORE_OUTAGE_WAIT_MS = 60_000;
/**
 * A Scheduled rollout re-reads its record this often even if no event came (a lost announcement of an
 * abort): a day bounds that delay while a 90-day wait stays a few hundred history events.
 */
const SCHEDULED_RECHECK_MS = 24 * 3_600_000;
const STOP_RANK: Record<BatchStop, number> = { pause: 1, halt: 2, abort: 3 };
const ABORTED = "aborted by user";
const OVER_BUDGET = "the error budget (maxErrors) was exceeded";
const UNHEALTHY = "the error budget (maxErrors) was exceeded: unhealthy tenants count against it";
/**
 * The health gate re-reads the verdicts every intervalSeconds or a twentieth of the window, whichever is
 * longer, within these bounds: a day's window is a few hundred history events per wave, not thousands.
 */
const HEALTH_POLL_MS = { min: 5_000, max: 10 * 60_000 } as const;

/**
 * A rollout-store activity that rides out a storage outage longer than its retries: wait, then the same
 * (idempotent) call again, rather than fail the rollout or its batch and leave deployments untracked.
 * Replay-safe for instances started before it guarded `update`: it yields what a bare call did until a
 * call fails for good, which used to end the instance.
 */
function* rideOut<I, O>(df: DurableApi, activity: ActivityDef<I, O>, input: I): Generator<Task, O, unknown> {
  for (;;) {
    try {
      return yield* call(df, activity, input, STORAGE_RETRY);
    } catch {
      yield df.createTimer(new Date(df.currentUtcDateTime.getTime() + STORE_OUTAGE_WAIT_MS));
    }
  }
}

function* update(df: DurableApi, input: Omit<UpdateRolloutInput, "rolloutId">, rolloutId: string) {
  return yield* rideOut(df, ROLLOUT_ACTIVITIES.update, { rolloutId, ...input });
}

/** Splits `tenants` into `count` batches of near-equal size and `concurrency` into their shares. */
function batches(
  tenants: string[],
  count: number,
  concurrency: number,
): { tenants: string[]; share: number }[] {
  const n = Math.max(1, Math.min(count, tenants.length));
  const out: { tenants: string[]; share: number }[] = [];
  let from = 0;
  for (let i = 0; i < n; i++) {
    const size = Math.floor(tenants.length / n) + (i < tenants.length % n ? 1 : 0);
    const share = Math.floor(concurrency / n) + (i < concurrency % n ? 1 : 0);
    out.push({ tenants: tenants.slice(from, from + size), share: Math.max(1, share) });
    from += size;
  }
  return out;
}

function* rolloutOrchestrator(context: OrchestrationContext): Generator<Task, RolloutState, unknown> {
  const df = context.df;
  const input = df.getInput() as RolloutInput;
  const run: RolloutRun = {
    df,
    input,
    id: input.rolloutId,
    inbox: new EventInbox(df, [ROLLOUT_EVENTS.rolloutControl]),
    round: 0,
    wave: 0,
  };
  // 0. Scheduled: only a rollout with notBefore waits (one without yields exactly as before it existed).
  if (input.notBefore !== undefined) {
    const aborted = yield* scheduled(run, new Date(input.notBefore));
    if (aborted) return aborted;
  }
  for (let w = 0; w < input.waves.length; w++) {
    // 1. and 2. The wave's tenants, round by round, within the error budget; then, for a spec with a
    // health check, their health verdicts (which spend the same budget).
    const stopped = (yield* runWave(run, w)) ?? (yield* closeWave(run, w)) ?? (yield* healthGate(run, w));
    if (stopped) return stopped;
    if (w === input.waves.length - 1) break;
    // 3. Bake: a quiet period before the next wave (abort still ends it at once).
    if (input.bakeSeconds > 0) {
      const aborted = yield* bake(run, w);
      if (aborted) return aborted;
    }
    // 4. Approval gate: the Provider approves the wave before the next one starts.
    if (input.approval === "afterEachWave") {
      const aborted = yield* approve(run, w);
      if (aborted) return aborted;
    }
  }
  return yield* end(run, "Succeeded");
}

/** One execution of the `rollout` orchestration: what its phases share. */
interface RolloutRun {
  df: DurableApi;
  input: RolloutInput;
  id: string;
  inbox: EventInbox<RolloutEventPayloads, "rolloutControl">;
  /** Rounds launched so far, across waves and the rollback (batch instance ids carry it). */
  round: number;
  /** The wave running (or the last one run). */
  wave: number;
}

/**
 * 0. Scheduled until `notBefore`: durable timers (each at most a day, SCHEDULED_RECHECK_MS, so under
 *    MAX_TIMER_MS, through EventInbox.next) raced with the rollout's control events; each event and each
 *    day re-reads the record, and an abort ends the rollout Aborted at once, nothing started. A pause asked meanwhile is kept: the first
 *    wave then holds at its gate. A notBefore already past waits for nothing. Answers the end state when
 *    it ended.
 */
function* scheduled(run: RolloutRun, notBefore: Date): Generator<Task, RolloutState | undefined, unknown> {
  const { df, id } = run;
  let { control } = yield* update(df, { state: "Scheduled" }, id);
  df.setCustomStatus({ state: "Scheduled", notBefore: notBefore.toISOString() });
  while (!control.aborted && df.currentUtcDateTime < notBefore) {
    const recheck = df.currentUtcDateTime.getTime() + SCHEDULED_RECHECK_MS;
    yield* run.inbox.next(new Date(Math.min(notBefore.getTime(), recheck)));
    if (df.currentUtcDateTime >= notBefore) break;
    ({ control } = yield* update(df, {}, id));
  }
  if (control.aborted) return yield* end(run, "Aborted", ABORTED);
  return undefined;
}

/**
 * Runs wave `w` until its tenants have all been through a batch: pauses at the gate when paused, one
 * round of batches at a time. Answers the rollout's end state when it ended (abort, spent budget).
 */
function* runWave(run: RolloutRun, w: number): Generator<Task, RolloutState | undefined, unknown> {
  const { df, input, id } = run;
  run.wave = w;
  let { control } = yield* update(df, { state: "Running", wave: { index: w, state: "Running" } }, id);
  df.setCustomStatus({ state: "Running", wave: w });
  let pending = input.waves[w]!.tenants;
  while (pending.length > 0) {
    if (control.aborted) return yield* end(run, "Aborted", ABORTED);
    if (control.paused) {
      control = yield* gate(run, "Paused", w, (c) => !c.paused);
      if (control.aborted) return yield* end(run, "Aborted", ABORTED);
      yield* update(df, { state: "Running" }, id);
      df.setCustomStatus({ state: "Running", wave: w });
    }
    const { taken, results } = yield* launchRound(run, pending);
    pending = [...results.flatMap((r) => r.notStarted), ...pending.slice(taken)];
    const stops = new Set(results.map((r) => r.stop));
    // 2. Budget spent: nothing new starts; what was in flight has finished with the batches.
    if (stops.has("abort")) return yield* end(run, "Aborted", ABORTED);
    if (stops.has("halt")) return yield* halt(run, OVER_BUDGET);
    ({ control } = yield* update(df, {}, id));
  }
  return undefined;
}

/**
 * 1. One round: as many batches as the concurrency asks, each at most batchSize tenants, as
 *    sub-orchestrations in one Task.all, of the wave running or (`rollback`) of the rollback. Answers how
 *    many pending tenants it took and the batches' results.
 */
function* launchRound(
  run: RolloutRun,
  pending: string[],
  rollback = false,
): Generator<Task, { taken: number; results: BatchResult[] }, unknown> {
  const { df, input, id } = run;
  const round = ++run.round;
  const count = Math.ceil(input.maxConcurrency / input.laneConcurrency);
  const taken = pending.slice(0, count * input.batchSize);
  const launched = batches(taken, count, input.maxConcurrency);
  const results = (yield df.Task.all(
    launched.map((b, i) =>
      df.callSubOrchestrator(
        ROLLOUT_ORCHESTRATIONS.batch,
        {
          rolloutId: id,
          wave: run.wave,
          tenants: b.tenants,
          concurrency: b.share,
          sweepSeconds: input.sweepSeconds,
          ...(rollback ? { rollback: true as const } : {}),
        } satisfies BatchInput,
        rollback ? rollbackBatchInstanceId(id, round, i) : rolloutBatchInstanceId(id, run.wave, round, i),
      ),
    ),
  )) as BatchResult[];
  return { taken: taken.length, results };
}

/**
 * A wave ends only when its tenants have; the budget and an abort are checked once more here, so neither
 * a pause that drained a batch nor an abort after the last start can end it Succeeded.
 */
function* closeWave(run: RolloutRun, w: number): Generator<Task, RolloutState | undefined, unknown> {
  const done = yield* update(run.df, { wave: { index: w, state: "Completed" }, checkBudget: true }, run.id);
  if (done.control.aborted) return yield* end(run, "Aborted", ABORTED);
  if (done.overBudget) return yield* halt(run, OVER_BUDGET);
  return undefined;
}

/**
 * 2b. Health gate, only when the spec carries a health check (`input.healthGate`; every other input,
 *     and every rollout 0.4.0 or older started, yields exactly as before): each succeeded tenant's agent
 *     probes for the check's window after its deployment succeeded, so once the wave has closed the
 *     rollout waits Baking until every verdict is in, or the window and a grace have passed (a tenant
 *     still silent is Unknown, which spends nothing). Verdicts are re-read every intervalSeconds (within
 *     HEALTH_POLL_MS); unhealthy tenants spend the error budget, and a spent budget halts the rollout. An
 *     abort ends it at once. Answers the end state when it ended.
 */
function* healthGate(run: RolloutRun, w: number): Generator<Task, RolloutState | undefined, unknown> {
  const { df, input, id } = run;
  const gate = input.healthGate;
  if (!gate) return undefined;
  yield* update(df, { state: "Baking", wave: { index: w, state: "Baking" } }, id);
  df.setCustomStatus({ state: "Baking", wave: w, health: "awaiting verdicts" });
  // The grace rides in the input (decided at start), so a change of it never changes a replay.
  const deadline = df.currentUtcDateTime.getTime() + (gate.windowSeconds + gate.graceSeconds) * 1000;
  const every = Math.max(gate.intervalSeconds, gate.windowSeconds / 20) * 1000;
  const poll = Math.min(Math.max(every, HEALTH_POLL_MS.min), HEALTH_POLL_MS.max);
  for (;;) {
    const final = df.currentUtcDateTime.getTime() >= deadline;
    const health = yield* rideOut(df, ROLLOUT_ACTIVITIES.waveHealth, { rolloutId: id, wave: w, final });
    if (health.overBudget) return yield* halt(run, UNHEALTHY);
    if (health.awaiting === 0 || final) {
      yield* update(df, { wave: { index: w, state: "Completed" } }, id);
      return undefined;
    }
    const next = Math.min(deadline, df.currentUtcDateTime.getTime() + poll);
    const got = yield* run.inbox.next(new Date(next));
    if (got.length === 0) continue;
    const { control } = yield* update(df, {}, id);
    if (control.aborted) return yield* end(run, "Aborted", ABORTED);
  }
}

/** 3. Bakes wave `w` for bakeSeconds; an abort ends the rollout at once (answered). */
function* bake(run: RolloutRun, w: number): Generator<Task, RolloutState | undefined, unknown> {
  const { df, input, id } = run;
  yield* update(df, { state: "Baking", wave: { index: w, state: "Baking" } }, id);
  df.setCustomStatus({ state: "Baking", wave: w });
  const bakeEnd = new Date(df.currentUtcDateTime.getTime() + input.bakeSeconds * 1000);
  while (df.currentUtcDateTime < bakeEnd) {
    const got = yield* run.inbox.next(bakeEnd);
    if (got.length === 0) break;
    const { control } = yield* update(df, {}, id);
    if (control.aborted) return yield* end(run, "Aborted", ABORTED);
  }
  yield* update(df, { wave: { index: w, state: "Completed" } }, id);
  return undefined;
}

/** 4. Waits for wave `w`'s approval; an abort ends the rollout (answered). */
function* approve(run: RolloutRun, w: number): Generator<Task, RolloutState | undefined, unknown> {
  const control = yield* gate(run, "WaitingForApproval", w, (c) => (c.approved ?? []).includes(w));
  if (control.aborted) return yield* end(run, "Aborted", ABORTED);
  yield* update(run.df, { wave: { index: w, state: "Completed" } }, run.id);
  return undefined;
}

/** Waits (on events, re-reading the rollout on each) until `open` says the gate is open or abort is asked. */
function* gate(
  run: RolloutRun,
  state: RolloutState,
  wave: number,
  open: (c: RolloutControl) => boolean,
): Generator<Task, RolloutControl, unknown> {
  const { df, id } = run;
  let { control } = yield* update(
    df,
    { state, wave: { index: wave, state: state === "Paused" ? "Running" : "WaitingForApproval" } },
    id,
  );
  df.setCustomStatus({ state, wave });
  while (!control.aborted && !open(control)) {
    yield* run.inbox.next(new Date(df.currentUtcDateTime.getTime() + GATE_RECHECK_MS));
    ({ control } = yield* update(df, {}, id));
  }
  return control;
}

/**
 * Every halt of the rollout goes through here (the spent error budget, and any later reason), so each
 * halts the same way: with onHalt "rollback" the rollout rolls back first (rollBack), else it ends Halted
 * with `message` at once. Only an input asking for rollback (0.5.0 and later) takes the new path: every
 * other input yields exactly what it yielded before (docs/upgrading.md, rule 2).
 */
function* halt(run: RolloutRun, message: string): Generator<Task, RolloutState, unknown> {
  if (run.input.onHalt !== "rollback") return yield* end(run, "Halted", message);
  return yield* rollBack(run, message);
}

/**
 * The rollback: RollingBack (nothing new of the rollout starts; `rollout.halted` is published), the plan
 * (each tenant that got the release, marked with its previous release or NotPossible), then those tenants
 * in rounds of rollback batches under maxConcurrency, as the waves run. Pause and the budget do not stop
 * it; an abort does (the batches cancel their rollbacks in flight): the rollout ends Aborted. Otherwise it
 * ends Halted, the message saying what the rollback did (`rollout.rolledBack`).
 */
function* rollBack(run: RolloutRun, message: string): Generator<Task, RolloutState, unknown> {
  const { df, id } = run;
  yield* update(df, { state: "RollingBack", skipPending: true, message }, id);
  df.setCustomStatus({ state: "RollingBack" });
  const { tenants } = yield* rideOut(df, ROLLOUT_ACTIVITIES.planRollback, { rolloutId: id });
  let { control } = yield* update(df, { rollback: "Running" }, id);
  let pending = tenants;
  let stop: BatchStop | undefined = control.aborted ? "abort" : undefined;
  while (pending.length > 0 && !stop) {
    const { taken, results } = yield* launchRound(run, pending, true);
    pending = [...results.flatMap((r) => r.notStarted), ...pending.slice(taken)];
    stop = results.find((r) => r.stop === "abort")?.stop ?? results.find((r) => r.stop)?.stop;
    if (!stop) ({ control } = yield* update(df, {}, id));
    if (control.aborted) stop = "abort";
  }
  if (stop === "abort")
    return yield* end(run, "Aborted", `${message}; ${ABORTED} while rolling back`, "Aborted");
  return yield* end(run, "Halted", message, "Completed");
}

/** Ends the rollout in `state`: the record says so (tenants still Pending are Skipped unless it succeeded). */
function* end(
  run: RolloutRun,
  state: RolloutState,
  message?: string,
  rollback?: UpdateRolloutInput["rollback"],
): Generator<Task, RolloutState, unknown> {
  yield* update(
    run.df,
    {
      state,
      skipPending: state !== "Succeeded",
      completed: true,
      ...(message ? { message } : {}),
      ...(rollback ? { rollback } : {}),
    },
    run.id,
  );
  run.df.setCustomStatus({ state });
  return state;
}

function* rolloutBatchOrchestrator(context: OrchestrationContext): Generator<Task, BatchResult, unknown> {
  const df = context.df;
  const input = df.getInput() as BatchInput;
  const inbox = new EventInbox<RolloutEventPayloads, "deploymentFinished">(df, [
    ROLLOUT_EVENTS.deploymentFinished,
  ]);
  let pending = [...input.tenants];
  const inFlight = new Map<string, InFlightDeployment>();
  let stop: BatchStop | undefined;
  let finished: FinishedDeployment[] = [];
  let sweep = false;
  let sweepMs = input.sweepSeconds * 1000;
  for (;;) {
    for (const f of finished) inFlight.delete(f.tenant);
    const room = stop ? 0 : Math.max(0, input.concurrency - inFlight.size);
    const advance: AdvanceBatchInput = {
      rolloutId: input.rolloutId,
      batchInstanceId: df.instanceId,
      finished,
      sweep,
      inFlight: [...inFlight.values()],
      start: pending.slice(0, room),
      ...(stop ? { stopped: stop } : {}),
      ...(input.rollback ? { rollback: true as const } : {}),
    };
    const r: AdvanceBatchResult = yield* rideOut(df, ROLLOUT_ACTIVITIES.advanceBatch, advance);
    for (const f of r.finished) inFlight.delete(f.tenant);
    for (const u of r.unconfirmed ?? []) inFlight.set(u.tenant, u);
    for (const s of r.started) inFlight.set(s.tenant, s);
    const handled = new Set([...r.started, ...r.finished].map((d) => d.tenant));
    pending = pending.filter((t) => !handled.has(t));
    // A stronger reason wins: a pause must not hide a spent budget or an abort that comes after it.
    if (r.stop && STOP_RANK[r.stop] > (stop ? STOP_RANK[stop] : 0)) stop = r.stop;
    df.setCustomStatus({ inFlight: inFlight.size, pending: pending.length, ...(stop ? { stop } : {}) });
    if (inFlight.size === 0 && (pending.length === 0 || stop)) break;
    // Slots freed by tenants that could not start or by the sweep are filled at once, not after a wait.
    if (!stop && pending.length > 0 && inFlight.size < input.concurrency && r.finished.length > 0) {
      finished = [];
      sweep = false;
      continue;
    }
    // Wait for deployments to finish; a quiet spell means a sweep (backing off while nothing changes).
    const received = yield* inbox.next(new Date(df.currentUtcDateTime.getTime() + sweepMs));
    finished = received
      .map((e) => e.value as FinishedDeployment)
      .filter((f) => {
        const d = inFlight.get(f.tenant);
        return d !== undefined && d.id === f.id && d.attempt === f.attempt;
      });
    sweep = received.length === 0;
    sweepMs = sweep ? Math.min(sweepMs * 2, MAX_SWEEP_MS) : input.sweepSeconds * 1000;
  }
  return { ...(stop ? { stop } : {}), notStarted: pending };
}

durable.app.orchestration(ROLLOUT_ORCHESTRATIONS.rollout, rolloutOrchestrator);
durable.app.orchestration(ROLLOUT_ORCHESTRATIONS.batch, rolloutBatchOrchestrator);
