/**
 * One delivery attempt (the `deliverNotification` activity): the event as CloudEvents 1.0 JSON, POSTed to
 * the subscription's URL with the Standard Webhooks headers, signed with the secret held in the app
 * setting the subscription names. The connection goes only to addresses the target policy allows
 * (./targets.ts): the address check happens in the connection's own lookup, so a name cannot resolve to
 * a public address for the check and an internal one for the connection. Redirects are not followed.
 *
 * Outcome: a 2xx answer is Delivered; a 408, 429 or 5xx answer, a network failure, a timeout, a name that
 * does not resolve or a secret setting that is not set yet is worth another attempt; anything else (a 3xx
 * or another 4xx, a target the policy refuses, a deleted subscription) never will be, and ends the
 * delivery. Every attempt is recorded in the delivery log.
 */
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { Logger } from "../logging/logger";
import type { HostResolver } from "../tenants/network";
import type { AttemptInput, AttemptResult } from "./contract";
import { webhookSignature } from "./model";
import type { Delivery, DeliveryLog, SubscriptionStore } from "./store";
import { addressAllowed, targetProblem, type TargetPolicy } from "./targets";

export interface DeliveryDeps {
  subscriptions: Pick<SubscriptionStore, "get">;
  deliveries: Pick<DeliveryLog, "record">;
  policy: TargetPolicy;
  resolve: HostResolver;
  /** Where the secret settings are read (the app settings). */
  env: NodeJS.ProcessEnv;
  now?: () => Date;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

class RefusedTarget extends Error {}

/** A lookup for the connection that answers only addresses the policy allows. */
function checkedLookup(url: URL, deps: Pick<DeliveryDeps, "resolve" | "policy">): LookupFunction {
  return (hostname, options, callback) => {
    void (async () => {
      const addresses = await deps.resolve(hostname);
      if (addresses.length === 0) throw new Error(`${hostname} does not resolve`);
      if (!addresses.every((a) => addressAllowed(a, deps.policy)))
        throw new RefusedTarget(`${url.hostname} resolves to an internal address`);
      const entries = addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
      const [first] = entries as [{ address: string; family: number }];
      if (options.all) callback(null, entries);
      else callback(null, first.address, first.family);
    })().catch((error: unknown) => callback(error as NodeJS.ErrnoException, "", 4));
  };
}

/**
 * POSTs the body; answers the status code, or throws on a network failure, the deadline (the whole
 * attempt, not an idle socket) or a refused target. The answer's body is never read: the connection is
 * closed once its status is known. No pooled connection is reused, so every connection passes the lookup.
 */
function post(url: URL, headers: Record<string, string>, body: string, deps: DeliveryDeps): Promise<number> {
  const send = url.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const request = send(
      url,
      {
        method: "POST",
        headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
        lookup: checkedLookup(url, deps),
        agent: false,
      },
      (response) => {
        clearTimeout(deadline);
        resolve(response.statusCode ?? 0);
        response.destroy();
      },
    );
    const deadline = setTimeout(
      () => request.destroy(new Error("timed out")),
      deps.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    );
    request.on("error", (error) => {
      clearTimeout(deadline);
      reject(error);
    });
    request.end(body);
  });
}

const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * One attempt; never throws (a failing store is an attempt to repeat, so the orchestration never fails and
 * the occurrence is never lost to a Failed instance). A log row that cannot be written is logged instead.
 */
export async function deliverAttempt(
  deps: DeliveryDeps,
  input: AttemptInput,
  log: Logger,
): Promise<AttemptResult> {
  try {
    return await attempt(deps, input, log);
  } catch (error) {
    const reason = `the Provider could not attempt it: ${error instanceof Error ? error.message : String(error)}`;
    log.warn("notification not delivered", {
      subscriptionId: input.subscriptionId,
      eventId: input.event.id,
      attempt: input.attempt,
      reason,
    });
    return { delivered: false, retry: true, reason };
  }
}

async function attempt(deps: DeliveryDeps, input: AttemptInput, log: Logger): Promise<AttemptResult> {
  const now = deps.now ?? (() => new Date());
  const started = now();
  const ids = { subscriptionId: input.subscriptionId, eventId: input.event.id, attempt: input.attempt };
  const finish = async (result: AttemptResult, status?: number): Promise<AttemptResult> => {
    const failed = !result.delivered;
    const entry: Delivery = {
      subscriptionId: input.subscriptionId,
      eventId: input.event.id,
      eventType: input.event.type,
      attempt: input.attempt,
      result: result.delivered ? "Delivered" : result.retry && !input.last ? "Failed" : "GaveUp",
      ...(status !== undefined ? { status } : {}),
      ...(failed ? { error: result.reason } : {}),
      at: started.toISOString(),
      durationMs: now().getTime() - started.getTime(),
    };
    await deps.deliveries
      .record(entry)
      .catch((error: unknown) => log.warn("delivery not recorded", { ...ids, result: entry.result, error }));
    if (failed)
      log.warn("notification not delivered", { ...ids, result: entry.result, reason: result.reason });
    else log.info("notification delivered", { ...ids, status });
    return result;
  };
  const subscription = await deps.subscriptions.get(input.subscriptionId);
  if (!subscription)
    return finish({ delivered: false, retry: false, reason: "the subscription was deleted" });
  const url = new URL(subscription.url);
  const refused = targetProblem(url, deps.policy);
  if (refused) return finish({ delivered: false, retry: false, reason: `target refused: ${refused}` });
  const secret = deps.env[subscription.secretSetting];
  if (!secret)
    return finish({
      delivered: false,
      retry: true,
      reason: `the app setting ${subscription.secretSetting} (the signing secret) is not set`,
    });
  const body = JSON.stringify(input.event);
  const timestamp = Math.floor(started.getTime() / 1000);
  const headers = {
    "content-type": "application/cloudevents+json; charset=utf-8",
    "webhook-id": input.event.id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": webhookSignature(secret, input.event.id, timestamp, body),
  };
  let status: number;
  try {
    status = await post(url, headers, body, deps);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return finish({ delivered: false, retry: !(error instanceof RefusedTarget), reason });
  }
  if (status >= 200 && status < 300) return finish({ delivered: true }, status);
  return finish({ delivered: false, retry: retryable(status), reason: `answered HTTP ${status}` }, status);
}
