/**
 * The tenant registration: which customer directory the Provider signs in to, which Service Bus
 * namespace and queues carry its commands and statuses, how the Provider authenticates, and its limits.
 * Validation is strict (unknown fields are refused) and secrets are refused outright: a registration
 * only ever names an app setting that holds one.
 */
import { z } from "zod";
import type { FieldError } from "../http/problem";
import { receiptKeysSchema } from "../signing/receipts";
import { labelsSchema } from "./labels";
import { maintenanceWindowsSchema } from "./maintenance";
import { DEFAULT_NETWORK_MODE, networkModeSchema } from "./network";
import { parametersSchema } from "./parameters";

export const TENANT_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FQDN = /^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;
// Service Bus queue names: letters, digits, periods, hyphens, underscores and slashes; start and end
// with a letter or digit; at most 260 characters.
const QUEUE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,258}[A-Za-z0-9])?$/;

const settingName = z
  .string()
  .regex(SETTING_NAME, "must be the name of an app setting (letters, digits, underscores)");

const authConfigSchema = z.discriminatedUnion("mode", [
  z.strictObject({ mode: z.literal("federatedManagedIdentity") }),
  z.strictObject({ mode: z.literal("certificate"), certificateSetting: settingName }),
  z.strictObject({ mode: z.literal("clientSecret"), secretSetting: settingName }),
  z.strictObject({ mode: z.literal("sas"), sasSetting: settingName }),
]);
export type AuthConfig = z.infer<typeof authConfigSchema>;

/** The app setting an auth config names, with its field path in a registration (none for federated). */
export function authSetting(auth: AuthConfig): { field: string; setting: string } | undefined {
  switch (auth.mode) {
    case "certificate":
      return { field: "auth.certificateSetting", setting: auth.certificateSetting };
    case "clientSecret":
      return { field: "auth.secretSetting", setting: auth.secretSetting };
    case "sas":
      return { field: "auth.sasSetting", setting: auth.sasSetting };
    default:
      return undefined;
  }
}

const queueName = z
  .string()
  .regex(QUEUE_NAME, "must be a valid Service Bus queue name")
  .refine((v) => !v.includes("//"), "must not contain empty path segments");

const DEFAULT_LIMITS = {
  maxConcurrentDeployments: 10,
  acceptanceTimeoutSeconds: 120,
  completionTimeoutSeconds: 3600,
} as const;

interface Timeouts {
  acceptanceTimeoutSeconds: number;
  completionTimeoutSeconds: number;
}

/**
 * Both deadlines of an attempt count from its start, so an acceptance timeout above the completion
 * timeout only keeps the workflow waiting for an acceptance that would come too late: the attempt is out
 * of time the moment it is accepted. A timeout left out is taken from `defaults.timeouts` (named by
 * `defaults.label` in the message); without `defaults` (a rollout: each tenant fills in its own) only two
 * given timeouts are compared. The error names a field the caller sent, the acceptance timeout when both
 * were; defaults out of order are not the caller's mistake.
 */
export function timeoutOrderError(
  given: Partial<Timeouts>,
  defaults?: { timeouts: Timeouts; label: string },
): FieldError | undefined {
  const acceptance = given.acceptanceTimeoutSeconds ?? defaults?.timeouts.acceptanceTimeoutSeconds;
  const completion = given.completionTimeoutSeconds ?? defaults?.timeouts.completionTimeoutSeconds;
  if (acceptance === undefined || completion === undefined || acceptance <= completion) return undefined;
  if (given.acceptanceTimeoutSeconds !== undefined) {
    const source = given.completionTimeoutSeconds !== undefined ? "" : `, ${defaults?.label}`;
    return {
      field: "acceptanceTimeoutSeconds",
      message: `must not exceed completionTimeoutSeconds (${completion}${source})`,
    };
  }
  if (given.completionTimeoutSeconds !== undefined) {
    return {
      field: "completionTimeoutSeconds",
      message: `must be at least acceptanceTimeoutSeconds (${acceptance}, ${defaults?.label})`,
    };
  }
  return undefined;
}

// Defaults are applied after the timeout order check, which has to know what the caller left out.
const limitsSchema = z
  .strictObject({
    maxConcurrentDeployments: z.number().int().min(1).max(1000).optional(),
    acceptanceTimeoutSeconds: z.number().int().min(5).max(86_400).optional(),
    completionTimeoutSeconds: z
      .number()
      .int()
      .min(10)
      .max(7 * 86_400)
      .optional(),
  })
  .superRefine((given, ctx) => {
    const error = timeoutOrderError(given, { timeouts: DEFAULT_LIMITS, label: "the default" });
    if (error) ctx.addIssue({ code: "custom", path: [error.field], message: error.message });
  })
  .transform((given) => ({
    maxConcurrentDeployments: given.maxConcurrentDeployments ?? DEFAULT_LIMITS.maxConcurrentDeployments,
    acceptanceTimeoutSeconds: given.acceptanceTimeoutSeconds ?? DEFAULT_LIMITS.acceptanceTimeoutSeconds,
    completionTimeoutSeconds: given.completionTimeoutSeconds ?? DEFAULT_LIMITS.completionTimeoutSeconds,
  }));

/** The PUT body. Defaults are applied here, so a stored registration is always complete. */
export const registrationInputSchema = z
  .strictObject({
    directoryId: z.string().regex(GUID, "must be a GUID (the customer's Entra directory id)"),
    displayName: z.string().trim().min(1).max(256).optional(),
    serviceBus: z.strictObject({
      namespace: z
        .string()
        .transform((v) => v.toLowerCase())
        .pipe(z.string().regex(FQDN, "must be a fully qualified host name")),
      commandQueue: queueName.default("commands"),
      statusQueue: queueName.default("status"),
    }),
    auth: authConfigSchema.default({ mode: "federatedManagedIdentity" }),
    limits: limitsSchema.default({ ...DEFAULT_LIMITS }),
    state: z.enum(["active", "suspended"]).default("active"),
    /** Kubernetes-style labels that rollouts and `GET /api/tenants?selector=` select on. */
    labels: labelsSchema.default({}),
    /** Deployments wait for one of these to be open (none: any time). */
    maintenanceWindows: maintenanceWindowsSchema.default([]),
    /**
     * The customer's receipt keys (public EC P-256 JWKs, `{ "keys": [...] }`): once set, a terminal status
     * is recorded only when signed by one of them (lib/signing/receipts.ts). Absent: statuses unsigned.
     */
    receiptKeys: receiptKeysSchema.optional(),
    /**
     * How the Provider reaches the namespace: `public` (its public endpoint) or `private` (the Provider's
     * private endpoint, approved by the customer; lib/tenants/network.ts). Absent: public.
     */
    network: networkModeSchema.default(DEFAULT_NETWORK_MODE),
    /** Merged into a release's `spec.parameters` when this tenant gets the release (./parameters.ts). */
    parameters: parametersSchema.optional(),
  })
  .superRefine((r, ctx) => {
    // One queue for both directions would let the Provider read its own commands back as statuses.
    if (r.serviceBus.commandQueue.toLowerCase() === r.serviceBus.statusQueue.toLowerCase()) {
      ctx.addIssue({
        code: "custom",
        path: ["serviceBus", "statusQueue"],
        message: "must differ from commandQueue",
      });
    }
  });
export type RegistrationInput = z.infer<typeof registrationInputSchema>;

export interface TenantRegistration extends RegistrationInput {
  /** The slug key, from the route. */
  name: string;
  createdAt: string;
  updatedAt: string;
  /** Opaque optimistic-concurrency token. */
  etag: string;
}

/** Field names that only a secret would use; their presence anywhere in a body is refused. */
const SECRET_FIELDS = new Set(
  [
    "key",
    "sharedaccesskey",
    "sharedaccesskeyname",
    "sharedaccesssignature",
    "connectionstring",
    "secret",
    "clientsecret",
    "certificate",
    "privatekey",
    "password",
    "token",
    "sas",
    "saskey",
    "sastoken",
  ].map((s) => s.toLowerCase()),
);
const SECRET_VALUE =
  /(SharedAccessSignature\s|SharedAccessKey=|AccountKey=|-----BEGIN [A-Z ]*PRIVATE KEY-----)/i;

/**
 * Finds secrets carried in a body: by field name or by value shape. Run before schema validation so
 * the client learns the real reason (secrets never go in the registry), not just "unknown field".
 */
export function findSecrets(value: unknown, path = ""): FieldError[] {
  const found: FieldError[] = [];
  const message =
    "secrets never go in the registry; store it in an app setting or Key Vault and name that setting";
  if (typeof value === "string") {
    if (SECRET_VALUE.test(value)) found.push({ field: path, message });
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => found.push(...findSecrets(item, `${path}[${i}]`)));
  } else if (value && typeof value === "object") {
    if (path === "parameters") return [...found, ...findSecretParameters(value, message)];
    for (const [k, v] of Object.entries(value)) {
      const field = path ? `${path}.${k}` : k;
      if (SECRET_FIELDS.has(k.toLowerCase())) found.push({ field, message });
      else found.push(...findSecrets(v, field));
    }
  }
  return found;
}

/** Words in a parameter name that say it holds a secret (`dbPassword`, `api_token`, `storage-key`, ...). */
const SECRET_WORDS = [
  "password",
  "passwd",
  "secret",
  "token",
  "apikey",
  "accesskey",
  "accountkey",
  "privatekey",
  "sharedkey",
  "signingkey",
  "storagekey",
  "credential",
  "connectionstring",
  "certificate",
];
const secretParameterName = (name: string) => {
  const words = name.toLowerCase().replace(/[^a-z0-9]/g, "");
  return (
    SECRET_WORDS.some((w) => words.includes(w)) ||
    words.endsWith("key") ||
    words.startsWith("sas") ||
    words.endsWith("sas")
  );
};

/**
 * Tenant parameters (./parameters.ts): a parameter whose name says it is a secret must name a setting
 * (`{ "setting": "DB_PASSWORD" }`, resolved by the customer's agent), never carry a value; a value of any
 * parameter must not look like a secret either.
 */
function findSecretParameters(parameters: object, message: string): FieldError[] {
  const found: FieldError[] = [];
  for (const [name, value] of Object.entries(parameters)) {
    const field = `parameters.${name}`;
    const isSetting =
      value !== null && typeof value === "object" && !Array.isArray(value) && "setting" in value;
    if (isSetting) continue;
    if (secretParameterName(name))
      found.push({
        field,
        message: `${message}: a secret parameter is { "setting": "<name>" }, which the customer's agent resolves`,
      });
    else found.push(...findSecrets(value, field));
  }
  return found;
}

/** The security rule: a namespace must end with an allowed suffix, else a token could go to any host. */
export function namespaceAllowed(namespace: string, allowedSuffixes: readonly string[]): boolean {
  const host = namespace.toLowerCase();
  return allowedSuffixes.some((suffix) => host.endsWith(suffix) && host.length > suffix.length);
}
