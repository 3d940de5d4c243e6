/**
 * The per-tenant `statusPump` orchestration (instance `statusPumpInstanceId(tenant)`): one
 * `pumpStatuses` cycle per execution, then continueAsNew; it stops when the tenant has nothing in flight.
 * The status routing itself is in lib/deployments/activities.ts (`routeStatus`).
 *
 * A failed cycle does not fail the pump: it waits (1 s, doubling up to a minute) and tries again, so a
 * broker outage or a storage hiccup costs at most a minute of status latency after it ends, instead of a
 * dead pump until a waiting deployment re-ensures it. After PUMP_RETRY.maxFailures failures in a row
 * (about eight minutes) it stops; the deployments still waiting re-ensure it, so a tenant with nothing in
 * flight is not retried forever. It never uses Task.any (continueAsNew and Task.any do not mix upstream).
 *
 * While nothing is in flight but successes still owe their health verdicts (docs/messages.md, "Health
 * reports"), it receives briefly and then waits on a durable timer, so waiting for verdicts holds no
 * activity slot.
 */
import * as durable from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import {
  ACTIVITIES,
  ORCHESTRATIONS,
  PUMP_HEALTH_IDLE,
  PUMP_RETRY,
  type PumpCustomStatus,
  type PumpInput,
  type PumpResult,
} from "../lib/deployments/contract";
import { call } from "../lib/durable/activities";

function* statusPumpOrchestrator(
  context: OrchestrationContext,
): Generator<Task, PumpResult | undefined, unknown> {
  const df = context.df;
  const input = df.getInput() as PumpInput;
  let result: PumpResult;
  try {
    // 1. One cycle: receive and route the tenant's statuses.
    const cycle = { tenant: input.tenant, ...(input.healthOnly ? { healthOnly: true } : {}) };
    result = yield* call(df, ACTIVITIES.pumpStatuses, cycle);
  } catch (error) {
    // 2. A failed cycle: back off on a durable timer and try again, or give up after too many.
    const failures = (input.failures ?? 0) + 1;
    const lastError = error instanceof Error ? error.message.slice(0, 500) : String(error);
    if (failures >= PUMP_RETRY.maxFailures) {
      df.setCustomStatus({ failures, lastError, retryAt: "" } satisfies PumpCustomStatus);
      return { received: 0 };
    }
    const delayMs = Math.min(PUMP_RETRY.firstMs * 2 ** (failures - 1), PUMP_RETRY.maxMs);
    const retryAt = new Date(df.currentUtcDateTime.getTime() + delayMs);
    df.setCustomStatus({ failures, lastError, retryAt: retryAt.toISOString() } satisfies PumpCustomStatus);
    yield df.createTimer(retryAt);
    df.continueAsNew({ tenant: input.tenant, failures });
    return undefined;
  }
  // 3. Stop when the tenant is idle (zero polls from here on): a cycle that received nothing, or that
  // routed the outcome of the last deployment in flight; otherwise go on as a fresh execution.
  if (result.active === 0) return result;
  // 4. Only health verdicts are due (nothing in flight): a durable timer, which holds no activity slot,
  // before a brief receive. Reached only from a 0.5.0 activity's result, so no older history has it.
  if (result.awaitingHealth) {
    yield df.createTimer(new Date(df.currentUtcDateTime.getTime() + PUMP_HEALTH_IDLE.waitMs));
    df.continueAsNew({ tenant: input.tenant, healthOnly: true });
    return undefined;
  }
  df.continueAsNew({ tenant: input.tenant });
  return undefined;
}

durable.app.orchestration(ORCHESTRATIONS.statusPump, statusPumpOrchestrator);
