/**
 * Starting a deployment attempt, the one way: the tenant must be active and under its concurrency
 * limit, the attempt is recorded in the ledger (a repeated Idempotency-Key finds the original), then its
 * orchestration starts. Used by the deployments API (./http.ts) and by rollouts (lib/rollouts), so a
 * rollout's deployment is a normal deployment under every rule.
 */
import type { DurableClient } from "durable-functions";
import { z } from "zod";
import {
  deploymentSpec,
  HEALTH_CHECK_KEY,
  healthCheckOf,
  healthCheckSchema,
  LIMITS,
} from "../messaging/contracts";
import { keyReusedProblem } from "../http/idempotency";
import { ProblemError, validationProblem } from "../http/problem";
import { releaseSpecOf, releaseVersion, renderSpec } from "../releases/model";
import type { TenantRegistration } from "../tenants/model";
import { quarantineMessage } from "../tenants/quarantine";
import { deploymentInstanceId, type DeploymentInput, ORCHESTRATIONS } from "./contract";
import { DeploymentExistsError } from "./ledger";
import { type DeploymentRecord, isTerminal, specDigest } from "./model";
import { instanceState } from "../durable/instances";
import { inFlight } from "./reconcile";
import { requireRegistered } from "./authorized";
import type { DeploymentDeps } from "./deps";

/**
 * What a start request says about the deployment, the same for one tenant (the API) and many (rollouts):
 * a raw `spec` or the `release` whose spec each tenant gets with its parameters (exactly one of them,
 * `specOrRelease`).
 */
export const deploymentRequestFields = {
  spec: deploymentSpec
    .superRefine((spec, ctx) => {
      // The reserved member asks the agent for a health check: a raw spec may carry one, but a valid one
      // (an agent ignores a health check it cannot read, which would leave a rollout's gate guessing).
      if (spec[HEALTH_CHECK_KEY] === undefined) return;
      const parsed = healthCheckSchema.safeParse(spec[HEALTH_CHECK_KEY]);
      for (const issue of parsed.error?.issues ?? [])
        ctx.addIssue({ ...issue, code: "custom", path: [HEALTH_CHECK_KEY, ...issue.path] });
    })
    .optional(),
  release: releaseVersion.optional(),
  acceptanceTimeoutSeconds: z.number().int().min(1).max(86_400).optional(),
  completionTimeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .optional(),
  /** Deploy now even if the tenant's maintenance window is closed (an emergency fix). */
  ignoreMaintenanceWindow: z.boolean().optional(),
};

/** The refinement every schema with deploymentRequestFields adds: exactly one of `spec` and `release`. */
export function specOrRelease(body: { spec?: unknown; release?: unknown }, ctx: z.RefinementCtx): void {
  if ((body.spec === undefined) === (body.release === undefined))
    ctx.addIssue({
      code: "custom",
      path: [body.spec === undefined ? "spec" : "release"],
      message: "give either spec or release (exactly one)",
    });
}

/**
 * What a tenant is sent for a request: the raw spec, or the named release's spec (with its health check,
 * releaseSpecOf) rendered with the tenant's parameters (renderSpec, the one rule). A release that does not
 * exist is the caller's mistake.
 */
export async function resolveSpec(
  rt: Pick<DeploymentDeps, "releases">,
  request: { spec?: Record<string, unknown>; release?: string },
): Promise<{ spec: Record<string, unknown>; release?: string }> {
  if (request.release === undefined) return { spec: request.spec ?? {} };
  const release = await rt.releases.get(request.release);
  if (!release)
    throw validationProblem([{ field: "release", message: `release ${request.release} was not found` }]);
  return { spec: releaseSpecOf(release), release: release.version };
}

/**
 * The release's spec with the tenant's parameters (renderSpec); a result over the spec size limit is the
 * caller's mistake (a 400 naming `release`; for a rollout, a refused tenant), never a command that fails
 * to send.
 */
function renderedSpec(
  spec: Record<string, unknown>,
  registration: TenantRegistration,
  version: string,
): Record<string, unknown> {
  const rendered = renderSpec(spec, registration.parameters);
  if (!deploymentSpec.safeParse(rendered).success)
    throw validationProblem([
      {
        field: "release",
        message: `release ${version} with tenant "${registration.name}"'s parameters is over ${LIMITS.specBytes} bytes as JSON`,
      },
    ]);
  return rendered;
}

/**
 * A repeated Idempotency-Key must carry the request that created the deployment; replaying the old
 * deployment for a different body would silently drop the new request. Rows written before
 * requestDigest existed can only be compared by spec.
 */
export function requireSameRequest(
  original: DeploymentRecord,
  digests: { requestDigest?: string; specDigest: string },
): void {
  const same =
    original.requestDigest !== undefined && digests.requestDigest !== undefined
      ? original.requestDigest === digests.requestDigest
      : original.specDigest === digests.specDigest;
  if (!same) throw keyReusedProblem();
}

/** How an attempt starts: its deadlines, idempotency and the rollout it belongs to. */
interface StartOptions {
  acceptanceTimeoutSeconds?: number;
  completionTimeoutSeconds?: number;
  previousAttempt?: number;
  idempotent?: boolean;
  /** The canonical digest of the start request's body; see DeploymentRecord.requestDigest. */
  requestDigest?: string;
  /** The rollout this deployment belongs to, and the instance told when its outcome is written. */
  rollout?: DeploymentRecord["rollout"];
  /**
   * A repeat finding the attempt recorded but its instance missing (the first try died between the two
   * writes) starts the instance. Only for callers whose repeat carries the same request (rollouts).
   */
  startIfMissing?: boolean;
  ignoreMaintenanceWindow?: boolean;
  /** Who asked (the API's start and retry); a rollout's deployments leave it out. */
  requestedBy?: DeploymentRecord["requestedBy"];
  /**
   * The release `spec` is (unrendered): the tenant's parameters are merged in here and the record keeps
   * the version. A retry passes its attempt's spec as sent, already rendered: `rendered: true`.
   */
  release?: { version: string; rendered?: boolean };
  /** A rollout's rollback: the deployment whose release this one takes back (DeploymentRecord.rollbackOf). */
  rollbackOf?: string;
}

/** A spec with a health check: the record says a verdict will follow the success (the pump waits for it). */
function healthWindowOf(spec: Record<string, unknown>): Pick<DeploymentRecord, "healthWindowSeconds"> {
  const check = healthCheckOf(spec);
  return check ? { healthWindowSeconds: check.windowSeconds } : {};
}

/** Records an attempt in the ledger and starts its orchestration. */
export async function startAttempt(
  rt: DeploymentDeps,
  client: DurableClient,
  registration: TenantRegistration,
  id: string,
  attempt: number,
  spec: Record<string, unknown>,
  options: StartOptions,
): Promise<DeploymentRecord> {
  const tenant = registration.name;
  const now = new Date().toISOString();
  const instanceId = deploymentInstanceId(tenant, id, attempt);
  if (options.release && !options.release.rendered)
    spec = renderedSpec(spec, registration, options.release.version);
  const digest = specDigest(spec);
  let record: DeploymentRecord;
  try {
    record = await rt.ledger.create({
      id,
      tenant,
      attempt,
      instanceId,
      phase: "Requested",
      progress: 0,
      specDigest: digest,
      ...(options.requestDigest !== undefined ? { requestDigest: options.requestDigest } : {}),
      requestedAt: now,
      updatedAt: now,
      ...(options.previousAttempt !== undefined ? { previousAttempt: options.previousAttempt } : {}),
      ...(options.rollout ? { rollout: options.rollout } : {}),
      ...(options.requestedBy ? { requestedBy: options.requestedBy } : {}),
      ...(options.release ? { release: options.release.version } : {}),
      ...healthWindowOf(spec),
      ...(options.rollbackOf !== undefined ? { rollbackOf: options.rollbackOf } : {}),
    });
  } catch (error) {
    // A concurrent request with the same Idempotency-Key won the race: the same deployment if it is the
    // same request. Read by attempt, not through the id index, which the winner may not have written yet.
    if (error instanceof DeploymentExistsError && options.idempotent) {
      const winner = (await rt.ledger.get(tenant, id, attempt)) as DeploymentRecord;
      requireSameRequest(winner, { requestDigest: options.requestDigest, specDigest: digest });
      if (!options.startIfMissing || isTerminal(winner)) return winner;
      const state = await instanceState(client, instanceId);
      if (!state || state.found) return winner;
      record = winner;
    } else throw error;
  }
  const input: DeploymentInput = {
    tenant,
    id,
    attempt,
    spec,
    requestedAt: now,
    acceptanceTimeoutSeconds:
      options.acceptanceTimeoutSeconds ?? registration.limits.acceptanceTimeoutSeconds,
    completionTimeoutSeconds:
      options.completionTimeoutSeconds ?? registration.limits.completionTimeoutSeconds,
    pumpReensureSeconds: rt.settings.pumpReensureSeconds,
    cancelGraceSeconds: rt.settings.cancelGraceSeconds,
    commandSendAttempts: rt.settings.commandSendAttempts,
    commandRetrySeconds: rt.settings.commandRetrySeconds,
    // The windows as registered now: a later change to the registration does not move a waiting deployment.
    ...(options.ignoreMaintenanceWindow
      ? { ignoreMaintenanceWindow: true }
      : registration.maintenanceWindows.length > 0
        ? { maintenanceWindows: registration.maintenanceWindows }
        : {}),
  };
  try {
    await client.startNew(ORCHESTRATIONS.deployment, { instanceId, input });
  } catch (error) {
    // Two repeats raced to start the missing instance: one of them did.
    if (!options.startIfMissing || !(await instanceState(client, instanceId))?.found) throw error;
  }
  return record;
}

export async function requireActiveTenant(
  rt: DeploymentDeps,
  client: DurableClient,
  tenant: string,
): Promise<TenantRegistration> {
  const [registration, quarantine] = await Promise.all([
    requireRegistered(rt, tenant),
    rt.health.quarantine(tenant),
  ]);
  if (registration.state !== "active") throw new ProblemError(409, `Tenant "${tenant}" is suspended.`);
  // Its statuses are not received while it is quarantined, so a deployment started now could only time out.
  if (quarantine)
    throw new ProblemError(409, quarantineMessage(tenant, quarantine), undefined, { quarantine });
  // Reconciling reads every in-flight instance, so it is only worth it when the ledger's count would
  // refuse: then a record left behind a finished instance must not take a slot.
  const limit = registration.limits.maxConcurrentDeployments;
  let active = await rt.ledger.countActive(tenant);
  if (active >= limit) active = (await inFlight(rt, client, tenant)).length;
  if (active >= limit) {
    throw new ProblemError(
      409,
      `Tenant "${tenant}" already has ${active} deployment(s) in flight (limit ${limit}).`,
    );
  }
  return registration;
}

/**
 * Attempt 1 of deployment `id` at `tenant`, for another workflow (a rollout's step): started as the API
 * starts one, or found when the caller's step runs again (a crash, a retry), since admitting it again
 * would count it against the tenant's own limit and refuse it. A refusal is a ProblemError, as for the API.
 */
export async function startFirstAttempt(
  rt: DeploymentDeps,
  client: DurableClient,
  tenant: string,
  id: string,
  spec: Record<string, unknown>,
  options: StartOptions,
): Promise<DeploymentRecord> {
  const already = await rt.ledger.get(tenant, id, 1);
  const registration = already
    ? await requireRegistered(rt, tenant)
    : await requireActiveTenant(rt, client, tenant);
  return startAttempt(rt, client, registration, id, 1, spec, options);
}
