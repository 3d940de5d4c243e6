/**
 * HTTP handlers of the rollouts API (registered by `triggers/rollouts.ts`): start (with Idempotency-Key),
 * read, list, and the controls approve / pause / resume / abort / retry. Controls are written to the
 * rollout's header under its ETag (the orchestration reads them there) and then announced to the
 * orchestration with a `rolloutControl` event, so a lost event only delays a control: repeating the
 * request is always safe.
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import type { DurableClient } from "durable-functions";
import { z } from "zod";
import { requestCancel } from "../deployments/cancel";
import { HEALTH_REPORT_GRACE_MS, specDigest } from "../deployments/model";
import { instanceState } from "../durable/instances";
import { authorizedHandlers, type AuthorizedCall } from "../deployments/authorized";
import { resolveSpec } from "../deployments/start";
import type { RolloutDeps } from "./deps";
import { actorOf, ROLES, type Actor } from "../http/auth";
import { json } from "../http/handler";
import { idempotencyKeyOf, keyReusedProblem, resourceId } from "../http/idempotency";
import { ProblemError, validationProblem } from "../http/problem";
import { parseWith, readJson } from "../http/request";
import { invocationLogger } from "../logging/logger";
import { timeoutOrderError } from "../tenants/model";
import { healthCheckOf } from "../messaging/contracts";
import { ROLLOUT_EVENTS, ROLLOUT_ORCHESTRATIONS, rolloutInstanceId, type RolloutInput } from "./contract";
import {
  DEFAULTS,
  notBeforeError,
  planRollout,
  resolveBudget,
  startRolloutSchema,
  TERMINAL_ROLLOUT_STATES,
  MAX_CONTROL_ENTRIES,
  type PlannedWave,
  type RolloutControlEntry,
  type RolloutOptions,
  type RolloutRecord,
  type RolloutTenant,
} from "./model";
import { selfApprovalRefusal } from "./four-eyes";
import { reconcileRollout } from "./reconcile";
import { RolloutExistsError } from "./store";
import { links, rolloutUrl, rolloutView, shownState } from "./view";

const READ = [ROLES.deploymentsRead, ROLES.deploymentsWrite];
const WRITE = [ROLES.deploymentsWrite];
const APPROVE = [ROLES.rolloutsApprove];
/** Big enough for a target list of 10,000 tenant names. */
const MAX_BODY_BYTES = 1024 * 1024;

const listQuerySchema = z.strictObject({ top: z.coerce.number().int().min(1).max(1000).optional() });

/** What each handler below gets once the caller holds one of its roles (lib/deployments/authorized.ts). */
type Call = AuthorizedCall<RolloutDeps>;

/** Records a planned rollout and starts its orchestration; a repeat finds the record and starts what is missing. */
async function launch(
  rt: RolloutDeps,
  client: DurableClient,
  record: RolloutRecord,
  waves: readonly PlannedWave[],
): Promise<RolloutRecord> {
  const rows: RolloutTenant[] = waves.flatMap((w, i) =>
    w.tenants.map((tenant) => ({ tenant, wave: i, phase: "Pending" as const })),
  );
  const created = await rt.rollouts.create(record, rows);
  await ensureStarted(rt, client, created, async () => waves);
  return created;
}

/** The planned waves, read back from the tenant rows (a repeat of the start request needs them). */
async function storedWaves(rt: RolloutDeps, record: RolloutRecord): Promise<PlannedWave[]> {
  const rows = await rt.rollouts.tenants(record.id);
  return record.waves.map((w, i) => ({
    name: w.name,
    tenants: rows.filter((t) => t.wave === i).map((t) => t.tenant),
  }));
}

/** A repeat of a start: the rollout is answered as it stands, and its orchestration started if missing. */
async function repeated(rt: RolloutDeps, client: DurableClient, request: HttpRequest, record: RolloutRecord) {
  if (!TERMINAL_ROLLOUT_STATES.includes(record.state))
    await ensureStarted(rt, client, record, () => storedWaves(rt, record));
  return json(
    200,
    { ...rolloutView(record), ...links(request, record.id) },
    { location: rolloutUrl(request, record.id) },
  );
}

/** A spec that asks for a health check (a release's, or a raw one) makes each wave wait for the verdicts. */
function healthGateOf(spec: Record<string, unknown>): Pick<RolloutInput, "healthGate"> {
  const check = healthCheckOf(spec);
  return check
    ? {
        healthGate: {
          windowSeconds: check.windowSeconds,
          intervalSeconds: check.intervalSeconds,
          graceSeconds: HEALTH_REPORT_GRACE_MS / 1000,
        },
      }
    : {};
}

async function ensureStarted(
  rt: RolloutDeps,
  client: DurableClient,
  record: RolloutRecord,
  plan: () => Promise<readonly PlannedWave[]>,
): Promise<void> {
  const instanceId = rolloutInstanceId(record.id);
  const state = await instanceState(client, instanceId);
  if (state?.found !== false) return;
  const waves = await plan();
  const input: RolloutInput = {
    rolloutId: record.id,
    waves: [...waves],
    maxConcurrency: record.options.maxConcurrency,
    bakeSeconds: record.options.bakeSeconds,
    approval: record.options.approval,
    batchSize: rt.settings.rolloutBatchSize,
    laneConcurrency: rt.settings.rolloutLaneConcurrency,
    sweepSeconds: rt.settings.rolloutSweepSeconds,
    ...(record.notBefore !== undefined ? { notBefore: record.notBefore } : {}),
    ...healthGateOf(record.spec),
    // Only when asked: an input without it halts (and yields) as every rollout before 0.5.0.
    ...(record.options.onHalt === "rollback" ? { onHalt: "rollback" as const } : {}),
  };
  try {
    await client.startNew(ROLLOUT_ORCHESTRATIONS.rollout, { instanceId, input });
  } catch (error) {
    if (!(await instanceState(client, instanceId))?.found) throw error;
  }
}

/** The rollout named in the path, reconciled with its orchestration, or a 404. */
async function requireRollout(
  rt: RolloutDeps,
  client: DurableClient,
  request: HttpRequest,
): Promise<RolloutRecord> {
  const id = request.params.id ?? "";
  const record = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/.test(id) ? await rt.rollouts.get(id) : undefined;
  if (!record) throw new ProblemError(404, `Rollout "${id}" was not found.`);
  return reconcileRollout(rt, client, record);
}

function requireNotEnded(record: RolloutRecord): void {
  if (TERMINAL_ROLLOUT_STATES.includes(record.state))
    throw new ProblemError(409, `Rollout "${record.id}" already ended (${record.state}).`);
}

async function announce(client: DurableClient, id: string, action: string): Promise<void> {
  // The header already holds the control; the event only wakes the orchestration sooner.
  await client
    .raiseEvent(rolloutInstanceId(id), ROLLOUT_EVENTS.rolloutControl, { action })
    .catch(() => undefined);
}

/** A start request's options, with the defaults and the budgets resolved for `total` tenants. */
function rolloutOptions(body: z.infer<typeof startRolloutSchema>, total: number): RolloutOptions {
  return {
    maxConcurrency: resolveBudget(body.maxConcurrency, total, DEFAULTS.maxConcurrency, "concurrency"),
    maxErrors: resolveBudget(body.maxErrors, total, DEFAULTS.maxErrors, "errors"),
    bakeSeconds: body.bakeSeconds ?? DEFAULTS.bakeSeconds,
    approval: body.approval ?? "none",
    ...(body.acceptanceTimeoutSeconds !== undefined
      ? { acceptanceTimeoutSeconds: body.acceptanceTimeoutSeconds }
      : {}),
    ...(body.completionTimeoutSeconds !== undefined
      ? { completionTimeoutSeconds: body.completionTimeoutSeconds }
      : {}),
    ...(body.ignoreMaintenanceWindow ? { ignoreMaintenanceWindow: true } : {}),
    ...(body.onHalt !== undefined ? { onHalt: body.onHalt } : {}),
  };
}

async function startRollout({ request, client, context, rt }: Call): Promise<HttpResponseInit> {
  const idempotencyKey = idempotencyKeyOf(request);
  const body = parseWith(startRolloutSchema, await readJson(request, { maxBytes: MAX_BODY_BYTES }));
  // Each tenant fills in a timeout left out from its own limits; two given ones must be in order.
  const timeoutError = timeoutOrderError(body);
  if (timeoutError) throw validationProblem([timeoutError]);
  // A start's key names the rollout unscoped (a retry's is scoped by the retried rollout).
  const id = body.rolloutId ?? resourceId("r", idempotencyKey);
  const requestDigest = specDigest(body);
  const store = rt.rollouts;
  const existing = await store.get(id);
  if (existing) {
    if (existing.requestDigest !== requestDigest) {
      if (idempotencyKey) throw keyReusedProblem();
      throw new ProblemError(409, `Rollout "${id}" already exists.`);
    }
    return repeated(rt, client, request, existing);
  }
  // Against the clock only for a new rollout: a repeat after notBefore passed is still answered above.
  const notBefore = notBeforeError(body.notBefore, Date.now());
  if (notBefore) throw validationProblem([notBefore]);
  const registered = await rt.store.listAll();
  const plan = planRollout(
    body,
    registered.map((t) => ({ name: t.name, labels: t.labels ?? {}, state: t.state })),
  );
  if ("errors" in plan) throw validationProblem(plan.errors);
  const total = plan.waves.reduce((n, w) => n + w.tenants.length, 0);
  const options = rolloutOptions(body, total);
  const { spec, release } = await resolveSpec(rt, body);
  const now = new Date().toISOString();
  const record: RolloutRecord = {
    id,
    state: body.notBefore !== undefined ? "Scheduled" : "Running",
    spec,
    ...(release !== undefined ? { release } : {}),
    ...(body.notBefore !== undefined ? { notBefore: body.notBefore } : {}),
    options,
    waves: plan.waves.map((w) => ({ name: w.name, size: w.tenants.length, state: "Pending" })),
    currentWave: 0,
    control: {},
    requestDigest,
    startedBy: actorOf(request),
    createdAt: now,
    updatedAt: now,
  };
  let created: RolloutRecord;
  try {
    created = await launch(rt, client, record, plan.waves);
  } catch (error) {
    if (!(error instanceof RolloutExistsError)) throw error;
    const winner = (await store.get(id)) as RolloutRecord;
    if (winner.requestDigest !== requestDigest)
      throw new ProblemError(409, `Rollout "${id}" already exists.`);
    return repeated(rt, client, request, winner);
  }
  invocationLogger(context).info("rollout started", {
    rolloutId: id,
    tenants: total,
    waves: plan.waves.length,
  });
  return json(202, { ...rolloutView(created), ...links(request, id) }, { location: rolloutUrl(request, id) });
}

async function getRollout({ request, client, rt }: Call): Promise<HttpResponseInit> {
  const record = await requireRollout(rt, client, request);
  const tenants = await rt.rollouts.tenants(record.id);
  return json(200, { ...rolloutView(record, tenants), ...links(request, record.id) });
}

async function listRollouts({ request, client, rt }: Call): Promise<HttpResponseInit> {
  const query = parseWith(listQuerySchema, Object.fromEntries(request.query.entries()));
  const stored = await rt.rollouts.list(query.top ?? 50);
  // Reconciled like a read by id (one instance read per rollout not yet ended), so a rollout ended
  // through the Durable API does not show Running in the list.
  const items = await Promise.all(stored.map((r) => reconcileRollout(rt, client, r)));
  return json(200, { items: items.map((r) => rolloutView(r)) });
}

async function retryRollout({ request, client, context, rt }: Call): Promise<HttpResponseInit> {
  const previous = await requireRollout(rt, client, request);
  if (!TERMINAL_ROLLOUT_STATES.includes(previous.state))
    throw new ProblemError(
      409,
      `Rollout "${previous.id}" is ${shownState(previous)}; only an ended rollout can be retried.`,
    );
  const tenants = await rt.rollouts.tenants(previous.id);
  // A tenant still Running (its rollout was ended behind its back) is deploying: not again. One rolled
  // back to its previous release (onHalt "rollback") no longer runs the release: it is retried.
  const again = tenants.filter(
    (t) =>
      (t.outcome !== "Succeeded" || t.rollbackOutcome === "Succeeded") &&
      t.phase !== "Running" &&
      t.rollback !== "Running",
  );
  if (again.length === 0)
    throw new ProblemError(409, `Every tenant of rollout "${previous.id}" succeeded; nothing to retry.`);
  const waves: PlannedWave[] = previous.waves
    .map((w, i) => ({ name: w.name, tenants: again.filter((t) => t.wave === i).map((t) => t.tenant) }))
    .filter((w) => w.tenants.length > 0);
  // With an Idempotency-Key a repeated retry finds the rollout the first one started.
  const key = idempotencyKeyOf(request);
  const id = resourceId("r", key, previous.id);
  const earlier = key ? await rt.rollouts.get(id) : undefined;
  if (earlier) return repeated(rt, client, request, earlier);
  const now = new Date().toISOString();
  const record: RolloutRecord = {
    ...previous,
    id,
    state: "Running",
    waves: waves.map((w) => ({ name: w.name, size: w.tenants.length, state: "Pending" })),
    currentWave: 0,
    control: {},
    requestDigest: specDigest({ retryOf: previous.id, at: now }),
    retryOf: previous.id,
    // The retry is a new rollout: its starter is whoever retried, and no control of the old one carries over.
    startedBy: actorOf(request),
    createdAt: now,
    updatedAt: now,
  };
  // The retry runs now: a schedule the retried rollout had is behind it.
  delete record.notBefore;
  delete record.completedAt;
  delete record.message;
  delete record.controls;
  delete record.rollback;
  delete record.etag;
  const created = await launch(rt, client, record, waves);
  invocationLogger(context).info("rollout retried", {
    rolloutId: id,
    retryOf: previous.id,
    tenants: again.length,
  });
  return json(202, { ...rolloutView(created), ...links(request, id) }, { location: rolloutUrl(request, id) });
}

/**
 * A control: `change` answers the header to write (or the refusal), and the control is added to the
 * header's `controls` with who gave it, in the same write. A repeat of a pause or resume adds an entry
 * again (someone asked again); approve names the wave it passed.
 */
function control(
  action: RolloutControlEntry["action"],
  change: (r: RolloutRecord, by: Actor, rt: RolloutDeps) => RolloutRecord | ProblemError,
  after?: (rt: RolloutDeps, client: DurableClient, r: RolloutRecord) => Promise<void>,
) {
  return async ({ request, client, context, rt }: Call): Promise<HttpResponseInit> => {
    const by = actorOf(request);
    const current = await requireRollout(rt, client, request);
    requireNotEnded(current);
    let refused: ProblemError | undefined;
    const updated = await rt.rollouts.update(current.id, (r) => {
      if (TERMINAL_ROLLOUT_STATES.includes(r.state)) {
        refused = new ProblemError(409, `Rollout "${r.id}" already ended (${r.state}).`);
        return undefined;
      }
      const next = change(r, by, rt);
      if (next instanceof ProblemError) {
        refused = next;
        return undefined;
      }
      refused = undefined;
      const entry: RolloutControlEntry = {
        action,
        by,
        at: new Date().toISOString(),
        ...(action === "approve" ? { wave: r.currentWave } : {}),
      };
      return { ...next, controls: [...(r.controls ?? []), entry].slice(-MAX_CONTROL_ENTRIES) };
    });
    if (refused) throw refused;
    await after?.(rt, client, updated);
    await announce(client, updated.id, action);
    invocationLogger(context).info(`rollout ${action}`, { rolloutId: updated.id, by: by.name });
    return json(
      202,
      { ...rolloutView(updated), ...links(request, updated.id) },
      { location: rolloutUrl(request, updated.id) },
    );
  };
}

/** Approve passes the current wave; only while it waits for approval, and not by its starter unless allowed. */
function approved(r: RolloutRecord, by: Actor, rt: RolloutDeps): RolloutRecord | ProblemError {
  if (r.state !== "WaitingForApproval")
    return new ProblemError(409, `Rollout "${r.id}" is ${shownState(r)}, not waiting for approval.`);
  const selfApproval = selfApprovalRefusal(r.id, r.startedBy, by, rt.settings.allowSelfApproval);
  if (selfApproval) return selfApproval;
  return {
    ...r,
    control: { ...r.control, approved: [...new Set([...(r.control.approved ?? []), r.currentWave])] },
  };
}

/** After an abort is recorded: each in-flight deployment gets the normal cancel (the agent is told and acknowledges). */
async function cancelRunning(rt: RolloutDeps, client: DurableClient, r: RolloutRecord): Promise<void> {
  const [running, rollingBack] = await Promise.all([
    rt.rollouts.tenants(r.id, { phase: "Running" }),
    rt.rollouts.tenants(r.id, { rollback: "Running" }),
  ]);
  // A rollback deployment is always its id's attempt 1 (advanceBatch starts it with startFirstAttempt).
  const inFlight = [
    ...running.flatMap((t) =>
      t.deploymentId && t.attempt ? [{ tenant: t.tenant, id: t.deploymentId, attempt: t.attempt }] : [],
    ),
    ...rollingBack.flatMap((t) =>
      t.rollbackDeploymentId ? [{ tenant: t.tenant, id: t.rollbackDeploymentId, attempt: 1 }] : [],
    ),
  ];
  await Promise.all(
    inFlight.map((d) =>
      requestCancel(
        rt,
        client,
        d,
        { reason: "rollout aborted", by: `rollout:${r.id}` },
        // A raise that fails here is done again by each batch once it sees the abort
        // (advanceBatch, cancelInFlight), which logs a failure of its own.
      ).catch(() => undefined),
    ),
  );
}

export function createRolloutHandlers(getRuntime: () => RolloutDeps) {
  const authorized = authorizedHandlers(getRuntime);
  return {
    start: authorized(WRITE, startRollout),
    get: authorized(READ, getRollout),
    list: authorized(READ, listRollouts),
    approve: authorized(APPROVE, control("approve", approved)),
    // Repeating pause, or a resume the orchestration has not acted on yet (still Paused), is answered and
    // announced again: a lost announcement is mended by asking again.
    pause: authorized(
      WRITE,
      control("pause", (r) =>
        r.state === "RollingBack"
          ? new ProblemError(
              409,
              `Rollout "${r.id}" is RollingBack: a rollback is not paused (abort stops it).`,
            )
          : { ...r, control: { ...r.control, paused: true } },
      ),
    ),
    resume: authorized(
      WRITE,
      control("resume", (r) =>
        r.control.paused || r.state === "Paused"
          ? { ...r, control: { ...r.control, paused: false } }
          : new ProblemError(409, `Rollout "${r.id}" is not paused.`),
      ),
    ),
    abort: authorized(
      WRITE,
      control("abort", (r) => ({ ...r, control: { ...r.control, aborted: true } }), cancelRunning),
    ),
    retry: authorized(WRITE, retryRollout),
  };
}
