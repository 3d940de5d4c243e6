/**
 * The `deployment` orchestration: one instance per deployment attempt (`deploymentInstanceId`), the
 * numbered steps of docs/workflow.md (step 1 is the start handler). Claim the attempt → wait for the
 * tenant's maintenance window if it is closed → send Deploy (retried on durable timers) → ensure the
 * tenant's status pump → wait for statuses with an acceptance and a completion deadline, re-ensuring the
 * pump on the way → write the outcome once. A `cancel` event sends Cancel and waits a grace period for
 * the agent's Cancelled (while waiting for the window, it ends the deployment with nothing sent).
 *
 * Deterministic: all I/O is in activities, time is `df.currentUtcDateTime`. The order and number of
 * yields is what in-flight instances replay: change it and they break. This orchestrator never calls
 * continueAsNew, so `Task.any` and `continueAsNew` are never combined (an upstream SDK issue).
 */
import * as durable from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import type { Command, Status } from "../lib/messaging/contracts";
import {
  ACTIVITIES,
  buildCommand,
  EVENTS,
  ORCHESTRATIONS,
  TERMINAL_STATES,
  type CancelRequest,
  type DeploymentCustomStatus,
  type DeploymentInput,
  type DeploymentResult,
  type EventPayloads,
} from "../lib/deployments/contract";
import type { Outcome } from "../lib/deployments/model";
import { sinceVersion } from "../lib/durable/version";
import { windowOpensAt } from "../lib/tenants/maintenance";
import { call } from "../lib/durable/activities";
import { EventInbox, type Received } from "../lib/durable/events";
import { STORAGE_RETRY } from "../lib/durable/retry";

const MAX_SEND_BACKOFF_MS = 60_000;
/**
 * Since release 0.2.0 a quiet deployment re-ensures its pump less and less often (doubling from
 * PUMP_REENSURE_SECONDS up to this), and again at the base interval after any event: the first re-check
 * still catches a lost start race within the base interval, and a week of silence adds about a thousand
 * wakes, not ten thousand (the extension's MaxOrchestrationActions is 100,000). Instances started before
 * 0.2.0 keep the fixed interval they replay.
 */
const MAX_REENSURE_MS = 10 * 60_000;
const REENSURE_BACKOFF_SINCE = "0.2.0";
/**
 * Since release 0.3.0 a received status or cancel decides nothing until the ledger confirms it (the
 * `confirmEvents` activity, lib/deployments/confirm.ts): an event raised through the Durable management
 * API alone is ignored. Instances started before 0.3.0 replay without that activity and keep trusting
 * their events.
 */
const CONFIRM_EVENTS_SINCE = "0.3.0";

export function* deploymentOrchestrator(
  context: OrchestrationContext,
): Generator<Task, DeploymentResult, unknown> {
  const df = context.df;
  const input = df.getInput() as DeploymentInput;
  const started = df.currentUtcDateTime;
  let acceptanceDeadline = new Date(started.getTime() + input.acceptanceTimeoutSeconds * 1000);
  const completionDeadline = new Date(started.getTime() + input.completionTimeoutSeconds * 1000);
  const status: DeploymentCustomStatus = { phase: "Requested", progress: 0 };
  df.setCustomStatus(status);
  // Pure in its inputs and currentUtcDateTime, so every replay computes the same instant. Instances
  // started before windows existed have none in their input: undefined, and their path is unchanged.
  const opensAt = windowOpensAt(input.maintenanceWindows ?? [], started);

  // 2. Claim the attempt in the ledger. A Durable restart of this instance runs with the same input but
  //    is a new attempt (its own record, messages and outcome), exactly like POST .../retry.
  const claim = yield* call(
    df,
    ACTIVITIES.beginAttempt,
    {
      tenant: input.tenant,
      id: input.id,
      attempt: input.attempt,
      instanceId: df.instanceId,
      executionKey: `${df.instanceId}@${started.toISOString()}`,
      spec: input.spec,
      ...(opensAt ? { windowOpensAt: opensAt.toISOString() } : {}),
    },
    STORAGE_RETRY,
  );
  if ("error" in claim) {
    status.phase = "Completed";
    df.setCustomStatus({ ...status, outcome: "Failed", message: claim.error });
    return { outcome: "Failed", message: claim.error, attempt: input.attempt };
  }
  const attempt = claim.attempt;
  status.attempt = attempt;

  // The outcome is decided here and written once; what the ledger then holds is what this returns.
  const finish = function* (outcome: Outcome, message?: string): Generator<Task, DeploymentResult, unknown> {
    const recorded = yield* call(
      df,
      ACTIVITIES.completeDeployment,
      { tenant: input.tenant, id: input.id, attempt, outcome, message },
      STORAGE_RETRY,
    );
    df.setCustomStatus({
      ...status,
      phase: "Completed",
      outcome: recorded.outcome,
      ...(recorded.message !== undefined ? { message: recorded.message } : {}),
    });
    return { ...recorded, attempt };
  };
  const send = (type: Command["type"], reason?: string) =>
    call(df, ACTIVITIES.sendCommand, {
      tenant: input.tenant,
      command: buildCommand({
        type,
        deploymentId: input.id,
        attempt,
        tenant: input.tenant,
        spec: input.spec,
        requestedAt: df.currentUtcDateTime,
        deadline: completionDeadline,
        reason,
      }),
    });

  // Created before any wait, so a cancel raised while the deployment waits for its window is kept. It
  // yields nothing until its first wait.
  const inbox = new EventInbox<EventPayloads, "status" | "cancel">(df, [EVENTS.status, EVENTS.cancel]);

  /**
   * What of the received events this attempt acts on: its own statuses after `after` (in sequence order)
   * and the cancel's reason. Since CONFIRM_EVENTS_SINCE only what the ledger confirms, one activity for
   * all of them, and no activity when there is nothing to confirm; before, every event as it came.
   */
  const confirms = sinceVersion(df.version, CONFIRM_EVENTS_SINCE);
  const confirmed = function* (
    received: Received<EventPayloads, "status" | "cancel">[],
    after = -1,
  ): Generator<Task, { statuses: Status[]; cancel?: string }, unknown> {
    let statuses = received
      .flatMap((e) => (e.name === EVENTS.status ? [e.value] : []))
      .filter((s) => s.attempt === attempt && s.sequence > after)
      .sort((a, b) => a.sequence - b.sequence);
    const event = received.find((e) => e.name === EVENTS.cancel);
    let cancel = event
      ? ((event.value as CancelRequest | undefined)?.reason ?? "cancelled by user")
      : undefined;
    if (!confirms || (statuses.length === 0 && !event)) return { statuses, cancel };
    const known = yield* call(
      df,
      ACTIVITIES.confirmEvents,
      {
        tenant: input.tenant,
        id: input.id,
        attempt,
        statuses: statuses.map((s) => ({ sequence: s.sequence, state: s.state })),
        cancel: event !== undefined,
      },
      STORAGE_RETRY,
    );
    // Each confirmed report once, as the ledger holds it (its state, progress and message, not the event's).
    statuses = known.statuses.map((c) => {
      const s = statuses.find((e) => e.sequence === c.sequence && e.state === c.state)!;
      const { message: _eventMessage, ...rest } = s;
      return {
        ...rest,
        progress: c.progress ?? s.progress,
        ...(c.message !== undefined ? { message: c.message } : {}),
      };
    });
    cancel = known.cancel?.reason;
    return { statuses, cancel };
  };

  // 3. Wait for the maintenance window, on one durable timer, unless it is open (or ignored). Nothing
  //    has gone to the agent yet, so a cancel now ends the deployment at once. A window that opens only
  //    after the completion deadline can never be used: TimedOut at once, rather than a long wait for a
  //    known ending. The acceptance deadline then counts from the opening (never past the completion
  //    deadline), or a short acceptance timeout would run out during the wait.
  if (opensAt) {
    status.phase = "WaitingForWindow";
    status.windowOpensAt = opensAt.toISOString();
    df.setCustomStatus(status);
    if (opensAt >= completionDeadline)
      return yield* finish(
        "TimedOut",
        `The tenant's maintenance window does not open before the completion deadline ${completionDeadline.toISOString()} (next opening ${opensAt.toISOString()}); nothing was sent to the agent.`,
      );
    for (;;) {
      const received = yield* inbox.next(opensAt);
      if (received.length === 0) break;
      // A status before any Deploy can only be another attempt's or hand-made: nothing to act on.
      const { cancel } = yield* confirmed(received.filter((e) => e.name === EVENTS.cancel));
      if (cancel)
        return yield* finish(
          "Cancelled",
          `${cancel} (while waiting for the maintenance window; nothing was sent to the agent)`,
        );
    }
    const opened = df.currentUtcDateTime.getTime();
    acceptanceDeadline = new Date(
      Math.min(opened + input.acceptanceTimeoutSeconds * 1000, completionDeadline.getTime()),
    );
    delete status.windowOpensAt;
  }

  // 4. Send Deploy; transient failures are retried with backoff (on durable timers) until the attempts or
  //    the completion deadline run out, then the deployment ends Failed with the cause.
  const attempts = input.commandSendAttempts ?? 5;
  let backoffMs = (input.commandRetrySeconds ?? 2) * 1000;
  for (let i = 1; ; i++) {
    const sent = yield* send("Deploy");
    if (!("error" in sent)) break;
    const retryAt = new Date(df.currentUtcDateTime.getTime() + backoffMs);
    if (!sent.retryable || i >= attempts || retryAt >= completionDeadline)
      return yield* finish(
        "Failed",
        `The Deploy command could not be delivered after ${i} attempt(s): ${sent.error}`,
      );
    status.message = `Deploy not delivered (attempt ${i} of ${attempts}): ${sent.error}; retrying`;
    df.setCustomStatus(status);
    yield df.createTimer(retryAt);
    backoffMs = Math.min(backoffMs * 2, MAX_SEND_BACKOFF_MS);
  }
  status.phase = "Sent";
  delete status.message;
  df.setCustomStatus(status);
  yield* call(df, ACTIVITIES.ensureStatusPump, input.tenant);

  // 5. Wait for the agent's statuses, a cancel, or a deadline; re-ensure the pump on the way. The inbox
  //    keeps every event, whatever the orchestrator was awaiting when it came (see EventInbox).
  let accepted = false;
  let lastSequence = -1;
  const reensureBaseMs = input.pumpReensureSeconds * 1000;
  const backsOff = sinceVersion(df.version, REENSURE_BACKOFF_SINCE);
  let reensureMs = reensureBaseMs;
  for (;;) {
    const deadline = accepted ? completionDeadline : acceptanceDeadline;
    const now = df.currentUtcDateTime;
    if (now >= deadline) {
      yield* send("Cancel", accepted ? "completion timeout" : "acceptance timeout");
      return yield* finish(
        "TimedOut",
        accepted
          ? "The deployment did not complete in time."
          : "The agent did not accept the deployment in time (agent offline?).",
      );
    }
    const wake = new Date(Math.min(deadline.getTime(), now.getTime() + reensureMs));
    const received = yield* inbox.next(wake);
    if (received.length === 0) {
      if (df.currentUtcDateTime < deadline) yield* call(df, ACTIVITIES.ensureStatusPump, input.tenant);
      if (backsOff) reensureMs = Math.min(reensureMs * 2, Math.max(MAX_REENSURE_MS, reensureBaseMs));
      continue;
    }
    reensureMs = reensureBaseMs;
    // Another attempt's, a duplicate or out of order are dropped (terminal states are final anyway).
    const { statuses, cancel } = yield* confirmed(received, lastSequence);
    for (const s of statuses) {
      if (s.sequence <= lastSequence) continue;
      lastSequence = s.sequence;
      if (s.state === "Accepted" || s.state === "InProgress") accepted = true;
      status.phase =
        s.state === "Accepted" ? "Accepted" : s.state === "InProgress" ? "InProgress" : status.phase;
      status.progress = Math.max(status.progress, s.progress);
      status.sequence = s.sequence;
      if (s.message !== undefined) status.message = s.message;
      df.setCustomStatus(status);
      // 6. One writer of the outcome: an agent's terminal state ends the deployment (even one that came
      //    with a cancel: the agent finished first).
      const outcome = TERMINAL_STATES[s.state];
      if (outcome) return yield* finish(outcome, s.message);
    }
    if (cancel === undefined) continue;

    // Cancel (described after the steps in docs/workflow.md): tell the agent, then wait a grace
    // period for its acknowledgement.
    const reason = cancel;
    yield* send("Cancel", reason);
    status.message = "Cancel requested";
    df.setCustomStatus(status);
    const graceEnd = new Date(df.currentUtcDateTime.getTime() + input.cancelGraceSeconds * 1000);
    for (;;) {
      const more = yield* inbox.next(graceEnd);
      if (more.length === 0)
        return yield* finish(
          "Cancelled",
          `${reason} (the agent did not acknowledge within the grace period)`,
        );
      for (const s of (yield* confirmed(more.filter((e) => e.name === EVENTS.status))).statuses) {
        const outcome = TERMINAL_STATES[s.state];
        if (outcome) return yield* finish(outcome, s.message ?? reason);
      }
    }
  }
}

durable.app.orchestration(ORCHESTRATIONS.deployment, deploymentOrchestrator);
