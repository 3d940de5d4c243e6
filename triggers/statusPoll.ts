/**
 * Registers the baseline `statusPoll` timer, only when STATUS_DELIVERY=timerPoll at load time (the default
 * `pump` mode has no timer at all). Logic lives in lib/deployments/status-poll.ts.
 */
import * as df from "durable-functions";
import { loadStatusDelivery } from "../lib/config/settings";
import { runtime } from "../lib/app/runtime";
import { pollStatusesOnce } from "../lib/deployments/status-poll";
import { invocationLogger } from "../lib/logging/logger";

const delivery = loadStatusDelivery();

if (delivery.statusDelivery === "timerPoll") {
  df.app.client.timer("statusPoll", {
    schedule: delivery.statusPollSchedule,
    handler: async (_timer, client, context) => {
      const log = invocationLogger(context);
      const tick = await pollStatusesOnce(runtime(), client, log);
      log.debug("status poll tick", { ...tick });
    },
  });
}
