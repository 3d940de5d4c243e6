/**
 * A rollout's record brought in line with its orchestration: the Durable API can terminate or purge the
 * `rollout` instance behind the product's back, and the record must not then show Running forever. A
 * terminated or lost instance ends the rollout Aborted (naming why): its tenants not started are Skipped,
 * and the batches, which read the record before every start, stop and cancel what they have in flight, as
 * on abort. A Failed instance is a failure of the Provider's own (a bug, a storage outage, a release that
 * broke replay), never the customers': the rollout ends Halted with the cause, nothing new starts, and the
 * deployments in flight finish with their real outcomes; nobody's work is cancelled. A rollout ended so
 * while RollingBack records its rollback as Aborted (the batches stop starting rollbacks, as above).
 */
import type { DurableClient } from "durable-functions";
import { ENDED_STATUSES, instanceState, reasonText, START_GRACE_MS } from "../durable/instances";
import type { RolloutDeps } from "./deps";
import { rolloutInstanceId } from "./contract";
import { TERMINAL_ROLLOUT_STATES, type RolloutRecord } from "./model";
import { createLogger } from "../logging/logger";
import { rolloutEvent } from "./events";

export async function reconcileRollout(
  rt: RolloutDeps,
  client: DurableClient,
  record: RolloutRecord,
): Promise<RolloutRecord> {
  if (TERMINAL_ROLLOUT_STATES.includes(record.state)) return record;
  const state = await instanceState(client, rolloutInstanceId(record.id));
  if (!state) return record;
  // As for a deployment: a rollout whose instance is still being started is not lost yet.
  const lost = !state.found && Date.now() - Date.parse(record.createdAt) > START_GRACE_MS;
  const ended = state.found && ENDED_STATUSES.has(state.runtimeStatus);
  if (!lost && !ended) return record;
  const ours = state.found && state.runtimeStatus === "Failed";
  const why = !state.found
    ? "the rollout's orchestration is gone"
    : ours
      ? `the rollout's orchestration failed (deployments in flight finish; nothing was cancelled): ${reasonText(state.output, "no reason given")}`
      : `the rollout's orchestration ${state.runtimeStatus.toLowerCase()}`;
  const store = rt.rollouts;
  await store.skipPending(record.id);
  const updated = await store.update(record.id, (current) =>
    TERMINAL_ROLLOUT_STATES.includes(current.state)
      ? undefined
      : {
          ...current,
          state: ours ? "Halted" : "Aborted",
          message: why,
          ...(current.rollback?.state === "Running"
            ? { rollback: { ...current.rollback, state: "Aborted" as const } }
            : {}),
          completedAt: new Date().toISOString(),
        },
  );
  // Subscribers hear of this end as of any other (a repeat publishes the same occurrence: delivered once).
  const event = rolloutEvent(updated, updated.state);
  if (event) await rt.events.publish(client, event, createLogger().with({ rolloutId: record.id }));
  return updated;
}
