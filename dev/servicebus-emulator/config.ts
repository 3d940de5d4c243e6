/**
 * Emulator configuration: the official Service Bus emulator's Config.json shape
 * (`UserConfig.Namespaces[].Queues[].Properties`), extended with what a multi-tenant local stack needs:
 * a port (and optional TLS port) per namespace, shared access policies, and for Entra mode the
 * namespace's directory id, the token issuer's public key and role assignments.
 */
import { z } from "zod";

/** ISO 8601 durations as Service Bus writes them: `PT1M`, `PT30S`, `P14D`, `PT0.5S`, `P1DT2H`. */
export function parseIsoDuration(value: string): number {
  const m =
    /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(
      value,
    );
  if (!m || value === "P" || /T$/i.test(value))
    throw new Error(`"${value}" is not an ISO 8601 duration like PT1M`);
  const [, d, h, min, s] = m.map((x) => (x === undefined ? 0 : Number(x)));
  return Math.round(
    (((d as number) * 24 + (h as number)) * 60 + (min as number)) * 60_000 + (s as number) * 1000,
  );
}

const duration = z.string().transform((value, ctx) => {
  try {
    return parseIsoDuration(value);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

const RIGHTS = ["Send", "Listen", "Manage"] as const;
export type Right = (typeof RIGHTS)[number];

const policySchema = z.strictObject({
  Name: z.string().min(1).max(256),
  Key: z.string().min(1),
  Rights: z.array(z.enum(RIGHTS)).min(1),
});
export type SharedAccessPolicy = z.infer<typeof policySchema>;

const ROLE_NAMES = {
  "Azure Service Bus Data Sender": "Sender",
  "Azure Service Bus Data Receiver": "Receiver",
  "Azure Service Bus Data Owner": "Owner",
  Sender: "Sender",
  Receiver: "Receiver",
  Owner: "Owner",
} as const;
export type Role = "Sender" | "Receiver" | "Owner";

const roleAssignmentSchema = z.strictObject({
  /** Object id (`oid` claim) of the principal. */
  PrincipalId: z.string().min(1),
  Role: z.enum(Object.keys(ROLE_NAMES) as [keyof typeof ROLE_NAMES]).transform((r) => ROLE_NAMES[r] as Role),
  /** A queue name, or omitted for the whole namespace. */
  Queue: z.string().min(1).optional(),
});
export type RoleAssignment = z.infer<typeof roleAssignmentSchema>;

const queuePropertiesSchema = z
  .strictObject({
    DeadLetteringOnMessageExpiration: z.boolean().default(false),
    DefaultMessageTimeToLive: duration.optional(),
    DuplicateDetectionHistoryTimeWindow: duration.default(600_000),
    ForwardDeadLetteredMessagesTo: z.string().optional(),
    ForwardTo: z.string().optional(),
    LockDuration: duration.default(60_000),
    MaxDeliveryCount: z.number().int().min(1).max(2000).default(10),
    RequiresDuplicateDetection: z.boolean().default(false),
    RequiresSession: z.boolean().default(false),
  })
  .default({
    DeadLetteringOnMessageExpiration: false,
    DuplicateDetectionHistoryTimeWindow: 600_000,
    LockDuration: 60_000,
    MaxDeliveryCount: 10,
    RequiresDuplicateDetection: false,
    RequiresSession: false,
  });

const queueSchema = z.strictObject({
  Name: z
    .string()
    .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,258}[A-Za-z0-9])?$/, "must be a valid Service Bus queue name"),
  Properties: queuePropertiesSchema,
  SharedAccessPolicies: z.array(policySchema).default([]),
});
export type QueueConfig = z.infer<typeof queueSchema>;
export type QueueProperties = QueueConfig["Properties"];

const entraSchema = z.strictObject({
  /** The namespace's directory: tokens must carry this `tid`. */
  DirectoryId: z.string().min(1),
  /** PEM public key(s) of the token issuer, or a JWKS document. */
  IssuerPublicKeys: z.array(z.string()).optional(),
  Jwks: z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
  RoleAssignments: z.array(roleAssignmentSchema).default([]),
});
export type EntraConfig = z.infer<typeof entraSchema>;

const namespaceSchema = z.strictObject({
  Name: z.string().min(1),
  /** Plain AMQP port; 0 = a free port. */
  Port: z.number().int().min(0).max(65535).default(0),
  /** TLS AMQP port (Entra clients always use TLS); 0 = a free port; omitted = no TLS listener. */
  TlsPort: z.number().int().min(0).max(65535).optional(),
  /** The host clients use (`<name>.servicebus.windows.net` style FQDN in Entra mode). */
  Fqdn: z.string().optional(),
  Queues: z.array(queueSchema).default([]),
  Topics: z.array(z.unknown()).default([]),
  SharedAccessPolicies: z.array(policySchema).default([]),
  Entra: entraSchema.optional(),
  /** Like `disableLocalAuth` on an Azure namespace: SAS tokens are refused, only Entra tokens work. */
  DisableLocalAuth: z.boolean().default(false),
});
export type NamespaceConfig = z.infer<typeof namespaceSchema>;

export const emulatorConfigSchema = z.strictObject({
  UserConfig: z.strictObject({
    Namespaces: z.array(namespaceSchema).min(1),
    Logging: z.strictObject({ Type: z.string() }).optional(),
  }),
});
export type EmulatorConfig = z.infer<typeof emulatorConfigSchema>;

export class EmulatorConfigError extends Error {
  constructor(readonly issues: { field: string; message: string }[]) {
    super(`Invalid emulator config:\n${issues.map((i) => `  ${i.field}: ${i.message}`).join("\n")}`);
    this.name = "EmulatorConfigError";
  }
}

export function parseEmulatorConfig(input: unknown): EmulatorConfig {
  const result = emulatorConfigSchema.safeParse(input);
  if (!result.success) {
    throw new EmulatorConfigError(
      result.error.issues.map((i) => ({
        field: i.path.map(String).join(".") || "(root)",
        message: i.message,
      })),
    );
  }
  const config = result.data;
  const names = new Set<string>();
  for (const ns of config.UserConfig.Namespaces) {
    const key = ns.Name.toLowerCase();
    if (names.has(key))
      throw new EmulatorConfigError([
        { field: "UserConfig.Namespaces", message: `duplicate namespace "${ns.Name}"` },
      ]);
    names.add(key);
    const queues = new Set<string>();
    for (const q of ns.Queues) {
      if (queues.has(q.Name.toLowerCase())) {
        throw new EmulatorConfigError([
          { field: `UserConfig.Namespaces.${ns.Name}.Queues`, message: `duplicate queue "${q.Name}"` },
        ]);
      }
      queues.add(q.Name.toLowerCase());
    }
    if (ns.Entra && !ns.Entra.IssuerPublicKeys?.length && !ns.Entra.Jwks) {
      throw new EmulatorConfigError([
        {
          field: `UserConfig.Namespaces.${ns.Name}.Entra`,
          message: "needs IssuerPublicKeys or Jwks to verify tokens",
        },
      ]);
    }
    if (ns.DisableLocalAuth && !ns.Entra) {
      throw new EmulatorConfigError([
        {
          field: `UserConfig.Namespaces.${ns.Name}.DisableLocalAuth`,
          message: "needs Entra settings: with local auth disabled nothing else can sign in",
        },
      ]);
    }
  }
  return config;
}

/** The official emulator's well-known development key; a namespace without policies accepts it. */
export const WELL_KNOWN_KEY_NAME = "RootManageSharedAccessKey";
export const WELL_KNOWN_KEY = "SAS_KEY_VALUE";
