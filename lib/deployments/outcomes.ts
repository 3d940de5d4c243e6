/**
 * An attempt's outcome as another workflow (a rollout) reads it: only ever from the ledger, the one
 * record of outcomes (an event saying a deployment finished may be forged). Undefined while the attempt
 * has none (or has no record).
 */
import type { DurableClient } from "durable-functions";
import type { Logger } from "../logging/logger";
import type { DeploymentDeps } from "./deps";
import { type DeploymentRecord, isTerminal, type Outcome } from "./model";
import { reconcile } from "./reconcile";

/** Identifies one attempt of a deployment. */
interface AttemptRef {
  tenant: string;
  id: string;
  attempt: number;
}

interface AttemptOutcome {
  outcome: Outcome;
  message?: string;
}

function outcomeOf(record: DeploymentRecord | undefined): AttemptOutcome | undefined {
  if (!record || !isTerminal(record) || !record.outcome) return undefined;
  return { outcome: record.outcome, ...(record.message !== undefined ? { message: record.message } : {}) };
}

/** The outcome the ledger holds for the attempt. */
export async function recordedOutcome(
  deps: DeploymentDeps,
  ref: AttemptRef,
): Promise<AttemptOutcome | undefined> {
  return outcomeOf(await deps.ledger.get(ref.tenant, ref.id, ref.attempt));
}

/**
 * The attempt's outcome once its record is brought in line with its instance (reconcile): an attempt
 * whose instance ended behind the product's back has its outcome written now.
 */
export async function settledOutcome(
  deps: DeploymentDeps,
  client: DurableClient,
  ref: AttemptRef,
  log: Logger,
): Promise<AttemptOutcome | undefined> {
  const record = await deps.ledger.get(ref.tenant, ref.id, ref.attempt);
  if (!record) return undefined;
  return outcomeOf(await reconcile(deps, client, record, log));
}
