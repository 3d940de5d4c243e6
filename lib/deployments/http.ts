/**
 * HTTP handlers of the deployments API: start (with Idempotency-Key), read, list by tenant, cancel.
 * Registered by `triggers/deployments.ts`; the durable client comes from the trigger's input binding.
 */
import { createHash, randomUUID } from "node:crypto";
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { DurableClient } from "durable-functions";
import { z } from "zod";
import { requireRole, ROLES } from "../http/auth";
import { apiHandler, json } from "../http/handler";
import { ProblemError, validationProblem } from "../http/problem";
import { parseWith, readJson } from "../http/request";
import { invocationLogger } from "../logging/logger";
import { deploymentId as deploymentIdSchema, LIMITS } from "../messaging/contracts";
import { tenantParam } from "../tenants/http";
import { DeploymentExistsError, STATUS_FILTERS } from "./ledger";
import { DeploymentRecord, instanceIdFor, isTerminal } from "./model";
import type { ProviderRuntime } from "./runtime";
import { DeploymentInput, EVENTS, ORCHESTRATIONS } from "./workflow";

const startSchema = z.strictObject({
  deploymentId: deploymentIdSchema.optional(),
  spec: z
    .record(z.string(), z.unknown())
    .refine(
      (v) => Buffer.byteLength(JSON.stringify(v)) <= LIMITS.specBytes,
      `must be at most ${LIMITS.specBytes} bytes as JSON`,
    ),
  acceptanceTimeoutSeconds: z.number().int().min(1).max(86_400).optional(),
  completionTimeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .optional(),
});

const listQuerySchema = z.strictObject({
  status: z.enum(STATUS_FILTERS as [string, ...string[]]).optional(),
  top: z.coerce.number().int().min(1).max(1000).optional(),
  continuationToken: z.string().min(1).max(4096).optional(),
});

export function deploymentView(r: DeploymentRecord) {
  return {
    id: r.id,
    tenant: r.tenant,
    attempt: r.attempt,
    instanceId: r.instanceId,
    phase: r.phase,
    progress: r.progress,
    ...(r.outcome ? { outcome: r.outcome } : {}),
    ...(r.message !== undefined ? { message: r.message } : {}),
    requestedAt: r.requestedAt,
    updatedAt: r.updatedAt,
    ...(r.completedAt ? { completedAt: r.completedAt } : {}),
    ...(r.previousAttempt !== undefined ? { previousAttempt: r.previousAttempt } : {}),
    ...(r.lastStatus ? { lastStatus: r.lastStatus } : {}),
  };
}

function canonicalDigest(spec: unknown): string {
  const canonical = JSON.stringify(spec, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
  return `sha256:${createHash("sha256").update(canonical).digest("hex")}`;
}

function accepted(record: DeploymentRecord, client: DurableClient, status = 202): HttpResponseInit {
  const urls = client.createHttpManagementPayload(record.instanceId);
  return json(
    status,
    {
      id: record.id,
      tenant: record.tenant,
      attempt: record.attempt,
      instanceId: record.instanceId,
      statusUrl: `/api/deployments/${record.id}`,
      statusQueryGetUri: urls.statusQueryGetUri,
      terminatePostUri: urls.terminatePostUri,
    },
    { location: `/api/deployments/${record.id}` },
  );
}

function deploymentParam(request: HttpRequest): string {
  const id = request.params.id ?? "";
  if (!deploymentIdSchema.safeParse(id).success) {
    throw validationProblem([{ field: "id", message: "must be 1-64 letters, digits, '.', '_' or '-'" }]);
  }
  return id;
}

export type DurableHandler = (
  request: HttpRequest,
  client: DurableClient,
  context: InvocationContext,
) => Promise<HttpResponseInit>;

export function createDeploymentHandlers(getRuntime: () => ProviderRuntime) {
  const withProblems =
    (handler: DurableHandler) => (request: HttpRequest, client: DurableClient, context: InvocationContext) =>
      apiHandler((req, ctx) => handler(req, client, ctx))(request, context) as Promise<HttpResponseInit>;

  return {
    start: withProblems(async (request, client, context) => {
      const rt = getRuntime();
      requireRole(request, rt.settings.requireRoles, [ROLES.deploymentsWrite]);
      const tenant = tenantParam(request);
      const idempotencyKey = request.headers.get("idempotency-key") ?? undefined;
      if (idempotencyKey !== undefined && (idempotencyKey.length === 0 || idempotencyKey.length > 128)) {
        throw validationProblem([{ field: "Idempotency-Key", message: "must be 1-128 characters" }]);
      }
      const body = parseWith(startSchema, await readJson(request));
      const registration = await rt.store.get(tenant);
      if (!registration) throw new ProblemError(404, `Tenant "${tenant}" is not registered.`);
      if (registration.state !== "active") throw new ProblemError(409, `Tenant "${tenant}" is suspended.`);
      const id =
        body.deploymentId ??
        (idempotencyKey
          ? `d-${createHash("sha256").update(`${tenant}\n${idempotencyKey}`).digest("hex").slice(0, 24)}`
          : `d-${randomUUID().replace(/-/g, "").slice(0, 24)}`);
      const existing = await rt.ledger.find(id);
      if (existing) {
        if (idempotencyKey && existing.tenant === tenant) return accepted(existing, client, 200);
        throw new ProblemError(409, `Deployment "${id}" already exists.`);
      }
      const active = await rt.ledger.countActive(tenant);
      if (active >= registration.limits.maxConcurrentDeployments) {
        throw new ProblemError(
          409,
          `Tenant "${tenant}" already has ${active} deployment(s) in flight (limit ${registration.limits.maxConcurrentDeployments}).`,
        );
      }
      const now = new Date().toISOString();
      const attempt = 1;
      const instanceId = instanceIdFor(tenant, id, attempt);
      let record: DeploymentRecord;
      try {
        record = await rt.ledger.create({
          id,
          tenant,
          attempt,
          instanceId,
          phase: "Requested",
          progress: 0,
          specDigest: canonicalDigest(body.spec),
          requestedAt: now,
          updatedAt: now,
        });
      } catch (error) {
        if (error instanceof DeploymentExistsError && idempotencyKey) {
          return accepted((await rt.ledger.find(id)) as DeploymentRecord, client, 200);
        }
        throw error;
      }
      const input: DeploymentInput = {
        tenant,
        id,
        attempt,
        spec: body.spec,
        requestedAt: now,
        acceptanceTimeoutSeconds:
          body.acceptanceTimeoutSeconds ?? registration.limits.acceptanceTimeoutSeconds,
        completionTimeoutSeconds:
          body.completionTimeoutSeconds ?? registration.limits.completionTimeoutSeconds,
        pumpReensureSeconds: rt.settings.pumpReensureSeconds,
        cancelGraceSeconds: rt.settings.cancelGraceSeconds,
      };
      await client.startNew(ORCHESTRATIONS.deployment, { instanceId, input });
      invocationLogger(context).info("deployment started", { tenant, deploymentId: id, attempt, instanceId });
      return accepted(record, client);
    }),

    get: withProblems(async (request) => {
      const rt = getRuntime();
      requireRole(request, rt.settings.requireRoles, [ROLES.deploymentsRead, ROLES.deploymentsWrite]);
      const record = await rt.ledger.find(deploymentParam(request));
      if (!record) throw new ProblemError(404, `Deployment "${request.params.id}" was not found.`);
      return json(200, deploymentView(record));
    }),

    list: withProblems(async (request) => {
      const rt = getRuntime();
      requireRole(request, rt.settings.requireRoles, [ROLES.deploymentsRead, ROLES.deploymentsWrite]);
      const tenant = tenantParam(request);
      const query = parseWith(listQuerySchema, Object.fromEntries(request.query.entries()));
      if (!(await rt.store.get(tenant))) throw new ProblemError(404, `Tenant "${tenant}" is not registered.`);
      const page = await rt.ledger.list(tenant, query as Parameters<typeof rt.ledger.list>[1]);
      return json(200, {
        items: page.items.map(deploymentView),
        ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
      });
    }),

    cancel: withProblems(async (request, client, context) => {
      const rt = getRuntime();
      requireRole(request, rt.settings.requireRoles, [ROLES.deploymentsWrite]);
      const record = await rt.ledger.find(deploymentParam(request));
      if (!record) throw new ProblemError(404, `Deployment "${request.params.id}" was not found.`);
      if (isTerminal(record))
        throw new ProblemError(409, `Deployment "${record.id}" already ended (${record.outcome}).`);
      await client.raiseEvent(record.instanceId, EVENTS.cancel, { reason: "cancelled by user" });
      invocationLogger(context).info("deployment cancel requested", {
        tenant: record.tenant,
        deploymentId: record.id,
      });
      return json(202, deploymentView(record), { location: `/api/deployments/${record.id}` });
    }),
  };
}
