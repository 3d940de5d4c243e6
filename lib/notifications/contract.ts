/**
 * The `notificationDelivery` orchestration's contract: one instance per (subscription, event occurrence),
 * instance id `notify:<subscription>:<hash of the event id>`, so a repeated publication of the same
 * occurrence finds the instance already there. It calls `deliverNotification` once per attempt and waits
 * between attempts on durable timers (DELIVERY_RETRY), until a delivery succeeds, cannot succeed, or the
 * attempts run out.
 */
import { createHash } from "node:crypto";
import { activity } from "../durable/activities";
import type { CloudEvent } from "./model";

export const NOTIFICATION_ORCHESTRATION = "notificationDelivery";

/** Back-off between attempts: 10 s, doubling, at most an hour between two; 8 attempts over about 21 minutes. */
export const DELIVERY_RETRY = { attempts: 8, firstSeconds: 10, maxSeconds: 3600 } as const;

export interface DeliveryInput {
  subscriptionId: string;
  event: CloudEvent;
  /** The attempt limit, fixed at the start (a later change of DELIVERY_RETRY does not move an instance). */
  attempts: number;
  firstSeconds: number;
  maxSeconds: number;
}

export interface AttemptInput {
  subscriptionId: string;
  event: CloudEvent;
  attempt: number;
  /** The last attempt: a failure is recorded as GaveUp. */
  last: boolean;
}

/** What one attempt came to: delivered, worth trying again, or never going to succeed (no retry). */
export type AttemptResult = { delivered: true } | { delivered: false; retry: boolean; reason: string };

export const NOTIFICATION_ACTIVITIES = {
  deliver: activity<AttemptInput, AttemptResult>("deliverNotification"),
};

export function deliveryInstanceId(subscriptionId: string, eventId: string): string {
  return `notify:${subscriptionId}:${createHash("sha256").update(eventId).digest("hex").slice(0, 32)}`;
}
