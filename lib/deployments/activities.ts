/**
 * The workflow's I/O, one function per activity; `activities/deployment.ts` registers them. Each is
 * idempotent: command message ids make resends duplicates, ledger updates are monotonic, and a status is
 * completed on the queue only after it has been recorded and dispatched.
 */
import type { DurableClient } from "durable-functions";
import { ACTIVE_STATUSES } from "../durable/instances";
import { notifyFinished } from "./notify";
import { cloudEvent, type CloudEvent } from "../notifications/model";
import type { Quarantine } from "../tenants/quarantine";
import { createLogger, Logger } from "../logging/logger";
import { ReceivedStatus, receiveStatuses, StatusBatch } from "../messaging/channel";
import { DeploymentDeps, serviceBusFor } from "./deps";
import type { StatusReport } from "./ledger";
import { type DeploymentRecord, isHealthState, isTerminal, PHASES, specDigest } from "./model";
import type { JSONWebKeySet } from "jose";
import { verifyMessage } from "../messaging/command-trust";
import type { Status } from "../messaging/contracts";
import { isReceiptState, keptReceipt, type Receipt, receiptKeySet } from "../signing/receipts";
import { inFlight, reconcile } from "./reconcile";
import {
  type AttemptClaim,
  type BeginAttemptInput,
  type CompleteDeploymentInput,
  EVENTS,
  ORCHESTRATIONS,
  type PumpResult,
  PUMP_HEALTH_IDLE,
  type PumpStatusesInput,
  type RecordedOutcome,
  statusPumpInstanceId,
  TERMINAL_STATES,
  verifyInstanceId,
} from "./contract";

/** Claims the attempt this execution runs (see DeploymentLedger.claim); a Durable restart gets a new one. */
/** The `tenant.quarantined` webhook event (one per quarantine: its start names it). */
function quarantinedEvent(tenant: string, quarantine: Quarantine): CloudEvent {
  return cloudEvent(
    "tenant.quarantined",
    `/tenants/${tenant}`,
    `${tenant}:${quarantine.at}`,
    { tenant, ...quarantine },
    quarantine.at,
  );
}

export async function beginAttemptActivity(
  rt: DeploymentDeps,
  input: BeginAttemptInput,
  log: Logger = createLogger(),
): Promise<AttemptClaim> {
  if (!(await rt.store.get(input.tenant))) return { error: `Tenant "${input.tenant}" is not registered.` };
  const { record, restartOf } = await rt.ledger.claim({ ...input, specDigest: specDigest(input.spec) });
  // Folded into the claim so the wait adds no activity (and no yield) to the orchestration's history.
  if (input.windowOpensAt !== undefined)
    await rt.ledger.waitForWindow(input.tenant, input.id, record.attempt, input.windowOpensAt);
  // The start handler logs "deployment started"; a Durable restart starts no handler, so it is said here.
  if (restartOf !== undefined)
    log.info("deployment restarted as a new attempt", {
      tenant: input.tenant,
      deploymentId: input.id,
      attempt: record.attempt,
      previousAttempt: record.previousAttempt,
      instanceId: input.instanceId,
    });
  return { attempt: record.attempt, ...(restartOf !== undefined ? { restartOf } : {}) };
}

/** Writes the outcome the orchestration decided; answers the outcome the ledger holds (the first wins). */
export async function completeDeploymentActivity(
  rt: DeploymentDeps,
  client: DurableClient,
  input: CompleteDeploymentInput,
  log: Logger = createLogger(),
): Promise<RecordedOutcome> {
  // The orchestration runs, so a suspension the record still shows is over: say so before the outcome.
  await rt.ledger.setSuspended(input.tenant, input.id, input.attempt, false);
  const record = await rt.ledger.complete(
    input.tenant,
    input.id,
    input.attempt,
    input.outcome,
    input.message,
  );
  const outcome = record.outcome ?? input.outcome;
  const message = record.message;
  await notifyFinished(rt, client, record, log);
  log[outcome === "Failed" || outcome === "TimedOut" ? "warn" : "info"]("deployment finished", {
    tenant: input.tenant,
    deploymentId: input.id,
    attempt: input.attempt,
    outcome,
    ...(message !== undefined ? { reason: message } : {}),
  });
  return { outcome, ...(message !== undefined ? { message } : {}) };
}

/**
 * Starts the tenant's status pump unless it is already running. In `timerPoll` mode (the baseline) the
 * timer delivers statuses instead, so there is never a pump to start.
 */
export async function ensureStatusPumpActivity(
  rt: Pick<DeploymentDeps, "settings" | "health">,
  client: DurableClient,
  tenant: string,
): Promise<boolean> {
  if (rt.settings.statusDelivery !== "pump") return false;
  // A quarantined tenant's pump stays stopped until it is resumed (lib/tenants/quarantine.ts).
  if (await rt.health.quarantine(tenant)) return false;
  const instanceId = statusPumpInstanceId(tenant);
  const status = await client.getStatus(instanceId).catch(() => undefined);
  if (status && ACTIVE_STATUSES.has(String(status.runtimeStatus))) return false;
  try {
    await client.startNew(ORCHESTRATIONS.statusPump, { instanceId, input: { tenant } });
    return true;
  } catch {
    return false; // another deployment started it first
  }
}

/**
 * Whether the deployment orchestration acts on this report: the agent's acceptance (Accepted, or the
 * first InProgress of an agent that skipped it: the record was not yet accepted before it) and its end,
 * never a health verdict.
 * A report the ledger did not write (a duplicate or one out of order) is raised too: it may be the
 * redelivery of one whose raise a crash cut off, and a repeat changes nothing in the orchestration.
 */
export function wakesDeployment(s: Status, report: Pick<StatusReport, "before" | "applied">): boolean {
  // A health verdict comes after the agent's end: the ledger keeps it, a rollout's gate reads it there.
  if (isHealthState(s.state)) return false;
  if (s.state !== "InProgress") return true;
  if (!report.applied) return true;
  return PHASES.indexOf(report.before.phase) < PHASES.indexOf("Accepted");
}

/** The status as the orchestration gets it: without `detail` (up to 8 KB it never reads). */
function eventOf(s: Status): Status {
  const { detail: _detail, ...rest } = s;
  return rest;
}

/** How a received status is settled on its queue (the receiver that took it). */
type StatusSettlement = Pick<StatusBatch, "complete" | "deadLetter">;

/**
 * What dispatching a status did: `bad` names the dead-letter reason of a status the Provider refused;
 * `awaitsHealth`, that it was the agent's success on an attempt that owes a health verdict next.
 */
interface Dispatched {
  bad?: string;
  awaitsHealth?: boolean;
}

type ReceiptOutcome = { ok: true; receipt?: Receipt } | { ok: false; reason: string; description: string };

/**
 * A terminal status's receipt check (lib/signing/receipts.ts): none for a tenant without receipt keys or a
 * non-terminal state (answers ok, no receipt); else the signature over the body as received must verify
 * with one of the tenant's keys. The body is read from the message as it came (the receiver skips JSON
 * parsing, so it is the exact bytes); a body that cannot be had is unverifiable.
 */
async function checkReceipt(
  item: Extract<ReceivedStatus, { ok: true }>,
  keys: JSONWebKeySet | undefined,
): Promise<ReceiptOutcome> {
  if (!keys || !isReceiptState(item.status.state)) return { ok: true };
  const verified = await verifyMessage(item.message, keys);
  if (!verified.ok) return verified;
  const receipt = keptReceipt(verified);
  return receipt ? { ok: true, receipt } : { ok: true };
}

/**
 * Routes one received status, the same way for the pump and the timer poll: dead-letter what breaks the
 * contract, is unknown or belongs to another tenant; hand a Pong to its verification; otherwise record
 * it in the ledger and raise it to the deployment, and only then complete it (a crash in between
 * redelivers it, and the repeat changes nothing). An unknown or foreign deployment costs one point read
 * (DeploymentLedger.report), so a flood of made-up statuses costs the Provider little.
 *
 * `receiptKeys`: the tenant's registered receipt keys (its registration's `receiptKeys`). With them, a
 * terminal status that does not verify is dead-lettered (InvalidSignature or UnknownKey) before anything
 * reads it: it is not recorded nor raised, so the deployment ends at its deadline, never with an outcome
 * the customer did not sign; a verified one is recorded with its receipt. Without them (a tenant that
 * registered none), statuses are recorded unsigned, as before receipts existed.
 */
export async function dispatchStatus(
  rt: DeploymentDeps,
  client: DurableClient,
  tenant: string,
  item: ReceivedStatus,
  settle: StatusSettlement,
  log: Logger,
  receiptKeys?: JSONWebKeySet,
): Promise<Dispatched> {
  if (!item.ok) {
    log.warn("status dead-lettered", { tenant, reason: item.reason, messageId: item.message.messageId });
    await settle.deadLetter(item.message, item.reason, item.description);
    return { bad: item.reason };
  }
  const s = item.status;
  if (s.state === "Pong") {
    await client.raiseEvent(verifyInstanceId(tenant, s.deploymentId), EVENTS.pong, s).catch(() => {
      // No verification waits for this Pong any more (timed out): nothing to dispatch it to.
    });
    await settle.complete(item.message);
    return {};
  }
  const signed = await checkReceipt(item, receiptKeys);
  if (!signed.ok) {
    log.warn("status dead-lettered", {
      tenant,
      reason: signed.reason,
      deploymentId: s.deploymentId,
      attempt: s.attempt,
      state: s.state,
    });
    await settle.deadLetter(item.message, signed.reason, signed.description);
    return { bad: signed.reason };
  }
  // The agent's report goes into the timeline and progress; the outcome is the orchestration's to write.
  const report = await rt.ledger.report(tenant, s, signed.receipt);
  if ("missing" in report) {
    const reason = report.owner && report.owner !== tenant ? "ForeignDeployment" : "UnknownDeployment";
    log.warn("status dead-lettered", { tenant, reason, deploymentId: s.deploymentId, attempt: s.attempt });
    // An unknown one gets one description per tenant (the message itself names the deployment), so a flood
    // of made-up ids is dead-lettered in shared flushes (SettlementGate). A foreign one names the
    // deployment: someone sent another tenant's id, which operators need to see.
    const description =
      reason === "ForeignDeployment"
        ? `deployment ${s.deploymentId} attempt ${s.attempt} does not belong to tenant ${tenant}`
        : `the deployment attempt is not one of tenant ${tenant}'s`;
    await settle.deadLetter(item.message, reason, description);
    return { bad: reason };
  }
  const { record } = report;
  if (isHealthState(s.state) && verdictTooEarly(record, report.applied)) {
    // Its Succeeded is not recorded yet (a failed dispatch of it is still locked): leave the verdict
    // unsettled so it comes back after its lock, rather than complete it unrecorded.
    log.warn("health verdict before its success: left for redelivery", {
      tenant,
      deploymentId: s.deploymentId,
      attempt: s.attempt,
      state: s.state,
    });
    throw new VerdictBeforeSuccessError(tenant, s.deploymentId, s.attempt);
  }
  // Progress is the ledger's: the orchestration is woken only for what it acts on, so its history and
  // replay cost do not grow with the reports (docs/workflow.md, "What wakes a deployment").
  if (wakesDeployment(s, report))
    await client.raiseEvent(record.instanceId, EVENTS.status, eventOf(s)).catch(async (error: unknown) => {
      // The instance is not running (finished, terminated or purged): keep the record in line with it.
      const reconciled = await reconcile(rt, client, record, log);
      // Still in flight, so the raise failed for another reason (storage, a host restart): leave the
      // status unsettled; it comes back after its lock and, not written again, is raised again. Progress
      // reports are raised only once, so one lost here would be lost for good (an acceptance, say).
      if (!isTerminal(reconciled)) throw error;
    });
  await settle.complete(item.message);
  return s.state === "Succeeded" && healthDueAfterSuccess(record) ? { awaitsHealth: true } : {};
}

/** A verdict the ledger did not keep because the agent's success is not recorded yet (never a duplicate). */
const verdictTooEarly = (record: DeploymentRecord, applied: boolean) =>
  !applied && !record.health && !isTerminal(record) && record.lastStatus?.state !== "Succeeded";

/** A health verdict came before the success it judges was recorded; it is received again later. */
export class VerdictBeforeSuccessError extends Error {
  constructor(
    readonly tenant: string,
    readonly deploymentId: string,
    readonly attempt: number,
  ) {
    super(
      `Tenant "${tenant}": the health verdict on deployment ${deploymentId} attempt ${attempt} came before its success was recorded.`,
    );
    this.name = "VerdictBeforeSuccessError";
  }
}

/** The attempt's spec carried a health check and no verdict is recorded yet. */
const healthDueAfterSuccess = (record: DeploymentRecord) =>
  record.healthWindowSeconds !== undefined && !record.health;

/** The bad messages of a dispatched batch: how many, the reason of the last, and which (settled as bad). */
interface BadCount {
  bad: number;
  lastReason?: string;
  refused: Set<ReceivedStatus>;
  /** A success in the batch owes a health verdict: the tenant's statuses are not done yet. */
  awaitsHealth: boolean;
}

/**
 * Routes a batch: each deployment's statuses in order, different deployments' at once. What breaks the
 * contract is dead-lettered first, all at once: settlements of one reason and description share the
 * receiver's flushes (SettlementGate), so a batch of garbage costs a few round trips, not one each.
 */
export async function dispatchBatch(
  rt: DeploymentDeps,
  client: DurableClient,
  tenant: string,
  items: ReceivedStatus[],
  settle: StatusSettlement,
  log: Logger,
  receiptKeys?: JSONWebKeySet,
): Promise<BadCount> {
  const count: BadCount = { bad: 0, refused: new Set(), awaitsHealth: false };
  const dispatch = async (item: ReceivedStatus) => {
    const r = await dispatchStatus(rt, client, tenant, item, settle, log, receiptKeys);
    if (r.awaitsHealth) count.awaitsHealth = true;
    if (r.bad === undefined) return;
    count.bad++;
    count.lastReason = r.bad;
    count.refused.add(item);
  };
  const refused = items.filter((item) => !item.ok);
  const deadLettered = await Promise.allSettled(refused.map(dispatch));
  const byDeployment = new Map<string, ReceivedStatus[]>();
  for (const item of items) {
    if (!item.ok) continue;
    const key = `${item.status.deploymentId}:${item.status.attempt}`;
    byDeployment.set(key, [...(byDeployment.get(key) ?? []), item]);
  }
  const dispatched = await Promise.allSettled(
    [...byDeployment.values()].map(async (group) => {
      for (const item of group) await dispatch(item);
    }),
  );
  const failed = [...deadLettered, ...dispatched].find(
    (r): r is PromiseRejectedResult => r.status === "rejected",
  );
  if (failed) throw failed.reason; // unsettled statuses come back after their lock expires
  return count;
}

/**
 * Whether the tenant has attempts in flight besides those whose outcome was just dispatched (`finished`:
 * their orchestrations have the terminal status and will write the outcome; the ledger does not say so
 * yet). Reconciled like `inFlight`, so a record behind a finished instance does not count.
 */
async function othersInFlight(
  rt: DeploymentDeps,
  client: DurableClient,
  tenant: string,
  finished: ReadonlySet<string>,
  log: Logger,
): Promise<boolean> {
  const others = (await rt.ledger.active(tenant)).filter((r) => !finished.has(`${r.id}:${r.attempt}`));
  const checked = await Promise.all(others.map((r) => reconcile(rt, client, r, log)));
  return checked.some((r) => !isTerminal(r));
}

/**
 * One pump cycle: long-poll the tenant's status queue and route each status (`dispatchStatus`); while
 * statuses keep coming, keep receiving on the same link for up to `statusPollWaitMs` in all, so a busy
 * tenant's statuses are dispatched as they arrive rather than one orchestration turn per batch. The result
 * tells the pump whether the tenant is idle (`active: 0`).
 *
 * A cycle that dispatched an outcome and finds nothing else in flight ends at once, idle: the pump holds an
 * activity slot and a receiver while it polls, so a pump that polled on for its whole wait, and then for
 * one more empty cycle, after a tenant's last deployment would hold them about 40 s per finished tenant
 * (a rollout over a thousand tenants ran out of the host's activity slots that way, bench/RESULTS.md). A
 * deployment that starts just as the pump ends finds it ending and is served once it re-ensures the pump,
 * as after any idle end (docs/workflow.md).
 */
export async function pumpStatusesActivity(
  rt: DeploymentDeps,
  client: DurableClient,
  input: PumpStatusesInput,
  log: Logger = createLogger(),
): Promise<PumpResult> {
  const [registration, quarantined] = await Promise.all([
    rt.store.get(input.tenant),
    rt.health.quarantine(input.tenant),
  ]);
  // A deleted tenant has nothing to pump: report it idle, so the pump ends instead of failing forever.
  // A quarantined one is not received from until it is resumed: the pump ends the same way.
  if (!registration || quarantined) return { received: 0, active: 0 };
  const tenant = registration.name;
  const policy = {
    badMessages: rt.settings.quarantineBadMessages,
    windowSeconds: rt.settings.quarantineWindowSeconds,
  };
  const waitMs = input.healthOnly ? PUMP_HEALTH_IDLE.receiveMs : rt.settings.statusPollWaitMs;
  const until = Date.now() + waitMs;
  const maxMessages = rt.settings.statusPollBatch;
  const batch = await receiveStatuses(serviceBusFor(rt, registration), registration.serviceBus.statusQueue, {
    maxMessages,
    maxWaitTimeInMs: waitMs,
  });
  let received = 0;
  const finished = new Set<string>();
  try {
    for (let items = batch.items; items.length > 0;) {
      received += items.length;
      const keys = registration.receiptKeys ? receiptKeySet(registration.receiptKeys) : undefined;
      const dispatched = await dispatchBatch(rt, client, tenant, items, batch, log, keys);
      const { bad, lastReason, refused } = dispatched;
      // One write per batch that held a bad message, none for good ones; the count is in Table Storage,
      // so it survives a Provider restart.
      if (bad > 0 && policy.badMessages > 0) {
        const quarantine = await rt.health.recordBadMessages(tenant, bad, lastReason ?? "", policy);
        if (quarantine) {
          log.warn("tenant quarantined", { tenant, ...quarantine });
          await rt.events.publish(client, quarantinedEvent(tenant, quarantine), log);
          return { received, active: 0 };
        }
      }
      // A refused outcome (an unverifiable receipt) finishes nothing: its deployment waits for its deadline.
      const outcomes = items.flatMap((i) =>
        i.ok && TERMINAL_STATES[i.status.state] && !refused.has(i) ? [i.status] : [],
      );
      for (const s of outcomes) finished.add(`${s.deploymentId}:${s.attempt}`);
      // A recorded health verdict may be the last thing the tenant owed: it ends the cycle as an outcome
      // does (without it, a pump would poll on for a whole cycle and one more after each verdict).
      const verdicts = items.filter((i) => i.ok && isHealthState(i.status.state) && !refused.has(i));
      // A success that owes a health verdict keeps the pump going: the verdict comes on this queue.
      // So does an earlier success whose verdict is still due (another deployment ending meanwhile).
      if (
        outcomes.length + verdicts.length > 0 &&
        !dispatched.awaitsHealth &&
        !(await othersInFlight(rt, client, tenant, finished, log)) &&
        (await rt.ledger.awaitingHealth(tenant, new Date())).length === 0
      )
        return { received, active: 0 };
      const left = until - Date.now();
      // The byte budget (BATCH_BYTE_BUDGET) ends the cycle; the next one starts with a one-message receive.
      if (left <= 0 || batch.budgetReached) break;
      items = await batch.next({ maxMessages, maxWaitTimeInMs: left });
    }
  } finally {
    await batch.close();
  }
  // The count is a table query: only worth it when the pump might stop (it received nothing).
  // Reconciling here means a record left behind a terminated or purged instance never keeps a pump alive.
  // A deployment waiting for its maintenance window expects no status (nothing was sent) and ensures the
  // pump itself once its Deploy is out, so it does not keep the pump polling for hours.
  if (received > 0) return { received };
  const active = (await inFlight(rt, client, tenant, log)).filter((r) => r.phase !== "WaitingForWindow");
  if (active.length > 0) return { received, active: active.length };
  // Nothing in flight, but a success may still owe its health verdict (until its window and grace end).
  const due = (await rt.ledger.awaitingHealth(tenant, new Date())).length;
  return due > 0 ? { received, active: due, awaitingHealth: due } : { received, active: 0 };
}
