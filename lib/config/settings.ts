/**
 * App settings of the Provider app, read from the environment (Azure app settings, or
 * local.settings.json `Values` under the dev host). One place names every setting the code reads, so
 * the infra templates can be checked against it.
 */
import { z } from "zod";

export class ConfigurationError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`App setting ${setting}: ${message}`);
    this.name = "ConfigurationError";
  }
}

/** Every app setting the Provider app reads. Keep in sync with infra/ and docs/. */
export const SETTING_NAMES = {
  storage: "AzureWebJobsStorage",
  allowedNamespaceSuffixes: "SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES",
  localMode: "DEV_LOCAL_MODE",
  localEndpoints: "DEV_SERVICEBUS_ENDPOINTS",
  appClientId: "PROVIDER_APP_CLIENT_ID",
  managedIdentityClientId: "PROVIDER_MANAGED_IDENTITY_CLIENT_ID",
  authorityHost: "AZURE_AUTHORITY_HOST",
  requireRoles: "AUTH_REQUIRE_ROLES",
  /** Set by App Service itself (`True`) when App Service Authentication is on; never an app setting of ours. */
  platformAuthEnabled: "WEBSITE_AUTH_ENABLED",
  statusPollWaitMs: "STATUS_POLL_WAIT_MS",
  statusPollBatch: "STATUS_POLL_BATCH",
  pumpReensureSeconds: "PUMP_REENSURE_SECONDS",
  cancelGraceSeconds: "CANCEL_GRACE_SECONDS",
  commandSendAttempts: "COMMAND_SEND_ATTEMPTS",
  commandRetrySeconds: "COMMAND_RETRY_SECONDS",
  rolloutBatchSize: "ROLLOUT_BATCH_SIZE",
  rolloutLaneConcurrency: "ROLLOUT_LANE_CONCURRENCY",
  rolloutSweepSeconds: "ROLLOUT_SWEEP_SECONDS",
  statusDelivery: "STATUS_DELIVERY",
  statusPollSchedule: "STATUS_POLL_SCHEDULE",
  tenantSecretSettingPrefix: "REGISTRATION_SETTING_PREFIX",
  allowSelfApproval: "ROLLOUTS_ALLOW_SELF_APPROVAL",
  quarantineBadMessages: "QUARANTINE_BAD_MESSAGES",
  quarantineWindowSeconds: "QUARANTINE_WINDOW_SECONDS",
  /** The command-signing keys: Key Vault key ids, or `file:<path>` in local mode (lib/signing/keys.ts). */
  commandSigningKeys: "COMMAND_SIGNING_KEYS",
  /**
   * The resource group (its resource id) of the Provider's private endpoints to private tenants'
   * namespaces (infra/provider.bicep): onboarding names the exact endpoint a customer approves.
   */
  privateEndpointsResourceGroupId: "PRIVATE_ENDPOINTS_RESOURCE_GROUP_ID",
  webhookAllowedHosts: "WEBHOOK_ALLOWED_HOSTS",
} as const;

/**
 * The prefix every app setting a tenant registration names (`auth.sasSetting`, `auth.certificateSetting`,
 * `auth.secretSetting`) must start with, so a registration can never point at the Provider's own settings
 * (`AzureWebJobsStorage`, ...).
 */
const DEFAULT_REGISTRATION_SETTING_PREFIX = "TENANT_";
const SETTING_PREFIX_PATTERN = /^[A-Za-z][A-Za-z0-9_]*_$/;
/** Prefixes of the platform's own settings (App Service, Functions host, managed identity). */
const PLATFORM_PREFIXES =
  /^(WEBSITE|APPSETTING|FUNCTIONS|MSI|IDENTITY|APPLICATIONINSIGHTS|AZURE|CONTAINER)_/i;

/**
 * How statuses reach the Provider: `pump` (default), a per-tenant durable long-poll that runs only while
 * the tenant has work; `timerPoll`, the baseline the pump is measured against: a timer polls every
 * registered tenant's status queue on `STATUS_POLL_SCHEDULE`, one message per tenant per tick.
 */
const STATUS_DELIVERY_MODES = ["pump", "timerPoll"] as const;
export type StatusDelivery = (typeof STATUS_DELIVERY_MODES)[number];
const DEFAULT_STATUS_POLL_SCHEDULE = "*/10 * * * * *";

const DEFAULT_ALLOWED_NAMESPACE_SUFFIXES = [".servicebus.windows.net"];

/**
 * The identity-based form of `AzureWebJobsStorage`, as the Functions host reads it: `<name>__<part>`.
 * The host and the Durable extension use `__accountName` (or the service URIs), `__credential` and
 * `__clientId`; our tables read `__tableServiceUri`, else derive it from `__accountName`.
 */
const STORAGE_IDENTITY_PARTS = {
  tableServiceUri: "tableServiceUri",
  accountName: "accountName",
  clientId: "clientId",
  credential: "credential",
} as const;

/** `AzureWebJobsStorage__<part>`. */
const storageSetting = (part: keyof typeof STORAGE_IDENTITY_PARTS) =>
  `${SETTING_NAMES.storage}__${STORAGE_IDENTITY_PARTS[part]}`;

/**
 * How the Provider reaches its storage account: a connection string (Azurite locally), or the app's
 * managed identity on the account's table endpoint (Azure: the account allows no shared keys).
 */
export type StorageAccess =
  | { kind: "connectionString"; connectionString: string }
  | {
      kind: "identity";
      /** e.g. `https://<account>.table.core.windows.net`. */
      tableServiceUri: string;
      /** The user-assigned identity's client id; without it DefaultAzureCredential picks the credential. */
      clientId?: string;
    };

export interface ProviderSettings {
  /** The storage account of the registry, the ledger and the task hub: one way in for every table. */
  storage: StorageAccess;
  /** Host suffixes a registration's Service Bus namespace must end with. */
  allowedNamespaceSuffixes: string[];
  /** Local mode allows extra suffixes and endpoint overrides; never set in Azure. */
  localMode: boolean;
  /** Local mode only: namespace FQDN → emulator endpoint (e.g. `sb://127.0.0.1:5673`). */
  localEndpoints: Record<string, string>;
  /** Client id of the Provider's multi-tenant app registration. */
  appClientId?: string;
  /** Client id of the user-assigned managed identity federated with the app. */
  managedIdentityClientId?: string;
  /** Entra authority host; a local token issuer in local mode. */
  authorityHost?: string;
  /** Enforce app roles from the EasyAuth principal header on the HTTP API. */
  requireRoles: boolean;
  /**
   * Whether App Service Authentication runs in front of the app (the platform says so with
   * `WEBSITE_AUTH_ENABLED=True`). Role checks trust the principal header only behind it.
   */
  platformAuthEnabled: boolean;
  /** Status pump long-poll: how long one receive waits for the first message. */
  statusPollWaitMs: number;
  /** Status pump: most messages taken per receive. */
  statusPollBatch: number;
  /** How often a waiting deployment makes sure its tenant's status pump runs. */
  pumpReensureSeconds: number;
  /** How long a cancelled deployment waits for the agent's Cancelled acknowledgement. */
  cancelGraceSeconds: number;
  /** How many times a deployment tries to send its Deploy command before it ends Failed. */
  commandSendAttempts: number;
  /** The first wait between send attempts; it doubles each time (at most a minute). */
  commandRetrySeconds: number;
  /** Rollouts: tenants one batch orchestration runs at most (bounds each history). */
  rolloutBatchSize: number;
  /** Rollouts: deployments one batch keeps in flight at most (more concurrency runs more batches at once). */
  rolloutLaneConcurrency: number;
  /** Rollouts: how long a batch waits for a finished deployment before it reads its in-flight records. */
  rolloutSweepSeconds: number;
  /** Status delivery design: the per-tenant pump, or the baseline timer poll. */
  statusDelivery: StatusDelivery;
  /** Timer poll schedule (six-field NCRONTAB or hh:mm:ss); only read in `timerPoll` mode. */
  statusPollSchedule: string;
  /** The prefix of every app setting a tenant registration may name. */
  tenantSecretSettingPrefix: string;
  /** Four eyes off: whoever started a rollout may approve its gates too. */
  allowSelfApproval: boolean;
  /** Bad status messages within the window that quarantine a tenant (lib/tenants/quarantine.ts); 0: never. */
  quarantineBadMessages: number;
  /** The quarantine's counting window. */
  quarantineWindowSeconds: number;
  /** `COMMAND_SIGNING_KEYS` as set (parsed on first use, lib/signing/keys.ts); absent: commands go unsigned. */
  commandSigningKeys?: string;
  /** `/subscriptions/<id>/resourceGroups/<name>` of the Provider's private endpoints; absent: not known. */
  privateEndpointsResourceGroupId?: string;
  /**
   * Hosts webhook subscriptions may target (lib/notifications/targets.ts): exact host names, or suffixes
   * starting with a dot (`.example.com`). Empty: none (in local mode, loopback receivers only).
   */
  webhookAllowedHosts: string[];
}

const WEBHOOK_HOST =
  /^\.?(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

function webhookAllowedHosts(env: NodeJS.ProcessEnv): string[] {
  const raw = env[SETTING_NAMES.webhookAllowedHosts]?.trim();
  if (!raw) return [];
  const hosts = raw
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== "");
  for (const host of hosts)
    if (!WEBHOOK_HOST.test(host))
      throw new ConfigurationError(
        SETTING_NAMES.webhookAllowedHosts,
        "must be host names or .suffixes, separated by commas (hooks.example.com,.example.net)",
      );
  return hosts;
}

const RESOURCE_GROUP_ID = /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w._()]{1,90}$/i;

function privateEndpointsResourceGroup(
  env: NodeJS.ProcessEnv,
): Pick<ProviderSettings, "privateEndpointsResourceGroupId"> {
  const value = env[SETTING_NAMES.privateEndpointsResourceGroupId]?.trim();
  if (!value) return {};
  if (!RESOURCE_GROUP_ID.test(value)) {
    throw new ConfigurationError(
      SETTING_NAMES.privateEndpointsResourceGroupId,
      "must be a resource group's id, /subscriptions/<subscription id>/resourceGroups/<name>",
    );
  }
  return { privateEndpointsResourceGroupId: value };
}

/**
 * The value of each numeric setting left unset: the one place the defaults are written (docs and the
 * infra templates name them; an orchestration input written before a setting existed keeps its own
 * fallback in the orchestrator, which replay fixes and a change here must not move).
 */
export const SETTING_DEFAULTS = {
  statusPollWaitMs: 20_000,
  statusPollBatch: 50,
  pumpReensureSeconds: 60,
  cancelGraceSeconds: 30,
  commandSendAttempts: 5,
  commandRetrySeconds: 2,
  rolloutBatchSize: 100,
  rolloutLaneConcurrency: 25,
  rolloutSweepSeconds: 30,
  quarantineBadMessages: 100,
  quarantineWindowSeconds: 600,
} as const satisfies Partial<Record<keyof ProviderSettings, number>>;

/**
 * Whether a registration may name `setting`: it starts with the prefix (and is longer), and it is none of
 * the Provider's own settings. A setting's value is never read for a tenant otherwise.
 */
export function tenantSettingAllowed(setting: string, prefix: string): boolean {
  const own = Object.values(SETTING_NAMES) as string[];
  return setting.startsWith(prefix) && setting.length > prefix.length && !own.includes(setting);
}

/**
 * Whether a STORED registration's setting may be read: one with the prefix, or (a registration stored by
 * a release before the prefix rule, e.g. 0.1.0's `CONTOSO_SERVICEBUS_SAS`) any setting that is none of the
 * Provider's own and none of the platform's (`AzureWebJobs*`, `WEBSITE_`, `FUNCTIONS_`, ...). So an upgrade
 * never cuts a customer off mid-deployment, while no registration, old or new, reaches the Provider's keys.
 * New registrations must use the prefix (`tenantSettingAllowed`).
 */
export function storedTenantSettingReadable(setting: string, prefix: string): boolean {
  if (tenantSettingAllowed(setting, prefix)) return true;
  const own = Object.values(SETTING_NAMES) as string[];
  return !own.includes(setting) && !/^AzureWebJobs/i.test(setting) && !PLATFORM_PREFIXES.test(setting);
}

const suffixSchema = z
  .string()
  .regex(
    /^\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/,
    "must look like .example.net",
  );

function parseEndpoints(raw: string | undefined): Record<string, string> {
  if (!raw || raw.trim() === "") return {};
  const result: Record<string, string> = {};
  for (const pair of raw.split(",")) {
    const [fqdn, endpoint] = pair.split("=").map((s) => s.trim());
    if (!fqdn || !endpoint || !/^sb:\/\/[^/]+$/.test(endpoint)) {
      throw new ConfigurationError(
        SETTING_NAMES.localEndpoints,
        `every entry must look like "namespace.fqdn=sb://host:port" (comma-separated); one does not`,
      );
    }
    result[fqdn.toLowerCase()] = endpoint;
  }
  return result;
}

function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigurationError(name, `must be an integer from ${min} to ${max}`);
  }
  return n;
}

function isTrue(value: string | undefined): boolean {
  return /^(1|true|yes)$/i.test(value?.trim() ?? "");
}

/**
 * The status delivery mode and timer schedule alone. The trigger module reads them at load time to decide
 * whether to register the timer, so they must not depend on (or fail with) any other setting.
 */
export function loadStatusDelivery(
  env: NodeJS.ProcessEnv = process.env,
): Pick<ProviderSettings, "statusDelivery" | "statusPollSchedule"> {
  const raw = optional(env, SETTING_NAMES.statusDelivery) ?? "pump";
  const statusDelivery = STATUS_DELIVERY_MODES.find((m) => m.toLowerCase() === raw.toLowerCase());
  if (!statusDelivery)
    throw new ConfigurationError(
      SETTING_NAMES.statusDelivery,
      `must be one of ${STATUS_DELIVERY_MODES.join(", ")}`,
    );
  const statusPollSchedule = optional(env, SETTING_NAMES.statusPollSchedule) ?? DEFAULT_STATUS_POLL_SCHEDULE;
  const sixFields = statusPollSchedule.split(/\s+/).length === 6;
  const timeSpan = /^(\d+\.)?\d{1,2}:\d{2}:\d{2}$/.test(statusPollSchedule);
  if (!sixFields && !timeSpan)
    throw new ConfigurationError(
      SETTING_NAMES.statusPollSchedule,
      "must be a six-field NCRONTAB expression or hh:mm:ss",
    );
  return { statusDelivery, statusPollSchedule };
}

function tenantSecretSettingPrefix(env: NodeJS.ProcessEnv): string {
  const prefix =
    optional(env, SETTING_NAMES.tenantSecretSettingPrefix) ?? DEFAULT_REGISTRATION_SETTING_PREFIX;
  if (!SETTING_PREFIX_PATTERN.test(prefix))
    throw new ConfigurationError(
      SETTING_NAMES.tenantSecretSettingPrefix,
      "must be letters, digits and underscores, start with a letter and end with an underscore",
    );
  if (PLATFORM_PREFIXES.test(prefix))
    throw new ConfigurationError(
      SETTING_NAMES.tenantSecretSettingPrefix,
      "must not select the platform's settings (WEBSITE_, FUNCTIONS_, AZURE_, IDENTITY_, ...)",
    );
  const own = (Object.values(SETTING_NAMES) as string[]).filter((name) => name.startsWith(prefix));
  if (own.length > 0)
    throw new ConfigurationError(
      SETTING_NAMES.tenantSecretSettingPrefix,
      `must not be a prefix of the Provider's own settings (${own.join(", ")})`,
    );
  return prefix;
}

/**
 * Where the storage is: `AzureWebJobsStorage` as a connection string wins (as in the Functions host);
 * else the identity-based form, `AzureWebJobsStorage__tableServiceUri` or `__accountName` (the public
 * cloud's table endpoint), with `__clientId` for a user-assigned identity. Neither set is an error naming
 * both, rather than a silent Azurite default that would fail later as a refused connection in Azure.
 */
export function loadStorageAccess(env: NodeJS.ProcessEnv = process.env): StorageAccess {
  const connectionString = optional(env, SETTING_NAMES.storage);
  if (connectionString) return { kind: "connectionString", connectionString };
  const uri = optional(env, storageSetting("tableServiceUri"));
  const account = optional(env, storageSetting("accountName"));
  const clientId = optional(env, storageSetting("clientId"));
  let tableServiceUri: string;
  if (uri) {
    // https only: the managed identity's bearer token goes with every request.
    if (!/^https:\/\/[^/\s]+\/?$/i.test(uri))
      throw new ConfigurationError(
        storageSetting("tableServiceUri"),
        "must be the table service's https URL, e.g. https://<account>.table.core.windows.net",
      );
    tableServiceUri = uri.replace(/\/$/, "");
  } else if (account) {
    if (!/^[a-z0-9]{3,24}$/.test(account))
      throw new ConfigurationError(
        storageSetting("accountName"),
        "must be a storage account name (3-24 lowercase letters and digits)",
      );
    tableServiceUri = `https://${account}.table.core.windows.net`;
  } else {
    throw new ConfigurationError(
      SETTING_NAMES.storage,
      `is not set: set it to a connection string (Azurite locally), or use the identity-based form ` +
        `${storageSetting("accountName")} or ${storageSetting("tableServiceUri")} ` +
        `(with ${storageSetting("clientId")} for a user-assigned identity)`,
    );
  }
  return { kind: "identity", tableServiceUri, ...(clientId ? { clientId } : {}) };
}

/**
 * The two settings the API's platform check needs (`lib/http/platform-auth.ts`), alone, so a request can
 * be answered about them whatever else is wrong.
 */
export function loadRoleChecks(
  env: NodeJS.ProcessEnv = process.env,
): Pick<ProviderSettings, "requireRoles" | "platformAuthEnabled"> {
  return {
    requireRoles: isTrue(env[SETTING_NAMES.requireRoles]),
    platformAuthEnabled: isTrue(env[SETTING_NAMES.platformAuthEnabled]),
  };
}

/** The bounds of each integer setting (its default is SETTING_DEFAULTS'); out of bounds is a ConfigurationError. */
const INTEGER_BOUNDS: { [K in keyof typeof SETTING_DEFAULTS]: readonly [min: number, max: number] } = {
  statusPollWaitMs: [100, 60_000],
  statusPollBatch: [1, 500],
  pumpReensureSeconds: [1, 3600],
  cancelGraceSeconds: [1, 3600],
  commandSendAttempts: [1, 20],
  commandRetrySeconds: [1, 300],
  rolloutBatchSize: [1, 1000],
  rolloutLaneConcurrency: [1, 1000],
  rolloutSweepSeconds: [1, 3600],
  quarantineBadMessages: [0, 1_000_000],
  quarantineWindowSeconds: [10, 86_400],
};

function loadIntegers(env: NodeJS.ProcessEnv): { -readonly [K in keyof typeof SETTING_DEFAULTS]: number } {
  const out = {} as { -readonly [K in keyof typeof SETTING_DEFAULTS]: number };
  for (const key of Object.keys(INTEGER_BOUNDS) as (keyof typeof SETTING_DEFAULTS)[]) {
    const [min, max] = INTEGER_BOUNDS[key];
    out[key] = integer(env, SETTING_NAMES[key], SETTING_DEFAULTS[key], min, max);
  }
  return out;
}

/** Reads and validates the settings; throws ConfigurationError naming the setting at fault. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): ProviderSettings {
  const localMode = isTrue(env[SETTING_NAMES.localMode]);
  const rawSuffixes = optional(env, SETTING_NAMES.allowedNamespaceSuffixes);
  const allowedNamespaceSuffixes = rawSuffixes
    ? rawSuffixes.split(",").map((s) => s.trim().toLowerCase())
    : DEFAULT_ALLOWED_NAMESPACE_SUFFIXES;
  for (const suffix of allowedNamespaceSuffixes) {
    const check = suffixSchema.safeParse(suffix);
    if (!check.success) {
      throw new ConfigurationError(
        SETTING_NAMES.allowedNamespaceSuffixes,
        "every suffix must look like .example.net",
      );
    }
  }
  if (!localMode && allowedNamespaceSuffixes.some((s) => !DEFAULT_ALLOWED_NAMESPACE_SUFFIXES.includes(s))) {
    throw new ConfigurationError(
      SETTING_NAMES.allowedNamespaceSuffixes,
      `suffixes other than ${DEFAULT_ALLOWED_NAMESPACE_SUFFIXES.join(", ")} are only allowed with ${SETTING_NAMES.localMode}=true`,
    );
  }
  const localEndpoints = parseEndpoints(env[SETTING_NAMES.localEndpoints]);
  if (!localMode && Object.keys(localEndpoints).length > 0) {
    throw new ConfigurationError(
      SETTING_NAMES.localEndpoints,
      `only allowed with ${SETTING_NAMES.localMode}=true`,
    );
  }
  return {
    storage: loadStorageAccess(env),
    allowedNamespaceSuffixes,
    localMode,
    localEndpoints,
    appClientId: optional(env, SETTING_NAMES.appClientId),
    managedIdentityClientId: optional(env, SETTING_NAMES.managedIdentityClientId),
    authorityHost: optional(env, SETTING_NAMES.authorityHost),
    ...loadRoleChecks(env),
    ...loadIntegers(env),
    ...loadStatusDelivery(env),
    tenantSecretSettingPrefix: tenantSecretSettingPrefix(env),
    allowSelfApproval: isTrue(env[SETTING_NAMES.allowSelfApproval]),
    ...(env[SETTING_NAMES.commandSigningKeys]?.trim()
      ? { commandSigningKeys: env[SETTING_NAMES.commandSigningKeys]!.trim() }
      : {}),
    ...privateEndpointsResourceGroup(env),
    webhookAllowedHosts: webhookAllowedHosts(env),
  };
}
