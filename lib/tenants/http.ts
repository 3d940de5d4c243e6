/**
 * HTTP handlers of the tenant registry (`/api/tenants...`): validate → registry → respond. Registered
 * as functions by `triggers/tenants.ts`; built from injected dependencies so tests drive them against
 * a real Azurite with real HttpRequest/InvocationContext objects.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { DurableClient } from "durable-functions";
import { z } from "zod";
import { ProviderSettings, SETTING_NAMES, tenantSettingAllowed } from "../config/settings";
import { requireRole, ROLES } from "../http/auth";
import { apiHandler, json } from "../http/handler";
import { continuationTokenParam, rejectInvalidContinuationToken } from "../http/paging";
import { ProblemError, validationProblem } from "../http/problem";
import { parseWith, readJson } from "../http/request";
import { invocationLogger } from "../logging/logger";
import {
  authSetting,
  findSecrets,
  namespaceAllowed,
  registrationInputSchema,
  TENANT_NAME_PATTERN,
  TenantRegistration,
} from "./model";
import { QueueTakenError } from "./claims";
import { publicKeySet, type SigningKey } from "../signing/keys";
import { PRIVATE_ENDPOINT_NAME_MAX, privateEndpointName } from "./network";
import { onboardingInstructions } from "./onboarding";
import { matchesSelector, selectorParam } from "./selector";
import { releaseVersion } from "../releases/model";
import type { TenantHealthStore } from "./health";
import { TenantConflictError, TenantNotFoundError, TenantStore, WriteConditions } from "./store";

/**
 * What the registry needs to know of deployments. lib/deployments imports lib/tenants, so the registry
 * never imports lib/deployments back: the Provider's runtime (lib/app/runtime.ts) passes these in.
 */
interface TenantDeploymentsView {
  /** Deployments the ledger records as in flight (the deployment ledger satisfies this). */
  countActive(tenant: string): Promise<number>;
}

export interface TenantApiDeps {
  store: TenantStore;
  settings: ProviderSettings;
  /** Deletion is refused while the tenant has deployments in flight. */
  ledger: TenantDeploymentsView;
  /**
   * With the trigger's durable client: the deployments still in flight once each record in flight is
   * reconciled with its instance. Without it, the ledger's count is used as is.
   */
  inFlight?: (client: DurableClient, tenant: string) => Promise<number>;
  /** Each tenant's current release (lib/inventory), for `?release=`; the list refuses it without one. */
  currentReleases?: () => Promise<Map<string, string>>;
  /** Operational records (last verify) go with the registration. */
  health?: TenantHealthStore;
  /** The Provider's command-signing keys: onboarding hands their public part to the customer to pin. */
  signingKeys?: () => Promise<SigningKey[]>;
}

export function tenantParam(request: HttpRequest): string {
  const name = request.params.tenant ?? "";
  if (!TENANT_NAME_PATTERN.test(name)) {
    throw validationProblem([
      {
        field: "tenant",
        message:
          "must be a slug of 3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit",
      },
    ]);
  }
  return name;
}

function conditions(request: HttpRequest): WriteConditions {
  const ifMatch = request.headers.get("if-match") ?? undefined;
  const ifNoneMatch = request.headers.get("if-none-match") ?? undefined;
  if (ifNoneMatch !== undefined && ifNoneMatch !== "*") {
    throw validationProblem([{ field: "If-None-Match", message: 'only "*" is supported' }]);
  }
  return { ifMatch, ifNoneMatch };
}

function registrationView(r: TenantRegistration) {
  return {
    name: r.name,
    directoryId: r.directoryId,
    ...(r.displayName ? { displayName: r.displayName } : {}),
    serviceBus: r.serviceBus,
    auth: r.auth,
    limits: r.limits,
    state: r.state,
    labels: r.labels,
    maintenanceWindows: r.maintenanceWindows,
    ...(r.receiptKeys ? { receiptKeys: r.receiptKeys } : {}),
    network: r.network,
    ...(r.parameters ? { parameters: r.parameters } : {}),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

function mapStoreError(error: unknown): never {
  if (error instanceof TenantNotFoundError) throw new ProblemError(404, error.message);
  if (error instanceof TenantConflictError) throw new ProblemError(412, error.message);
  if (error instanceof QueueTakenError) {
    throw new ProblemError(409, error.message, undefined, {
      holder: error.holder,
      namespace: error.ref.namespace,
      queue: error.ref.queue,
    });
  }
  throw error;
}

const listQuerySchema = z.strictObject({
  top: z.coerce.number().int().min(1).max(1000).optional(),
  continuationToken: continuationTokenParam.optional(),
  selector: selectorParam.optional(),
  /** Only the tenants whose current release (lib/inventory) is this version. */
  release: releaseVersion.optional(),
});

/** PUT: registers the tenant or updates its registration (If-Match / If-None-Match: "*"). */
async function putTenant(
  getDeps: () => TenantApiDeps,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const { store, settings } = getDeps();
  requireRole(request, settings.requireRoles, [ROLES.tenantsAdmin]);
  const name = tenantParam(request);
  const cond = conditions(request);
  const body = await readJson(request);
  const secrets = findSecrets(body);
  if (secrets.length > 0) {
    throw validationProblem(secrets, "The registration carries a secret. Secrets never go in the registry.");
  }
  const input = parseWith(registrationInputSchema, body);
  if (!namespaceAllowed(input.serviceBus.namespace, settings.allowedNamespaceSuffixes)) {
    throw validationProblem([
      {
        field: "serviceBus.namespace",
        message: `must end with one of: ${settings.allowedNamespaceSuffixes.join(", ")} (${SETTING_NAMES.allowedNamespaceSuffixes})`,
      },
    ]);
  }
  if (input.network === "private" && privateEndpointName(name).length > PRIVATE_ENDPOINT_NAME_MAX) {
    throw validationProblem([
      {
        field: "network",
        message: `a private tenant's name is at most ${PRIVATE_ENDPOINT_NAME_MAX - privateEndpointName("").length} characters: its private endpoint is named ${privateEndpointName("<tenant>")}, at most ${PRIVATE_ENDPOINT_NAME_MAX}`,
      },
    ]);
  }
  const named = authSetting(input.auth);
  if (named && !tenantSettingAllowed(named.setting, settings.tenantSecretSettingPrefix)) {
    throw validationProblem([
      {
        field: named.field,
        message: `must name an app setting that starts with ${settings.tenantSecretSettingPrefix} (${SETTING_NAMES.tenantSecretSettingPrefix}) and is not one of the Provider's own settings`,
      },
    ]);
  }
  const { created, registration } = await store.put(name, input, cond).catch(mapStoreError);
  invocationLogger(context).info(created ? "tenant registered" : "tenant updated", {
    tenant: name,
    directoryId: registration.directoryId,
    namespace: registration.serviceBus.namespace,
    authMode: registration.auth.mode,
    network: registration.network,
  });
  const headers: Record<string, string> = { etag: registration.etag };
  if (created) headers.location = `/api/tenants/${name}`;
  return json(created ? 201 : 200, registrationView(registration), headers);
}

/** GET: the registration, with its ETag and any quarantine. */
async function getTenant(getDeps: () => TenantApiDeps, request: HttpRequest): Promise<HttpResponseInit> {
  const { store, settings, health } = getDeps();
  requireRole(request, settings.requireRoles, [ROLES.tenantsRead, ROLES.tenantsAdmin]);
  const registration = await store.require(tenantParam(request)).catch(mapStoreError);
  // An operational fact beside the registration (it does not change its ETag): see ./quarantine.ts.
  const quarantine = await health?.quarantine(registration.name);
  return json(
    200,
    { ...registrationView(registration), ...(quarantine ? { quarantine } : {}) },
    { etag: registration.etag },
  );
}

/** GET: a page of registrations, filtered by `selector` and `release` on each page. */
async function listTenants(getDeps: () => TenantApiDeps, request: HttpRequest): Promise<HttpResponseInit> {
  const { store, settings } = getDeps();
  requireRole(request, settings.requireRoles, [ROLES.tenantsRead, ROLES.tenantsAdmin]);
  const { selector, release, ...paging } = parseWith(
    listQuerySchema,
    Object.fromEntries(request.query.entries()),
  );
  const page = await store.list(paging).catch(rejectInvalidContinuationToken);
  // The filters apply to each page, so a page may hold fewer than `top` (even none) and still go on.
  let items = selector ? page.items.filter((t) => matchesSelector(selector, t.labels)) : page.items;
  if (release !== undefined) {
    const current = await getDeps().currentReleases?.();
    if (!current) throw new ProblemError(501, "This host cannot filter tenants by release.");
    items = items.filter((t) => current.get(t.name) === release);
  }
  return json(200, {
    items: items.map(registrationView),
    ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
  });
}

/** DELETE: removes the registration; refused while the tenant has deployments in flight. */
async function deleteTenant(
  getDeps: () => TenantApiDeps,
  request: HttpRequest,
  context: InvocationContext,
  client?: DurableClient,
): Promise<HttpResponseInit> {
  const deps = getDeps();
  const { store, settings } = deps;
  requireRole(request, settings.requireRoles, [ROLES.tenantsAdmin]);
  const name = tenantParam(request);
  const inFlightCount =
    client && deps.inFlight ? await deps.inFlight(client, name) : await deps.ledger.countActive(name);
  if (inFlightCount > 0) {
    throw new ProblemError(
      409,
      `Tenant "${name}" has ${inFlightCount} deployment(s) in flight; cancel or wait for them before deleting it.`,
    );
  }
  await store.delete(name, conditions(request)).catch(mapStoreError);
  await deps.health?.forget(name);
  invocationLogger(context).info("tenant deleted", { tenant: name });
  return { status: 204 };
}

/** GET .../onboarding: what the customer runs to connect the tenant. */
async function getOnboarding(getDeps: () => TenantApiDeps, request: HttpRequest): Promise<HttpResponseInit> {
  const { store, settings } = getDeps();
  requireRole(request, settings.requireRoles, [ROLES.tenantsRead, ROLES.tenantsAdmin]);
  const registration = await store.require(tenantParam(request)).catch(mapStoreError);
  if (!settings.appClientId) {
    throw new ProblemError(
      503,
      `The Provider app's client id is not configured (app setting ${SETTING_NAMES.appClientId}); onboarding instructions need it.`,
    );
  }
  const keys = await getDeps().signingKeys?.();
  return json(
    200,
    onboardingInstructions(
      registration,
      settings.appClientId,
      settings.authorityHost,
      keys && keys.length > 0 ? await publicKeySet(keys) : undefined,
      settings.privateEndpointsResourceGroupId,
    ),
  );
}

export function createTenantHandlers(getDeps: () => TenantApiDeps) {
  // The platform check (503 without App Service Authentication) reads the same settings as the role checks.
  const roleChecks = () => getDeps().settings;
  return {
    put: apiHandler((request, context) => putTenant(getDeps, request, context), roleChecks),
    get: apiHandler((request) => getTenant(getDeps, request), roleChecks),
    list: apiHandler((request) => listTenants(getDeps, request), roleChecks),
    /**
     * With the trigger's durable client, records in flight are first reconciled with their instances, so
     * a record left behind a terminated or purged instance never blocks the delete.
     */
    delete: (request: HttpRequest, context: InvocationContext, client?: DurableClient) =>
      apiHandler((request, context) => deleteTenant(getDeps, request, context, client), roleChecks)(
        request,
        context,
      ),
    onboarding: apiHandler((request) => getOnboarding(getDeps, request), roleChecks),
  };
}
