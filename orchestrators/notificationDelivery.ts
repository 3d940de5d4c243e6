/**
 * The `notificationDelivery` orchestration (lib/notifications/contract.ts): one webhook delivery with
 * retries on durable timers, so a receiver that is down for a while, or a Provider restart, loses no
 * notification. Each attempt is one `deliverNotification` activity, which records itself in the delivery
 * log; the orchestration only decides when to try again.
 */
import * as durable from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { call } from "../lib/durable/activities";
import {
  type AttemptResult,
  type DeliveryInput,
  NOTIFICATION_ACTIVITIES,
  NOTIFICATION_ORCHESTRATION,
} from "../lib/notifications/contract";

export function* notificationDeliveryOrchestrator(
  context: OrchestrationContext,
): Generator<Task, AttemptResult, unknown> {
  const df = context.df;
  const input = df.getInput() as DeliveryInput;
  let result: AttemptResult = { delivered: false, retry: false, reason: "no attempt" };
  for (let attempt = 1; attempt <= input.attempts; attempt++) {
    const last = attempt === input.attempts;
    result = yield* call(df, NOTIFICATION_ACTIVITIES.deliver, {
      subscriptionId: input.subscriptionId,
      event: input.event,
      attempt,
      last,
    });
    if (result.delivered || !result.retry || last) return result;
    const delaySeconds = Math.min(input.firstSeconds * 2 ** (attempt - 1), input.maxSeconds);
    yield df.createTimer(new Date(df.currentUtcDateTime.getTime() + delaySeconds * 1000));
  }
  return result;
}

durable.app.orchestration(NOTIFICATION_ORCHESTRATION, notificationDeliveryOrchestrator);
