/**
 * Tells the instance a deployment reports to (a rollout's batch, `DeploymentRecord.rollout.notify`) that
 * its outcome is written. Every writer of an outcome calls it after the write: the deployment
 * orchestration (completeDeployment), the terminate API and reconciliation. It never throws: the
 * notification only saves the batch time, since a batch that hears nothing for a while reads its
 * in-flight records itself (its sweep), so a lost notification (a crash between the write and the raise, a
 * store that does not answer) delays the rollout and never fails the deployment that wrote its outcome.
 */
import type { DurableClient } from "durable-functions";
import type { Logger } from "../logging/logger";
import { EVENTS, type DeploymentFinished } from "./contract";
import type { DeploymentRecord } from "./model";
import { ENDED_STATUSES, instanceState } from "../durable/instances";

export async function notifyFinished(
  client: DurableClient,
  record: DeploymentRecord,
  log: Logger,
): Promise<void> {
  const target = record.rollout?.notify;
  if (!target || !record.outcome) return;
  const event: DeploymentFinished = {
    tenant: record.tenant,
    id: record.id,
    attempt: record.attempt,
    outcome: record.outcome,
    ...(record.message !== undefined ? { message: record.message } : {}),
  };
  try {
    await client.raiseEvent(target, EVENTS.deploymentFinished, event);
  } catch (error) {
    // A batch that has ended (the rollout is over, or it learnt the outcome by its sweep) needs nothing.
    const state = await instanceState(client, target);
    if (state && (!state.found || ENDED_STATUSES.has(state.runtimeStatus))) return;
    log.warn("rollout batch not notified; its sweep will find the outcome", {
      tenant: record.tenant,
      deploymentId: record.id,
      instanceId: target,
      error,
    });
  }
}
