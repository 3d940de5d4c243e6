/**
 * Outcomes come only from the channel (docs/security.md). An event raised into a deployment instance
 * can come from our status dispatcher or cancel API, or from anyone holding the Durable management API's
 * links (they carry the task hub's system key). So since release 0.3.0 the deployment orchestration
 * acts on a received status or cancel only once the ledger confirms it: the status dispatcher records an
 * agent's report before it raises it, and the cancel API records the request before it raises it
 * (./cancel.ts). What the ledger does not hold is ignored and logged as forged.
 */
import type { Logger } from "../logging/logger";
import type { StatusState } from "../messaging/contracts";
import { PHASES, type DeploymentRecord } from "./model";
import type { DeploymentDeps } from "./deps";

interface ReportRef {
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

/** A report as the ledger holds it: what the orchestration acts on, never the event's own fields. */
interface ConfirmedReport extends ReportRef {
  progress?: number;
  message?: string;
}

export interface ConfirmedEvents {
  /**
   * The received statuses the ledger recorded from the customer's status queue, same sequence AND state,
   * with the ledger's progress and message: a forged event that reuses a recorded sequence with another
   * state, or another message, changes nothing.
   */
  statuses: ConfirmedReport[];
  /** The recorded cancel request's reason, when there is one (the event's own reason decides nothing). */
  cancel?: { reason: string; by: string };
}

const ACCEPTING: ReadonlySet<StatusState> = new Set(["Accepted", "InProgress"]);

/**
 * Whether the record holds this report: as its last status or in its timeline, same sequence and state.
 * An acceptance whose timeline entry has been capped away still counts when the record was accepted by
 * a report at least as late (the agent did accept; the decision is the same).
 */
function recorded(record: DeploymentRecord, report: ReportRef): ConfirmedReport | undefined {
  const last = record.lastStatus;
  const { sequence, state } = report;
  if (last && last.sequence === sequence && last.state === state)
    return {
      sequence,
      state,
      progress: last.progress,
      ...(last.message !== undefined ? { message: last.message } : {}),
    };
  const entry = (record.timeline ?? []).find(
    (e) => e.source === "agent" && e.sequence === sequence && e.event === state,
  );
  if (entry)
    return {
      sequence,
      state,
      ...(entry.progress !== undefined ? { progress: entry.progress } : {}),
      ...(entry.message !== undefined ? { message: entry.message } : {}),
    };
  const accepted =
    ACCEPTING.has(state) &&
    last !== undefined &&
    last.sequence >= sequence &&
    PHASES.indexOf(record.phase) >= PHASES.indexOf("Accepted");
  return accepted ? { sequence, state } : undefined;
}

/** What of `input` the attempt's record confirms (pure; the activity reads the record). */
export function confirmedBy(
  record: DeploymentRecord | undefined,
  input: ConfirmEventsInput,
): ConfirmedEvents {
  if (!record || record.attempt !== input.attempt) return { statuses: [] };
  const statuses = input.statuses.flatMap((s) => {
    const r = recorded(record, s);
    return r ? [r] : [];
  });
  const cancel =
    input.cancel && record.cancelRequested
      ? { reason: record.cancelRequested.reason, by: record.cancelRequested.by }
      : undefined;
  return { statuses, ...(cancel ? { cancel } : {}) };
}

/** The `confirmEvents` activity: reads the attempt's record and logs every event it does not confirm. */
export async function confirmEventsActivity(
  rt: Pick<DeploymentDeps, "ledger">,
  input: ConfirmEventsInput,
  log: Logger,
): Promise<ConfirmedEvents> {
  const record = await rt.ledger.get(input.tenant, input.id, input.attempt);
  const confirmed = confirmedBy(record, input);
  const context = { tenant: input.tenant, deploymentId: input.id, attempt: input.attempt };
  for (const s of input.statuses)
    if (!confirmed.statuses.some((c) => c.sequence === s.sequence && c.state === s.state))
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
