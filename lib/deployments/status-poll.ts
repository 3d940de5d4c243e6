/**
 * The baseline status delivery (`STATUS_DELIVERY=timerPoll`), in the product so that
 * the status pump can be measured against it. On every timer tick it takes ONE message from EVERY
 * registered tenant's status queue, busy or idle, and dispatches it exactly as the pump does
 * (`dispatchStatus`). An idle tenant costs a receive per tick; a busy one drains one status per tick.
 */
import type { DurableClient } from "durable-functions";
import { forEachLimited } from "../concurrency/limited";
import type { Logger } from "../logging/logger";
import { receiveStatuses } from "../messaging/channel";
import type { TenantRegistration } from "../tenants/model";
import { receiptKeySet } from "../signing/receipts";
import { dispatchStatus } from "./activities";
import { DeploymentDeps, serviceBusFor } from "./deps";

/** A tick must end before the next one, so each receive waits briefly rather than long-polling. */
const TIMER_RECEIVE_WAIT_MS = 1000;
/** Tenants polled at once within a tick (bounded so thousands of tenants do not open thousands of links). */
const TENANT_CONCURRENCY = 32;

interface PollTickResult {
  tenants: number;
  received: number;
  failed: number;
}

async function allTenants(rt: DeploymentDeps): Promise<TenantRegistration[]> {
  const out: TenantRegistration[] = [];
  let continuationToken: string | undefined;
  do {
    const page = await rt.store.list({ top: 1000, continuationToken });
    out.push(...page.items);
    continuationToken = page.continuationToken;
  } while (continuationToken);
  return out;
}

/** One tick: every registered tenant, one status each. A failing tenant never stops the others. */
export async function pollStatusesOnce(
  rt: DeploymentDeps,
  client: DurableClient,
  log: Logger,
): Promise<PollTickResult> {
  const tenants = await allTenants(rt);
  const result: PollTickResult = { tenants: tenants.length, received: 0, failed: 0 };
  const waitMs = Math.min(rt.settings.statusPollWaitMs, TIMER_RECEIVE_WAIT_MS);
  await forEachLimited(tenants, TENANT_CONCURRENCY, async (registration) => {
    try {
      const batch = await receiveStatuses(
        serviceBusFor(rt, registration),
        registration.serviceBus.statusQueue,
        { maxMessages: 1, maxWaitTimeInMs: waitMs },
      );
      try {
        const keys = registration.receiptKeys ? receiptKeySet(registration.receiptKeys) : undefined;
        for (const item of batch.items) {
          await dispatchStatus(rt, client, registration.name, item, batch, log, keys);
          result.received++;
        }
      } finally {
        await batch.close();
      }
    } catch (error) {
      result.failed++;
      log.warn("status poll failed", { tenant: registration.name, error });
    }
  });
  return result;
}
