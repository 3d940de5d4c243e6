/**
 * Registers `deliverNotification`, one webhook delivery attempt (lib/notifications/delivery.ts), for the
 * `notificationDelivery` orchestration.
 */
import * as df from "durable-functions";
import { runtime } from "../lib/app/runtime";
import { invocationLogger } from "../lib/logging/logger";
import { type AttemptInput, NOTIFICATION_ACTIVITIES } from "../lib/notifications/contract";
import { deliverAttempt } from "../lib/notifications/delivery";

df.app.activity(NOTIFICATION_ACTIVITIES.deliver.name, {
  handler: (input: AttemptInput, context) => {
    const rt = runtime();
    return deliverAttempt(
      {
        subscriptions: rt.subscriptions,
        deliveries: rt.deliveries,
        policy: { allowedHosts: rt.settings.webhookAllowedHosts, localMode: rt.settings.localMode },
        resolve: rt.resolveHost,
        env: process.env,
      },
      input,
      invocationLogger(context),
    );
  },
});
