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
import type { CloudEvent } from "./model";
import type { SubscriptionStore } from "./store";

export interface EventPublisher {
  publish(client: DurableClient, event: CloudEvent, log: Logger): Promise<void>;
}

export function eventPublisher(subscriptions: Pick<SubscriptionStore, "list">): EventPublisher {
  return {
    async publish(client, event, log) {
      try {
        const targets = (await subscriptions.list()).filter((s) => s.events.includes(event.type));
        for (const s of targets) {
          const instanceId = deliveryInstanceId(s.id, event.id);
          if ((await runtimeStatus(client, instanceId)) !== undefined) continue;
          const input: DeliveryInput = { subscriptionId: s.id, event, ...DELIVERY_RETRY };
          await client.startNew(NOTIFICATION_ORCHESTRATION, { instanceId, input });
        }
      } catch (error) {
        log.warn("notification not published", { eventId: event.id, type: event.type, error });
      }
    },
  };
}
