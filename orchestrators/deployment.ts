/**
 * The `deployment` orchestration: one instance per deployment attempt (`deploymentInstanceId`), the
 * numbered steps of docs/workflow.md (step 1 is the start handler). Claim the attempt → wait for the
 * tenant's maintenance window if it is closed → send Deploy (retried on durable timers) → ensure the
 * tenant's status pump → wait for statuses with an acceptance and a completion deadline, re-ensuring the
 * pump on the way → write the outcome once. A `cancel` event sends Cancel and waits a grace period for
 * the agent's Cancelled (while waiting for the window, it ends the deployment with nothing sent).
 *
 * The orchestrator reads as those steps: each is a named phase below (a generator it delegates to with
 * `yield*`, which adds no yield of its own); the phases share one execution's state (`Run`).
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
  type AttemptClaim,
  type CancelRequest,
  type DeploymentCustomStatus,
  type DeploymentInput,
  type DeploymentResult,
  type EventPayloads,
  type SendResult,
} from "../lib/deployments/contract";
import type { Outcome } from "../lib/deployments/model";
import { sinceVersion } from "../lib/durable/version";
import { windowOpensAt } from "../lib/tenants/maintenance";
import { call, type DurableApi } from "../lib/durable/activities";
import { EventInbox, type Received } from "../lib/durable/events";
import { STORAGE_RETRY } from "../lib/durable/retry";

const MAX_SEND_BACKOFF_MS = 60_000;
/**
 * The send attempts and first retry delay that inputs without `commandSendAttempts` /
 * `commandRetrySeconds` imply: the values the releases that wrote such inputs used. In-flight instances
 * replay with them, so they are fixed here and must never follow a later change of the settings'
 * defaults (SETTING_DEFAULTS in lib/config/settings.ts).
 */
const LEGACY_COMMAND_SEND_ATTEMPTS = 5;
const LEGACY_COMMAND_RETRY_SECONDS = 2;
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
  const status: DeploymentCustomStatus = { phase: "Requested", progress: 0 };
  df.setCustomStatus(status);
  // Pure in its inputs and currentUtcDateTime, so every replay computes the same instant. Instances
  // started before windows existed have none in their input: undefined, and their path is unchanged.
  const opensAt = windowOpensAt(input.maintenanceWindows ?? [], started);

  // 2. Claim the attempt in the ledger.
  const claim = yield* claimAttempt(df, input, started, opensAt);
  if ("error" in claim) {
    status.phase = "Completed";
    df.setCustomStatus({ ...status, outcome: "Failed", message: claim.error });
    return { outcome: "Failed", message: claim.error, attempt: input.attempt };
  }
  status.attempt = claim.attempt;
  const run: Run = {
    df,
    input,
    status,
    attempt: claim.attempt,
    acceptanceDeadline: new Date(started.getTime() + input.acceptanceTimeoutSeconds * 1000),
    completionDeadline: new Date(started.getTime() + input.completionTimeoutSeconds * 1000),
    // Created before any wait, so a cancel raised while the deployment waits for its window is kept. It
    // yields nothing until its first wait.
    inbox: new EventInbox(df, [EVENTS.status, EVENTS.cancel]),
    confirms: sinceVersion(df.version, CONFIRM_EVENTS_SINCE),
  };

  // 3. Wait for the maintenance window, unless it is open (or ignored).
  if (opensAt) {
    const ended = yield* waitForWindow(run, opensAt);
    if (ended) return ended;
  }

  // 4. Send Deploy (retried on durable timers), then make sure the tenant's status pump runs.
  const undelivered = yield* sendDeploy(run);
  if (undelivered) return undelivered;
  status.phase = "Sent";
  delete status.message;
  df.setCustomStatus(status);
  yield* call(df, ACTIVITIES.ensureStatusPump, input.tenant);

  // 5. and 6. Follow the agent's statuses to the outcome, written once.
  return yield* followStatuses(run);
}

/** One execution of the orchestration: what its phases share. */
interface Run {
  df: DurableApi;
  input: DeploymentInput;
  /** The custom status, updated in place and set again after each change. */
  status: DeploymentCustomStatus;
  /** The attempt this execution runs (claimed in step 2). */
  attempt: number;
  /** Counts from the start, or from the maintenance window's opening. */
  acceptanceDeadline: Date;
  completionDeadline: Date;
  inbox: EventInbox<DeploymentEvents, DeploymentEventName>;
  /** Received events are confirmed by the ledger (CONFIRM_EVENTS_SINCE). */
  confirms: boolean;
}

type DeploymentEventName = typeof EVENTS.status | typeof EVENTS.cancel;
type DeploymentEvents = Pick<EventPayloads, DeploymentEventName>;

/**
 * 2. Claims the attempt in the ledger. A Durable restart of this instance runs with the same input but is
 *    a new attempt (its own record, messages and outcome), exactly like POST .../retry.
 */
function* claimAttempt(
  df: DurableApi,
  input: DeploymentInput,
  started: Date,
  opensAt: Date | undefined,
): Generator<Task, AttemptClaim, unknown> {
  return yield* call(
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
}

/**
 * 3. Waits for the maintenance window on one durable timer; answers the result when the deployment ended
 *    instead. Nothing has gone to the agent yet, so a cancel now ends the deployment at once. A window
 *    that opens only after the completion deadline can never be used: TimedOut at once, rather than a
 *    long wait for a known ending. The acceptance deadline then counts from the opening (never past the
 *    completion deadline), or a short acceptance timeout would run out during the wait.
 */
function* waitForWindow(run: Run, opensAt: Date): Generator<Task, DeploymentResult | undefined, unknown> {
  const { df, input, status, completionDeadline } = run;
  status.phase = "WaitingForWindow";
  status.windowOpensAt = opensAt.toISOString();
  df.setCustomStatus(status);
  if (opensAt >= completionDeadline)
    return yield* finish(
      run,
      "TimedOut",
      `The tenant's maintenance window does not open before the completion deadline ${completionDeadline.toISOString()} (next opening ${opensAt.toISOString()}); nothing was sent to the agent.`,
    );
  for (;;) {
    const received = yield* run.inbox.next(opensAt);
    if (received.length === 0) break;
    // A status before any Deploy can only be another attempt's or hand-made: nothing to act on.
    const { cancel } = yield* confirmed(
      run,
      received.filter((e) => e.name === EVENTS.cancel),
    );
    if (cancel)
      return yield* finish(
        run,
        "Cancelled",
        `${cancel} (while waiting for the maintenance window; nothing was sent to the agent)`,
      );
  }
  const opened = df.currentUtcDateTime.getTime();
  run.acceptanceDeadline = new Date(
    Math.min(opened + input.acceptanceTimeoutSeconds * 1000, completionDeadline.getTime()),
  );
  delete status.windowOpensAt;
  return undefined;
}

/**
 * 4. Sends Deploy; transient failures are retried with backoff (on durable timers) until the attempts or
 *    the completion deadline run out, then the deployment ends Failed with the cause (the answer).
 */
function* sendDeploy(run: Run): Generator<Task, DeploymentResult | undefined, unknown> {
  const { df, input, status } = run;
  const attempts = input.commandSendAttempts ?? LEGACY_COMMAND_SEND_ATTEMPTS;
  let backoffMs = (input.commandRetrySeconds ?? LEGACY_COMMAND_RETRY_SECONDS) * 1000;
  for (let i = 1; ; i++) {
    const sent = yield* send(run, "Deploy");
    if (!("error" in sent)) return undefined;
    const retryAt = new Date(df.currentUtcDateTime.getTime() + backoffMs);
    if (!sent.retryable || i >= attempts || retryAt >= run.completionDeadline)
      return yield* finish(
        run,
        "Failed",
        `The Deploy command could not be delivered after ${i} attempt(s): ${sent.error}`,
      );
    status.message = `Deploy not delivered (attempt ${i} of ${attempts}): ${sent.error}; retrying`;
    df.setCustomStatus(status);
    yield df.createTimer(retryAt);
    backoffMs = Math.min(backoffMs * 2, MAX_SEND_BACKOFF_MS);
  }
}

/**
 * 5. Waits for the agent's statuses, a cancel, or a deadline, re-ensuring the pump on the way, until the
 *    outcome. The inbox keeps every event, whatever the orchestrator was awaiting when it came.
 */
function* followStatuses(run: Run): Generator<Task, DeploymentResult, unknown> {
  const { df, input } = run;
  const seen: Seen = { accepted: false, lastSequence: -1 };
  const reensureBaseMs = input.pumpReensureSeconds * 1000;
  const backsOff = sinceVersion(df.version, REENSURE_BACKOFF_SINCE);
  let reensureMs = reensureBaseMs;
  for (;;) {
    const deadline = seen.accepted ? run.completionDeadline : run.acceptanceDeadline;
    const now = df.currentUtcDateTime;
    if (now >= deadline) return yield* timedOut(run, seen.accepted);
    const wake = new Date(Math.min(deadline.getTime(), now.getTime() + reensureMs));
    const received = yield* run.inbox.next(wake);
    if (received.length === 0) {
      if (df.currentUtcDateTime < deadline) yield* call(df, ACTIVITIES.ensureStatusPump, input.tenant);
      if (backsOff) reensureMs = Math.min(reensureMs * 2, Math.max(MAX_REENSURE_MS, reensureBaseMs));
      continue;
    }
    reensureMs = reensureBaseMs;
    // Another attempt's, a duplicate or out of order are dropped (terminal states are final anyway).
    const { statuses, cancel } = yield* confirmed(run, received, seen.lastSequence);
    const end = track(run, seen, statuses);
    if (end) return yield* finish(run, end.outcome, end.message);
    if (cancel !== undefined) return yield* cancelWithGrace(run, cancel);
  }
}

/** What the attempt has seen of the agent: whether it accepted, and the last status sequence taken. */
interface Seen {
  accepted: boolean;
  lastSequence: number;
}

/**
 * Takes new statuses in order into the custom status; answers the outcome of the first terminal one.
 * 6. One writer of the outcome: an agent's terminal state ends the deployment (even one that came with a
 *    cancel: the agent finished first).
 */
function track(run: Run, seen: Seen, statuses: Status[]): { outcome: Outcome; message?: string } | undefined {
  const { df, status } = run;
  for (const s of statuses) {
    if (s.sequence <= seen.lastSequence) continue;
    seen.lastSequence = s.sequence;
    if (s.state === "Accepted" || s.state === "InProgress") seen.accepted = true;
    status.phase =
      s.state === "Accepted" ? "Accepted" : s.state === "InProgress" ? "InProgress" : status.phase;
    status.progress = Math.max(status.progress, s.progress);
    status.sequence = s.sequence;
    if (s.message !== undefined) status.message = s.message;
    df.setCustomStatus(status);
    const outcome = TERMINAL_STATES[s.state];
    if (outcome) return { outcome, message: s.message };
  }
  return undefined;
}

/** A deadline passed: Cancel to the agent, and the deployment ends TimedOut. */
function* timedOut(run: Run, accepted: boolean): Generator<Task, DeploymentResult, unknown> {
  yield* send(run, "Cancel", accepted ? "completion timeout" : "acceptance timeout");
  return yield* finish(
    run,
    "TimedOut",
    accepted
      ? "The deployment did not complete in time."
      : "The agent did not accept the deployment in time (agent offline?).",
  );
}

/**
 * Cancel (described after the steps in docs/workflow.md): tell the agent, then wait a grace period for its
 * acknowledgement; an agent's terminal state within it is the outcome.
 */
function* cancelWithGrace(run: Run, reason: string): Generator<Task, DeploymentResult, unknown> {
  const { df, input, status } = run;
  yield* send(run, "Cancel", reason);
  status.message = "Cancel requested";
  df.setCustomStatus(status);
  const graceEnd = new Date(df.currentUtcDateTime.getTime() + input.cancelGraceSeconds * 1000);
  for (;;) {
    const more = yield* run.inbox.next(graceEnd);
    if (more.length === 0)
      return yield* finish(
        run,
        "Cancelled",
        `${reason} (the agent did not acknowledge within the grace period)`,
      );
    const { statuses } = yield* confirmed(
      run,
      more.filter((e) => e.name === EVENTS.status),
    );
    for (const s of statuses) {
      const outcome = TERMINAL_STATES[s.state];
      if (outcome) return yield* finish(run, outcome, s.message ?? reason);
    }
  }
}

/** Sends a command of this attempt to the agent (never throws: a failure is an answer). */
function send(run: Run, type: Command["type"], reason?: string): Generator<Task, SendResult, unknown> {
  const { df, input } = run;
  return call(df, ACTIVITIES.sendCommand, {
    tenant: input.tenant,
    command: buildCommand({
      type,
      deploymentId: input.id,
      attempt: run.attempt,
      tenant: input.tenant,
      spec: input.spec,
      requestedAt: df.currentUtcDateTime,
      deadline: run.completionDeadline,
      reason,
    }),
  });
}

/** The outcome is decided by the phases and written once; what the ledger then holds is what this returns. */
function* finish(run: Run, outcome: Outcome, message?: string): Generator<Task, DeploymentResult, unknown> {
  const { df, input, attempt, status } = run;
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
}

/**
 * What of the received events this attempt acts on: its own statuses after `after` (in sequence order)
 * and the cancel's reason. Since CONFIRM_EVENTS_SINCE only what the ledger confirms, one activity for
 * all of them, and no activity when there is nothing to confirm; before, every event as it came.
 */
function* confirmed(
  run: Run,
  received: Received<DeploymentEvents>[],
  after = -1,
): Generator<Task, { statuses: Status[]; cancel?: string }, unknown> {
  const { df, input, attempt } = run;
  let statuses = received
    .flatMap((e) => (e.name === EVENTS.status ? [e.value] : []))
    .filter((s) => s.attempt === attempt && s.sequence > after)
    .sort((a, b) => a.sequence - b.sequence);
  const event = received.find((e) => e.name === EVENTS.cancel);
  let cancel = event
    ? ((event.value as CancelRequest | undefined)?.reason ?? "cancelled by user")
    : undefined;
  if (!run.confirms || (statuses.length === 0 && !event)) return { statuses, cancel };
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
}

durable.app.orchestration(ORCHESTRATIONS.deployment, deploymentOrchestrator);
