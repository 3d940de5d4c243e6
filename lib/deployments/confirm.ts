/**
 * Outcomes come only from the channel (docs/security.md). An event raised into a deployment instance
 * can come from our status router or cancel API, or from anyone holding the Durable management API's
 * links (they carry the task hub's system key). So since release 0.3.0 the deployment orchestration
 * acts on a received status or cancel only once the ledger confirms it: the status router records an
 * agent's report before it raises it, and the cancel API records the request before it raises it
 * (./cancel.ts). What the ledger does not hold is ignored and logged as forged.
 */
import type { Logger } from "../logging/logger";
import type { StatusState } from "../messaging/contracts";
import { PHASES, type DeploymentRecord } from "./model";
import type { ProviderRuntime } from "./runtime";

export interface ReportRef {
  sequence: number;
  state: StatusState;
}

export interface ConfirmEventsInput {
  tenant: string;
  id: string;
  attempt: number;
  /** The received status events of this attempt. */
  statuses: ReportRef[];
  /** A cancel event was received. */
  cancel: boolean;
}

export interface ConfirmedEvents {
  /** Sequences of the statuses the ledger recorded from the customer's status queue. */
  statuses: number[];
  /** The recorded cancel request's reason, when there is one (the event's own reason decides nothing). */
  cancel?: { reason: string; by: string };
}

const ACCEPTING: ReadonlySet<StatusState> = new Set(["Accepted", "InProgress"]);

/**
 * Whether the record holds this report: as its last status or in its timeline, same sequence and state.
 * An acceptance whose timeline entry has been capped away still counts when the record was accepted by
 * a report at least as late (the agent did accept; the decision is the same).
 */
function recorded(record: DeploymentRecord, report: ReportRef): boolean {
  const last = record.lastStatus;
  if (last && last.sequence === report.sequence && last.state === report.state) return true;
  const inTimeline = (record.timeline ?? []).some(
    (e) => e.source === "agent" && e.sequence === report.sequence && e.event === report.state,
  );
  if (inTimeline) return true;
  return (
    ACCEPTING.has(report.state) &&
    last !== undefined &&
    last.sequence >= report.sequence &&
    PHASES.indexOf(record.phase) >= PHASES.indexOf("Accepted")
  );
}

/** What of `input` the attempt's record confirms (pure; the activity reads the record). */
export function confirmedBy(
  record: DeploymentRecord | undefined,
  input: ConfirmEventsInput,
): ConfirmedEvents {
  if (!record || record.attempt !== input.attempt) return { statuses: [] };
  const statuses = input.statuses.filter((s) => recorded(record, s)).map((s) => s.sequence);
  const cancel =
    input.cancel && record.cancelRequested
      ? { reason: record.cancelRequested.reason, by: record.cancelRequested.by }
      : undefined;
  return { statuses, ...(cancel ? { cancel } : {}) };
}

/** The `confirmEvents` activity: reads the attempt's record and logs every event it does not confirm. */
export async function confirmEventsActivity(
  rt: Pick<ProviderRuntime, "ledger">,
  input: ConfirmEventsInput,
  log: Logger,
): Promise<ConfirmedEvents> {
  const record = await rt.ledger.get(input.tenant, input.id, input.attempt);
  const confirmed = confirmedBy(record, input);
  const context = { tenant: input.tenant, deploymentId: input.id, attempt: input.attempt };
  for (const s of input.statuses)
    if (!confirmed.statuses.includes(s.sequence))
      log.warn("forged event ignored: a status the status queue never delivered", {
        ...context,
        event: "status",
        state: s.state,
        sequence: s.sequence,
      });
  if (input.cancel && !confirmed.cancel)
    log.warn("forged event ignored: a cancel not requested through the API", { ...context, event: "cancel" });
  return confirmed;
}
