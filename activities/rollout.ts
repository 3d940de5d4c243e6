/**
 * Registers the rollout workflow's activities (lib/rollouts/contract.ts, `ROLLOUT_ACTIVITIES`); their
 * logic is in lib/rollouts/activities.ts.
 */
import * as df from "durable-functions";
import { runtime } from "../lib/app/runtime";
import { invocationLogger } from "../lib/logging/logger";
import { advanceBatchActivity, updateRolloutActivity, waveHealthActivity } from "../lib/rollouts/activities";
import {
  ROLLOUT_ACTIVITIES,
  type AdvanceBatchInput,
  type PlanRollbackInput,
  type UpdateRolloutInput,
  type WaveHealthInput,
} from "../lib/rollouts/contract";
import { planRollbackActivity } from "../lib/rollouts/rollback";

df.app.activity(ROLLOUT_ACTIVITIES.advanceBatch.name, {
  extraInputs: [df.input.durableClient()],
  handler: (input: AdvanceBatchInput, context) =>
    advanceBatchActivity(runtime(), df.getClient(context), input, invocationLogger(context)),
});

df.app.activity(ROLLOUT_ACTIVITIES.update.name, {
  extraInputs: [df.input.durableClient()],
  handler: (input: UpdateRolloutInput, context) =>
    updateRolloutActivity(runtime(), df.getClient(context), input, invocationLogger(context)),
});

df.app.activity(ROLLOUT_ACTIVITIES.waveHealth.name, {
  handler: (input: WaveHealthInput, context) =>
    waveHealthActivity(runtime(), input, invocationLogger(context)),
});

df.app.activity(ROLLOUT_ACTIVITIES.planRollback.name, {
  handler: (input: PlanRollbackInput, context) =>
    planRollbackActivity(runtime(), input, invocationLogger(context)),
});
