/**
 * Announces that a deployment's outcome is written: publishes `deployment.finished` to the webhook
 * subscribers (lib/notifications), and tells the instance the deployment reports to (a rollout's batch,
 * `DeploymentRecord.rollout.notify`). Every writer of an outcome calls it after the write: the deployment
 * orchestration (completeDeployment), the terminate API and reconciliation. It never throws: the batch's
 * notification only saves it time, since a batch that hears nothing for a while reads its in-flight
 * records itself (its sweep), so a lost notification (a crash between the write and the raise, a store
 * that does not answer) delays the rollout and never fails the deployment that wrote its outcome. The
 * webhook event carries a stable id (`deployment.finished:<tenant>:<id>:<attempt>`), so announcing twice
 * delivers once; a crash between the write and the publication loses the event, except in the
 * orchestration's completeDeployment, which runs again.
 */
import type { DurableClient } from "durable-functions";
import type { Logger } from "../logging/logger";
import { EVENTS, type DeploymentFinished } from "./contract";
import type { DeploymentRecord, Outcome } from "./model";
import type { DeploymentDeps } from "./deps";
import { cloudEvent, type CloudEvent } from "../notifications/model";

/** The `deployment.finished` webhook event of an attempt's outcome. */
function finishedEvent(record: DeploymentRecord, outcome: Outcome): CloudEvent {
  return cloudEvent(
    "deployment.finished",
    `/deployments/${record.id}`,
    `${record.tenant}:${record.id}:${record.attempt}`,
    {
      tenant: record.tenant,
      deploymentId: record.id,
      attempt: record.attempt,
      outcome,
      ...(record.message !== undefined ? { message: record.message } : {}),
      ...(record.release !== undefined ? { release: record.release } : {}),
      ...(record.rollout ? { rolloutId: record.rollout.id } : {}),
    },
    record.completedAt ?? record.updatedAt,
  );
}
import { ENDED_STATUSES, instanceState } from "../durable/instances";

export async function notifyFinished(
  rt: Pick<DeploymentDeps, "events">,
  client: DurableClient,
  record: DeploymentRecord,
  log: Logger,
): Promise<void> {
  if (!record.outcome) return;
  await rt.events.publish(client, finishedEvent(record, record.outcome), log);
  const target = record.rollout?.notify;
  if (!target) return;
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
