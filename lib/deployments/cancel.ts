/**
 * The one way a deployment attempt is asked to cancel (the deployments API, a rollout's abort): the
 * request is recorded in the ledger with who asked and why, and only then is the `cancel` event raised
 * to the attempt's instance. Since release 0.3.0 the orchestration acts on a cancel event only when the
 * ledger holds such a request (./confirm.ts), so an event raised through the Durable management API
 * alone cancels nothing. A crash between the two leaves a recorded request without its event: the
 * caller's repeat raises it (recording again changes nothing).
 */
import type { DurableClient } from "durable-functions";
import { EVENTS } from "./contract";
import type { CancelRequested, DeploymentRecord } from "./model";
import { isTerminal } from "./model";
import type { DeploymentDeps } from "./deps";

interface CancelTarget {
  tenant: string;
  id: string;
  attempt: number;
}

/**
 * Records the cancel and raises its event; answers the record as it stands (undefined when the attempt
 * does not exist). Nothing is raised to an attempt that already has its outcome. A failed raise throws:
 * the request stays recorded and can be repeated.
 */
export async function requestCancel(
  rt: Pick<DeploymentDeps, "ledger">,
  client: Pick<DurableClient, "raiseEvent">,
  target: CancelTarget,
  request: Omit<CancelRequested, "at">,
): Promise<DeploymentRecord | undefined> {
  const record = await rt.ledger.requestCancel(target.tenant, target.id, target.attempt, request);
  if (!record || isTerminal(record)) return record;
  await client.raiseEvent(record.instanceId, EVENTS.cancel, { reason: request.reason });
  return record;
}
