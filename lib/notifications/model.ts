/**
 * Webhook notifications: what a subscription is, the events, and the CloudEvents 1.0 envelope each is
 * delivered in (structured JSON mode), signed with HMAC-SHA256 by the Standard Webhooks convention
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` over `<id>.<timestamp>.<body>`),
 * with the value of the app setting the subscription names as the key: the secret itself is never stored
 * or answered.
 */
import { createHmac } from "node:crypto";
import { z } from "zod";
import type { Actor } from "../http/auth";

export const EVENT_TYPES = [
  "deployment.finished",
  "rollout.waitingForApproval",
  "rollout.halted",
  "rollout.finished",
  "rollout.rolledBack",
  "tenant.quarantined",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const MAX_SUBSCRIPTIONS = 100;

export const subscriptionRequestSchema = z.strictObject({
  url: z.url({ error: "must be an absolute URL" }).max(2048, "must be at most 2048 characters"),
  events: z
    .array(z.enum(EVENT_TYPES, { error: `must be one of ${EVENT_TYPES.join(", ")}` }))
    .min(1, "must name at least one event")
    .max(EVENT_TYPES.length),
  secretSetting: z
    .string()
    .regex(
      /^WEBHOOK_SECRET_[A-Za-z0-9_]{1,112}$/,
      "must be the name of an app setting WEBHOOK_SECRET_<name> that holds the signing secret",
    ),
  description: z.string().max(500).optional(),
});
export type SubscriptionRequest = z.infer<typeof subscriptionRequestSchema>;

export interface Subscription {
  id: string;
  url: string;
  events: EventType[];
  secretSetting: string;
  description?: string;
  createdAt: string;
  createdBy: Actor;
}

/** A CloudEvents 1.0 event in structured JSON mode. */
export interface CloudEvent {
  specversion: "1.0";
  /** Stable for one occurrence: a repeat of the same occurrence carries the same id (receivers dedupe). */
  id: string;
  /** The product and its object: `/deployments/<id>`, `/rollouts/<id>`, `/tenants/<name>`. */
  source: string;
  type: EventType;
  subject?: string;
  time: string;
  datacontenttype: "application/json";
  data: Record<string, unknown>;
}

export function cloudEvent(
  type: EventType,
  source: string,
  occurrence: string,
  data: Record<string, unknown>,
  time: string,
): CloudEvent {
  return {
    specversion: "1.0",
    id: `${type}:${occurrence}`,
    source,
    type,
    time,
    datacontenttype: "application/json",
    data,
  };
}

/**
 * The HMAC key of a secret: a Standard Webhooks secret (`whsec_<base64>`) is its decoded bytes, as every
 * Standard Webhooks library reads it; any other value is used as its UTF-8 bytes.
 */
function signingKey(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX)
    ? Buffer.from(secret.slice(SECRET_PREFIX.length), "base64")
    : Buffer.from(secret, "utf8");
}
const SECRET_PREFIX = "whsec_";

/** The Standard Webhooks signature header value of one delivery. */
export function webhookSignature(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac("sha256", signingKey(secret)).update(`${id}.${timestamp}.${body}`).digest("base64");
  return `v1,${mac}`;
}
