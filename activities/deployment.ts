/**
 * Registers the deployment workflow's activities: one handler per definition in
 * lib/deployments/contract.ts (`ACTIVITIES`), typed by it; their logic is in lib/deployments/activities.ts
 * and lib/deployments/commands.ts.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import {
  beginAttemptActivity,
  completeDeploymentActivity,
  ensureStatusPumpActivity,
  pumpStatusesActivity,
} from "../lib/deployments/activities";
import { sendCommandActivity } from "../lib/deployments/commands";
import { confirmEventsActivity } from "../lib/deployments/confirm";
import { ACTIVITIES } from "../lib/deployments/contract";
import type { ActivityInput, ActivityResult } from "../lib/durable/activities";
import { runtime } from "../lib/app/runtime";
import { invocationLogger } from "../lib/logging/logger";

type Activities = typeof ACTIVITIES;
type Handlers = {
  [K in keyof Activities]: {
    /** The activity takes the durable client as an extra input (`df.getClient(context)`). */
    durableClient?: true;
    handler: (
      input: ActivityInput<Activities[K]>,
      context: InvocationContext,
    ) => Promise<ActivityResult<Activities[K]>>;
  };
};

const HANDLERS: Handlers = {
  beginAttempt: {
    handler: (input, context) => beginAttemptActivity(runtime(), input, invocationLogger(context)),
  },
  sendCommand: {
    handler: (input, context) => sendCommandActivity(runtime(), input, invocationLogger(context)),
  },
  ensureStatusPump: {
    durableClient: true,
    handler: (tenant, context) => ensureStatusPumpActivity(runtime(), df.getClient(context), tenant),
  },
  pumpStatuses: {
    durableClient: true,
    handler: (input, context) =>
      pumpStatusesActivity(runtime(), df.getClient(context), input, invocationLogger(context)),
  },
  completeDeployment: {
    durableClient: true,
    handler: (input, context) =>
      completeDeploymentActivity(runtime(), df.getClient(context), input, invocationLogger(context)),
  },
  confirmEvents: {
    handler: (input, context) => confirmEventsActivity(runtime(), input, invocationLogger(context)),
  },
};

for (const key of Object.keys(ACTIVITIES) as (keyof Activities)[]) {
  const { durableClient, handler } = HANDLERS[key];
  df.app.activity(ACTIVITIES[key].name, {
    ...(durableClient ? { extraInputs: [df.input.durableClient()] } : {}),
    handler: handler as (input: unknown, context: InvocationContext) => Promise<unknown>,
  });
}
