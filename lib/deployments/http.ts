/**
 * HTTP handlers of the deployments API: start (with Idempotency-Key), read, list by tenant, cancel, retry,
 * terminate. Registered by `triggers/deployments.ts`; the durable client comes from the trigger's input
 * binding, the role check and the problem+json answers from `authorized` (./authorized.ts).
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import type { DurableClient } from "durable-functions";
import { z } from "zod";
import { actorOf, actorView, holdsRole, ROLES } from "../http/auth";
import { json } from "../http/handler";
import { idempotencyKeyOf, resourceId } from "../http/idempotency";
import { continuationTokenParam, rejectInvalidContinuationToken } from "../http/paging";
import { ProblemError, validationProblem } from "../http/problem";
import { parseWith, readJson } from "../http/request";
import { invocationLogger } from "../logging/logger";
import { deploymentId as deploymentIdSchema, type Status } from "../messaging/contracts";
import { tenantParam } from "../tenants/http";
import { STATUS_FILTERS } from "./ledger";
import { DeploymentRecord, isTerminal, RETRYABLE_OUTCOMES, specDigest, storedActor } from "./model";
import { ensureStatusPumpActivity } from "./activities";
import { requestCancel } from "./cancel";
import { sendCancel } from "./commands";
import { notifyFinished } from "./notify";
import { instanceState } from "../durable/instances";
import { reconcile } from "./reconcile";
import {
  deploymentRequestFields,
  requireActiveTenant,
  requireSameRequest,
  resolveSpec,
  specOrRelease,
  startAttempt,
} from "./start";
import { timeoutOrderError } from "../tenants/model";
import { compactReceipt } from "../signing/receipts";
import type { DeploymentDeps } from "./deps";
import { DeploymentInput, EVENTS } from "./contract";
import { authorizedHandlers, requireRegistered, type AuthorizedCall } from "./authorized";

const startSchema = z
  .strictObject({
    deploymentId: deploymentIdSchema.optional(),
    ...deploymentRequestFields,
  })
  .superRefine(specOrRelease);

const listQuerySchema = z.strictObject({
  status: z.enum(STATUS_FILTERS as [string, ...string[]]).optional(),
  top: z.coerce.number().int().min(1).max(1000).optional(),
  continuationToken: continuationTokenParam.optional(),
});

/** The API shape of an attempt; lists leave the timeline out to stay small. */
function deploymentView(r: DeploymentRecord, options: { timeline?: boolean } = {}) {
  // Rows written by 0.2.0 or earlier have no actors: the fields are left out.
  const requestedBy = storedActor(r.requestedBy);
  const terminatedBy = storedActor(r.terminatedBy);
  return {
    id: r.id,
    tenant: r.tenant,
    attempt: r.attempt,
    instanceId: r.instanceId,
    phase: r.phase,
    progress: r.progress,
    ...(r.outcome ? { outcome: r.outcome } : {}),
    ...(r.message !== undefined ? { message: r.message } : {}),
    ...(requestedBy ? { requestedBy: actorView(requestedBy) } : {}),
    ...(terminatedBy ? { terminatedBy: actorView(terminatedBy) } : {}),
    ...(r.cancelRequested
      ? {
          cancelRequested: {
            at: r.cancelRequested.at,
            reason: r.cancelRequested.reason,
            by: { name: r.cancelRequested.by },
          },
        }
      : {}),
    requestedAt: r.requestedAt,
    updatedAt: r.updatedAt,
    ...(r.completedAt ? { completedAt: r.completedAt } : {}),
    ...(r.previousAttempt !== undefined ? { previousAttempt: r.previousAttempt } : {}),
    ...(r.rollout ? { rolloutId: r.rollout.id } : {}),
    ...(r.rollbackOf !== undefined ? { rollbackOf: r.rollbackOf } : {}),
    ...(r.release !== undefined ? { release: r.release } : {}),
    specDigest: r.specDigest,
    ...(r.windowOpensAt !== undefined ? { windowOpensAt: r.windowOpensAt } : {}),
    ...(r.suspended ? { suspended: true } : {}),
    ...(r.lastStatus ? { lastStatus: r.lastStatus } : {}),
    ...(r.health ? { health: r.health } : {}),
    // Whether the agent's end is a verified receipt (GET .../receipt answers it).
    ...(r.receipt ? { receipt: { kid: r.receipt.kid } } : {}),
    ...(options.timeline === false
      ? {}
      : { timeline: (r.timeline ?? []).map((e) => (e.by ? { ...e, by: actorView(e.by) } : e)) }),
  };
}

/** The absolute URL of a deployment, on the origin the caller used. */
function deploymentUrl(request: HttpRequest, record: Pick<DeploymentRecord, "id">): string {
  return new URL(`/api/deployments/${encodeURIComponent(record.id)}`, request.url).href;
}

/**
 * The start / retry answer: our own role-checked links, all absolute, with an absolute `Location`. The
 * management URLs of the Durable check-status payload (its `id` as `instanceId`; `id` stays the deployment
 * id) go only to a caller holding the Durable admin role: on Azure they carry the task hub's system key,
 * which opens every instance (any input, raise, terminate, purge) outside our role checks. With role
 * checks off (local) every caller holds every role.
 */
function accepted(
  request: HttpRequest,
  record: DeploymentRecord,
  client: DurableClient,
  rt: DeploymentDeps,
  status = 202,
): HttpResponseInit {
  const admin = holdsRole(request, rt.settings.requireRoles, ROLES.durableAdmin);
  const { id: _instanceId, ...durable } = admin ? client.createHttpManagementPayload(record.instanceId) : {};
  const self = deploymentUrl(request, record);
  return json(
    status,
    {
      id: record.id,
      tenant: record.tenant,
      attempt: record.attempt,
      instanceId: record.instanceId,
      statusUrl: self,
      cancelPostUri: `${self}/cancel`,
      terminateDeploymentPostUri: `${self}/terminate`,
      retryPostUri: `${self}/retry`,
      ...durable,
    },
    { location: self },
  );
}

function deploymentParam(request: HttpRequest): string {
  const id = request.params.id ?? "";
  if (!deploymentIdSchema.safeParse(id).success) {
    throw validationProblem([{ field: "id", message: "must be 1-64 letters, digits, '.', '_' or '-'" }]);
  }
  return id;
}

/**
 * The latest attempt of the deployment named in the path (reconciled with its orchestration instance,
 * which the Durable API may have changed behind the product's back), or a 404.
 */
async function requireDeployment(
  rt: DeploymentDeps,
  client: DurableClient,
  request: HttpRequest,
): Promise<DeploymentRecord> {
  const record = await rt.ledger.find(deploymentParam(request));
  if (!record) throw new ProblemError(404, `Deployment "${request.params.id}" was not found.`);
  return reconcile(rt, client, record);
}

/** As requireDeployment, and still in flight (409 once it has an outcome). */
async function requireRunning(
  rt: DeploymentDeps,
  client: DurableClient,
  request: HttpRequest,
): Promise<DeploymentRecord> {
  const record = await requireDeployment(rt, client, request);
  if (isTerminal(record))
    throw new ProblemError(409, `Deployment "${record.id}" already ended (${record.outcome}).`);
  return record;
}

const READ = [ROLES.deploymentsRead, ROLES.deploymentsWrite];
const WRITE = [ROLES.deploymentsWrite];

/** What each handler below gets once the caller holds one of its roles (./authorized.ts). */
type Call = AuthorizedCall<DeploymentDeps>;

/** POST: starts attempt 1 of a deployment (a repeat with the same Idempotency-Key answers the original). */
async function startDeployment({ request, client, context, rt }: Call): Promise<HttpResponseInit> {
  const tenant = tenantParam(request);
  const idempotencyKey = idempotencyKeyOf(request);
  const body = parseWith(startSchema, await readJson(request));
  const registered = await requireRegistered(rt, tenant);
  const id = body.deploymentId ?? resourceId("d", idempotencyKey, tenant);
  const requestDigest = specDigest(body);
  const existing = await rt.ledger.find(id);
  if (existing) {
    if (idempotencyKey && existing.tenant === tenant) {
      // Retries are later attempts of the same deployment; the key's request created attempt 1.
      const original = existing.attempt === 1 ? existing : ((await rt.ledger.get(tenant, id, 1)) ?? existing);
      requireSameRequest(original, { requestDigest, specDigest: specDigest(body.spec) });
      return accepted(request, existing, client, rt, 200);
    }
    throw new ProblemError(409, `Deployment "${id}" already exists.`);
  }
  // A timeout the request leaves out comes from the tenant's limits, so the order is checked here, after
  // a repeat has been answered as the original was.
  const timeoutError = timeoutOrderError(body, {
    timeouts: registered.limits,
    label: "the tenant's default",
  });
  if (timeoutError) throw validationProblem([timeoutError]);
  const registration = await requireActiveTenant(rt, client, tenant);
  const { spec, release } = await resolveSpec(rt, body);
  const record = await startAttempt(rt, client, registration, id, 1, spec, {
    ...(release !== undefined ? { release: { version: release } } : {}),
    acceptanceTimeoutSeconds: body.acceptanceTimeoutSeconds,
    completionTimeoutSeconds: body.completionTimeoutSeconds,
    idempotent: !!idempotencyKey,
    requestDigest,
    ignoreMaintenanceWindow: body.ignoreMaintenanceWindow,
    requestedBy: actorOf(request),
  });
  invocationLogger(context).info("deployment started", {
    tenant,
    deploymentId: id,
    attempt: record.attempt,
    instanceId: record.instanceId,
  });
  return accepted(request, record, client, rt);
}

/** POST .../retry: a new attempt of a deployment that ended retryably, with the original input. */
async function retryDeployment({ request, client, context, rt }: Call): Promise<HttpResponseInit> {
  const previous = await requireDeployment(rt, client, request);
  if (!previous.outcome || !RETRYABLE_OUTCOMES.includes(previous.outcome)) {
    throw new ProblemError(
      409,
      `Deployment "${previous.id}" is ${previous.outcome ?? previous.phase}; only ${RETRYABLE_OUTCOMES.join(", ")} deployments can be retried.`,
    );
  }
  const registration = await requireActiveTenant(rt, client, previous.tenant);
  const original = await client.getStatus(previous.instanceId, { showInput: true }).catch(() => undefined);
  const input = original?.input as DeploymentInput | undefined;
  if (!input?.spec)
    throw new ProblemError(
      409,
      `The spec of deployment "${previous.id}" is no longer available (its history was purged).`,
    );
  const record = await startAttempt(rt, client, registration, previous.id, previous.attempt + 1, input.spec, {
    acceptanceTimeoutSeconds: input.acceptanceTimeoutSeconds,
    completionTimeoutSeconds: input.completionTimeoutSeconds,
    previousAttempt: previous.attempt,
    ignoreMaintenanceWindow: input.ignoreMaintenanceWindow,
    requestedBy: actorOf(request),
    ...(previous.release !== undefined ? { release: { version: previous.release, rendered: true } } : {}),
    ...(previous.rollbackOf !== undefined ? { rollbackOf: previous.rollbackOf } : {}),
  });
  invocationLogger(context).info("deployment retried", {
    tenant: record.tenant,
    deploymentId: record.id,
    attempt: record.attempt,
  });
  return accepted(request, record, client, rt);
}

/** POST .../terminate: records the attempt in flight Terminated, ends its instance, sends Cancel. */
async function terminateDeployment({ request, client, context, rt }: Call): Promise<HttpResponseInit> {
  const log = invocationLogger(context);
  const record = await requireRunning(rt, client, request);
  const by = actorOf(request);
  // The ledger first: if the orchestration recorded its outcome in the meantime, that outcome stands
  // and nothing is terminated; otherwise Terminated is the one outcome, and the instance follows.
  const updated = await rt.ledger.complete(
    record.tenant,
    record.id,
    record.attempt,
    "Terminated",
    "terminated by user",
    { terminatedBy: by },
  );
  if (updated.outcome !== "Terminated")
    throw new ProblemError(409, `Deployment "${record.id}" already ended (${updated.outcome}).`);
  await client.terminate(record.instanceId, "terminated by user").catch((error: unknown) => {
    // Already finished in Durable: the record keeps the user's Terminated, the agent still gets a Cancel.
    log.warn("instance not terminated", { instanceId: record.instanceId, error });
  });
  await sendCancel(rt, record, "terminated by user", log);
  await notifyFinished(rt, client, updated, log);
  log.info("deployment terminated", { tenant: record.tenant, deploymentId: record.id, by: by.name });
  return json(202, deploymentView(updated), { location: deploymentUrl(request, record) });
}

/** GET: the latest attempt, with its timeline. */
async function getDeployment({ request, client, rt }: Call): Promise<HttpResponseInit> {
  const record = await requireDeployment(rt, client, request);
  return json(200, deploymentView(record));
}

/**
 * The attempt's signed receipt (lib/signing/receipts.ts): the signed status bytes (base64url), the
 * detached JWS, its key id and the compact JWS to verify as is; 404 when the latest attempt has none
 * (its tenant registered no receipt keys, or the agent has not reported its end).
 */
async function getReceipt({ request, client, rt }: Call): Promise<HttpResponseInit> {
  const record = await requireDeployment(rt, client, request);
  if (!record.receipt)
    throw new ProblemError(404, `Deployment "${record.id}" attempt ${record.attempt} has no signed receipt.`);
  const { payload, signature, kid } = record.receipt;
  return json(200, {
    id: record.id,
    tenant: record.tenant,
    attempt: record.attempt,
    kid,
    payload,
    signature,
    jws: compactReceipt(record.receipt),
  });
}

/** GET: a page of the tenant's deployments (latest attempts, without timelines). */
async function listDeployments({ request, client, rt }: Call): Promise<HttpResponseInit> {
  const tenant = tenantParam(request);
  const query = parseWith(listQuerySchema, Object.fromEntries(request.query.entries()));
  await requireRegistered(rt, tenant);
  const page = await rt.ledger
    .list(tenant, query as Parameters<typeof rt.ledger.list>[1])
    .catch(rejectInvalidContinuationToken);
  const items = await Promise.all(page.items.map((r) => reconcile(rt, client, r)));
  return json(200, {
    items: items.map((r) => deploymentView(r, { timeline: false })),
    ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
  });
}

// A deployment whose orchestration failed on our side (recorded Failed, the agent not cancelled) is
// rewound as the Durable extension rewinds (failed tasks run again) and its record reopened, so it
// finishes with its real outcome. Anything else is 409: there is nothing of ours to repair.
async function rewindDeployment({ request, client, context, rt }: Call): Promise<HttpResponseInit> {
  const record = await requireDeployment(rt, client, request);
  // A repeat after a reopen (a crash or an error half-way) only hands the agent's report over again.
  const reopenedBefore = !isTerminal(record) && (record.timeline ?? []).some((e) => e.event === "Reopened");
  if (!record.providerFailure && !reopenedBefore)
    throw new ProblemError(
      409,
      `Deployment "${record.id}" ${isTerminal(record) ? `ended ${record.outcome}` : "is in flight"}; only a deployment whose orchestration failed on the Provider's side can be rewound.`,
    );
  // The instance first: if this fails, nothing has changed and the request can be repeated.
  const state = await instanceState(client, record.instanceId);
  if (state?.found && state.runtimeStatus === "Failed")
    await client.rewind(record.instanceId, "rewound through the deployments API");
  // Reopened now, or (a repeat) already: the record as it stands either way.
  const reopened =
    (await rt.ledger.reopen(record.tenant, record.id, record.attempt)) ??
    (await rt.ledger.get(record.tenant, record.id, record.attempt)) ??
    record;
  // What the agent last said reached only the ledger while the instance was failed: hand it over (its
  // acceptance, or its end). A repeat is dropped by the orchestration's sequence check.
  const last = reopened.lastStatus;
  if (last)
    await client.raiseEvent(record.instanceId, EVENTS.status, {
      schemaVersion: 1,
      deploymentId: record.id,
      attempt: record.attempt,
      ...last,
    } satisfies Status);
  // The reopened record is in flight again: the tenant's pump must dispatch its statuses.
  await ensureStatusPumpActivity(rt, client, record.tenant);
  invocationLogger(context).info("deployment rewound", {
    tenant: record.tenant,
    deploymentId: record.id,
    attempt: record.attempt,
    instanceId: record.instanceId,
  });
  return json(202, deploymentView(reopened), { location: deploymentUrl(request, record) });
}

/** POST .../cancel: asks the attempt in flight to cancel (./cancel.ts). */
async function cancelDeployment({ request, client, context, rt }: Call): Promise<HttpResponseInit> {
  const record = await requireRunning(rt, client, request);
  const by = actorOf(request).name;
  const recorded = await requestCancel(rt, client, record, { reason: "cancelled by user", by });
  invocationLogger(context).info("deployment cancel requested", {
    tenant: record.tenant,
    deploymentId: record.id,
    attempt: record.attempt,
    by,
  });
  return json(202, deploymentView(recorded ?? record), { location: deploymentUrl(request, record) });
}

export function createDeploymentHandlers(getRuntime: () => DeploymentDeps) {
  const authorized = authorizedHandlers(getRuntime);
  return {
    start: authorized(WRITE, startDeployment),
    retry: authorized(WRITE, retryDeployment),
    terminate: authorized(WRITE, terminateDeployment),
    get: authorized(READ, getDeployment),
    receipt: authorized(READ, getReceipt),
    list: authorized(READ, listDeployments),
    rewind: authorized(WRITE, rewindDeployment),
    cancel: authorized(WRITE, cancelDeployment),
  };
}
