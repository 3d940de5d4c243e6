/**
 * Tells the instance a deployment reports to (a rollout's batch, `DeploymentRecord.rollout.notify`) that
 * its outcome is written. Every writer of an outcome calls it after the write: the deployment
 * orchestration (completeDeployment), the terminate API and reconciliation. A notification to an instance
 * that no longer runs is dropped (the rollout ended); any other failure is thrown, so an activity retries
 * it. The rollout also sweeps its in-flight deployments, so a notification lost to a crash between the
 * write and the raise only delays it.
 */
import type { DurableClient } from "durable-functions";
import { EVENTS, type DeploymentFinished } from "./contract";
import type { DeploymentRecord } from "./model";
import { instanceState } from "./reconcile";

const ENDED = new Set(["Completed", "Failed", "Terminated"]);

export async function notifyFinished(client: DurableClient, record: DeploymentRecord): Promise<void> {
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
    const state = await instanceState(client, target);
    if (state && (!state.found || ENDED.has(state.runtimeStatus))) return;
    throw error;
  }
}
