/** Registers the deployment workflow's activities; their logic is in lib/deployments/activities.ts. */
import * as df from "durable-functions";
import {
  beginAttemptActivity,
  completeDeploymentActivity,
  ensureStatusPumpActivity,
  pumpStatusesActivity,
} from "../lib/deployments/activities";
import { sendCommandActivity } from "../lib/deployments/commands";
import { runtime } from "../lib/deployments/runtime";
import { ACTIVITIES } from "../lib/deployments/workflow";
import { invocationLogger } from "../lib/logging/logger";

df.app.activity(ACTIVITIES.sendCommand, {
  handler: (input: Parameters<typeof sendCommandActivity>[1], context) =>
    sendCommandActivity(runtime(), input, invocationLogger(context)),
});

df.app.activity(ACTIVITIES.beginAttempt, {
  handler: (input: Parameters<typeof beginAttemptActivity>[1], context) =>
    beginAttemptActivity(runtime(), input, invocationLogger(context)),
});

df.app.activity(ACTIVITIES.completeDeployment, {
  handler: (input: Parameters<typeof completeDeploymentActivity>[1]) =>
    completeDeploymentActivity(runtime(), input),
});

df.app.activity(ACTIVITIES.ensureStatusPump, {
  extraInputs: [df.input.durableClient()],
  handler: (tenant: string, context) => ensureStatusPumpActivity(runtime(), df.getClient(context), tenant),
});

df.app.activity(ACTIVITIES.pumpStatuses, {
  extraInputs: [df.input.durableClient()],
  handler: (input: { tenant: string }, context) =>
    pumpStatusesActivity(runtime(), df.getClient(context), input, invocationLogger(context)),
});
