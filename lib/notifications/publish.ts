/**
 * Publishing an event: for every subscription to its type, the delivery orchestration of that
 * (subscription, occurrence) is started unless it exists, so publishing the same occurrence again (an
 * activity run twice, a retried request) delivers it once. Publishing never throws: a notification must
 * never fail or delay the work it reports (a failure is logged; the event is then not delivered).
 */
import type { DurableClient } from "durable-functions";
import { runtimeStatus } from "../durable/instances";
import type { Logger } from "../logging/logger";
import {
  DELIVERY_RETRY,
  type DeliveryInput,
  deliveryInstanceId,
  NOTIFICATION_ORCHESTRATION,
} from "./contract";
import type { CloudEvent, Subscription } from "./model";
import type { SubscriptionStore } from "./store";

export interface EventPublisher {
  publish(client: DurableClient, event: CloudEvent, log: Logger): Promise<void>;
}

/**
 * Starts the delivery unless it exists: a running or finished one is this occurrence's (dedupe); a
 * Failed or Terminated one (its store failed it, or an operator stopped it) is started again.
 */
async function startDelivery(
  client: DurableClient,
  subscriptionId: string,
  event: CloudEvent,
  log: Logger,
): Promise<void> {
  const instanceId = deliveryInstanceId(subscriptionId, event.id);
  try {
    const status = await runtimeStatus(client, instanceId);
    if (status !== undefined && !RESTARTABLE.has(status)) return;
    const input: DeliveryInput = { subscriptionId, event, ...DELIVERY_RETRY };
    await client.startNew(NOTIFICATION_ORCHESTRATION, { instanceId, input });
  } catch (error) {
    // A concurrent publication of the same occurrence may have started it first: that is the delivery.
    if ((await runtimeStatus(client, instanceId).catch(() => undefined)) !== undefined) return;
    log.warn("notification not published", { eventId: event.id, type: event.type, subscriptionId, error });
  }
}

const RESTARTABLE = new Set(["Failed", "Terminated"]);

export function eventPublisher(subscriptions: Pick<SubscriptionStore, "list">): EventPublisher {
  return {
    async publish(client, event, log) {
      let targets: Subscription[];
      try {
        targets = (await subscriptions.list()).filter((s) => s.events.includes(event.type));
      } catch (error) {
        log.warn("notification not published", { eventId: event.id, type: event.type, error });
        return;
      }
      // Each subscription on its own: one that cannot be started does not cost the others their event.
      await Promise.all(targets.map((s) => startDelivery(client, s.id, event, log)));
    },
  };
}
