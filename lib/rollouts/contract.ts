/**
 * The rollout workflow's typed contract: its orchestrations, instance ids, inputs and activities (called
 * through `call`, lib/durable/activities.ts, registered by activities/rollout.ts). Names and
 * payload shapes are part of the durable history: renaming one breaks in-flight rollouts.
 */
import { activity } from "../durable/activities";
import { EVENTS, type DeploymentFinished } from "../deployments/contract";
import type { Outcome } from "../deployments/model";
import type { PlannedWave, RolloutControl, RolloutState, RollbackSummary, WaveState } from "./model";

export const ROLLOUT_ORCHESTRATIONS = { rollout: "rollout", batch: "rolloutBatch" } as const;

/** The rollout's own event (a control was recorded: re-read the rollout), beside what a batch hears. */
export const ROLLOUT_EVENTS = {
  rolloutControl: "rolloutControl",
  deploymentFinished: EVENTS.deploymentFinished,
} as const;

/** What each event a rollout orchestration waits for carries. */
export interface RolloutEventPayloads {
  rolloutControl: { action: string };
  deploymentFinished: DeploymentFinished;
}

export function rolloutInstanceId(rolloutId: string): string {
  return `rollout:${rolloutId}`;
}

/** A batch of a wave; `round` counts the wave's launches (a resume after a pause launches again). */
export function rolloutBatchInstanceId(
  rolloutId: string,
  wave: number,
  round: number,
  batch: number,
): string {
  return `rollout:${rolloutId}:w${wave}:r${round}:b${batch}`;
}

/** A batch of a rollback (onHalt "rollback"); `round` counts on from the waves' rounds. */
export function rollbackBatchInstanceId(rolloutId: string, round: number, batch: number): string {
  return `rollout:${rolloutId}:rollback:r${round}:b${batch}`;
}

export interface RolloutInput {
  rolloutId: string;
  waves: PlannedWave[];
  maxConcurrency: number;
  bakeSeconds: number;
  approval: "none" | "afterEachWave";
  /** Tenants one batch orchestration runs at most: bounds each history. */
  batchSize: number;
  /** Deployments one batch keeps in flight at most; more concurrency means more batches at once. */
  laneConcurrency: number;
  /** How long a batch waits for a finished deployment before it sweeps its in-flight ones. */
  sweepSeconds: number;
  /**
   * Start no wave before this instant (ISO 8601): the rollout is Scheduled on a durable timer until then.
   * Absent on every rollout started without it, and on all started before 0.4.0: those yield as before.
   */
  notBefore?: string;
  /**
   * The spec carries a health check (docs/rollouts.md, "Health gates"): after each wave's deployments
   * end, the rollout waits for its tenants' health verdicts, and an unhealthy tenant counts against
   * maxErrors. Absent otherwise, and on every rollout started before 0.5.0: those yield as before.
   */
  healthGate?: {
    windowSeconds: number;
    intervalSeconds: number;
    /** How long after the window a verdict may still come (HEALTH_REPORT_GRACE_MS when started). */
    graceSeconds: number;
  };
  /**
   * "rollback": a halt rolls back the tenants that got the release (the `halt` phase). Present only when
   * asked (0.5.0 and later): every input without it halts, and yields, exactly as before.
   */
  onHalt?: "rollback";
}

export interface BatchInput {
  rolloutId: string;
  wave: number;
  tenants: string[];
  /** This batch's share of the rollout's maxConcurrency. */
  concurrency: number;
  sweepSeconds: number;
  /** A rollback batch: its tenants are rolled back to their previous release (passed to advanceBatch). */
  rollback?: true;
}

/** Why a batch stopped starting deployments. */
export type BatchStop = "halt" | "pause" | "abort";

export interface BatchResult {
  stop?: BatchStop;
  /** Tenants the batch did not start (a pause leaves them Pending; halt and abort mark them Skipped). */
  notStarted: string[];
}

export interface InFlightDeployment {
  tenant: string;
  id: string;
  attempt: number;
}

export interface FinishedDeployment extends InFlightDeployment {
  outcome: Outcome;
  message?: string;
}

export interface AdvanceBatchInput {
  rolloutId: string;
  /** The batch instance: deployments it starts notify it. */
  batchInstanceId: string;
  /** Outcomes learnt from `deploymentFinished` events since the last call. */
  finished: FinishedDeployment[];
  /** Nothing came for a while: read the in-flight deployments' records instead. */
  sweep: boolean;
  inFlight: InFlightDeployment[];
  /** Tenants to start now if the rollout may go on (pause, abort and the error budget may refuse). */
  start: string[];
  /** The batch saw this stop before (so in-flight deployments were already cancelled on abort). */
  stopped?: BatchStop;
  /**
   * Rollback mode: `start` tenants are rolled back (their row's rollbackRelease, `rollbackOf` their
   * deployment), outcomes go to the rollback columns, and only an abort stops it.
   */
  rollback?: true;
}

export interface AdvanceBatchResult {
  /** Outcomes the call learnt by itself (the sweep, deployments that could not start). */
  finished: FinishedDeployment[];
  started: InFlightDeployment[];
  stop?: BatchStop;
  /** Reported finished by an event the ledger does not confirm (forged): still in flight. */
  unconfirmed?: InFlightDeployment[];
}

export interface UpdateRolloutInput {
  rolloutId: string;
  state?: RolloutState;
  wave?: { index: number; state: WaveState };
  /** Mark every tenant still Pending as Skipped (halt, abort). */
  skipPending?: boolean;
  /** The rollout ended (state is terminal). */
  completed?: boolean;
  message?: string;
  /** Answer whether the failures exceed maxErrors. */
  checkBudget?: boolean;
  /**
   * The rollback's state: the header's `rollback` summary is (re)counted from the tenant rows; with
   * "Completed" the message gains what the rollback did; with "Aborted" rollbacks not started are Skipped.
   */
  rollback?: RollbackSummary["state"];
}

export interface UpdateRolloutResult {
  control: RolloutControl;
  /** With checkBudget: the failures exceed maxErrors. */
  overBudget?: boolean;
}

export interface WaveHealthInput {
  rolloutId: string;
  wave: number;
  /** The gate's deadline has passed: a tenant still without a verdict is recorded Unknown. */
  final: boolean;
}

export interface WaveHealthResult {
  /** The wave's succeeded tenants still without a verdict. */
  awaiting: number;
  /** Failures and unhealthy tenants together exceed maxErrors. */
  overBudget: boolean;
}

export interface PlanRollbackInput {
  rolloutId: string;
}

export interface PlanRollbackResult {
  /** The tenants to roll back (each row marked with its previous release), in tenant order. */
  tenants: string[];
}

export const ROLLOUT_ACTIVITIES = {
  advanceBatch: activity<AdvanceBatchInput, AdvanceBatchResult>("rolloutAdvanceBatch"),
  update: activity<UpdateRolloutInput, UpdateRolloutResult>("rolloutUpdate"),
  waveHealth: activity<WaveHealthInput, WaveHealthResult>("rolloutWaveHealth"),
  planRollback: activity<PlanRollbackInput, PlanRollbackResult>("rolloutPlanRollback"),
} as const;
