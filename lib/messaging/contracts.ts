/**
 * The wire contracts between the Provider and a customer agent: commands (Provider → customer command
 * queue) and statuses (agent → customer status queue). One module used by both apps. Both sides parse
 * every message with these schemas and refuse, never crash on, anything else: the parse result carries a
 * dead-letter reason and description.
 *
 * Versioning: the application property `schema` names the contract and its major version
 * (`deploy.command.v1`); `schemaVersion` in the body repeats it. Additive changes keep the version;
 * anything else is a new version that receivers must accept side by side during a rollout.
 */
import { z } from "zod";
import { fieldErrors } from "../http/validation";

export const COMMAND_SCHEMA = "deploy.command.v1";
export const STATUS_SCHEMA = "deploy.status.v1";
export const SCHEMA_PROPERTY = "schema";
export const JSON_CONTENT_TYPE = "application/json";

export const LIMITS = {
  /** Whole message body, UTF-8 bytes. Well under Service Bus Standard's 256 KB. */
  bodyBytes: 64 * 1024,
  specBytes: 32 * 1024,
  messageChars: 1024,
  detailBytes: 8 * 1024,
} as const;

export const DEPLOYMENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TENANT_PATTERN = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/;

const utf8Bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value) ?? "", "utf8");
const isoTimestamp = z.iso.datetime({ offset: true });

export const deploymentId = z
  .string()
  .regex(DEPLOYMENT_ID_PATTERN, "must be 1-64 letters, digits, '.', '_' or '-'");
const attempt = z.number().int().min(1).max(1000);

/** A deployment's spec: opaque to the Provider, bounded in size. */
export const deploymentSpec = z
  .record(z.string(), z.unknown())
  .refine((v) => utf8Bytes(v) <= LIMITS.specBytes, `must be at most ${LIMITS.specBytes} bytes as JSON`);

export const COMMAND_TYPES = ["Deploy", "Cancel", "Ping"] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

export const commandSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    type: z.enum(COMMAND_TYPES),
    deploymentId,
    attempt,
    tenant: z.string().regex(TENANT_PATTERN, "must be a tenant slug"),
    spec: deploymentSpec.optional(),
    requestedAt: isoTimestamp,
    deadline: isoTimestamp.optional(),
    reason: z.string().max(LIMITS.messageChars).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.type === "Deploy" && c.spec === undefined) {
      ctx.addIssue({ code: "custom", path: ["spec"], message: "is required for Deploy" });
    }
  });
export type Command = z.infer<typeof commandSchema>;

export const STATUS_STATES = [
  "Accepted",
  "InProgress",
  "Succeeded",
  "Failed",
  "Cancelled",
  "Rejected",
  "Pong",
] as const;
export type StatusState = (typeof STATUS_STATES)[number];

export const statusSchema = z.strictObject({
  schemaVersion: z.literal(1),
  deploymentId,
  attempt,
  state: z.enum(STATUS_STATES),
  progress: z.number().min(0).max(100),
  message: z.string().max(LIMITS.messageChars).optional(),
  detail: z
    .unknown()
    .refine(
      (v) => v === undefined || utf8Bytes(v) <= LIMITS.detailBytes,
      `must be at most ${LIMITS.detailBytes} bytes as JSON`,
    )
    .optional(),
  sequence: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  reportedAt: isoTimestamp,
});
export type Status = z.infer<typeof statusSchema>;

/** The parts of a received Service Bus message a contract check needs. */
export interface RawMessage {
  body: unknown;
  contentType?: string;
  applicationProperties?: Record<string, unknown>;
}

export type ContractResult<T> =
  { ok: true; value: T } | { ok: false; reason: ContractViolation; description: string };

/** Dead-letter reasons; stable strings that operators can filter on. */
export type ContractViolation =
  "UnsupportedSchema" | "UnsupportedContentType" | "Oversized" | "InvalidJson" | "SchemaViolation";

function decodeBody(
  body: unknown,
): { ok: true; value: unknown; bytes: number } | { ok: false; description: string } {
  // The Service Bus SDK hands back JSON bodies already decoded; other senders may use bytes or text.
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
    const text = Buffer.from(body).toString("utf8");
    try {
      return { ok: true, value: JSON.parse(text), bytes: body.length };
    } catch {
      return { ok: false, description: "body bytes are not JSON" };
    }
  }
  if (typeof body === "string") {
    try {
      return { ok: true, value: JSON.parse(body), bytes: Buffer.byteLength(body, "utf8") };
    } catch {
      return { ok: false, description: "body text is not JSON" };
    }
  }
  return { ok: true, value: body, bytes: utf8Bytes(body) };
}

function parseMessage<S extends z.ZodType>(
  message: RawMessage,
  schemaName: string,
  schema: S,
): ContractResult<z.infer<S>> {
  const declared = message.applicationProperties?.[SCHEMA_PROPERTY];
  if (declared !== undefined && declared !== schemaName) {
    return {
      ok: false,
      reason: "UnsupportedSchema",
      description: `schema "${String(declared)}" is not ${schemaName}`,
    };
  }
  if (
    message.contentType !== undefined &&
    message.contentType.split(";")[0]?.trim().toLowerCase() !== JSON_CONTENT_TYPE
  ) {
    return {
      ok: false,
      reason: "UnsupportedContentType",
      description: `content type "${message.contentType}" is not ${JSON_CONTENT_TYPE}`,
    };
  }
  const decoded = decodeBody(message.body);
  if (!decoded.ok) return { ok: false, reason: "InvalidJson", description: decoded.description };
  if (decoded.bytes > LIMITS.bodyBytes) {
    return {
      ok: false,
      reason: "Oversized",
      description: `body is ${decoded.bytes} bytes; the limit is ${LIMITS.bodyBytes}`,
    };
  }
  const result = schema.safeParse(decoded.value);
  if (!result.success) {
    const description = fieldErrors(result.error)
      .map((e) => `${e.field || "body"}: ${e.message}`)
      .join("; ")
      .slice(0, 1024);
    return { ok: false, reason: "SchemaViolation", description };
  }
  return { ok: true, value: result.data };
}

/**
 * The deployment a Deploy command that broke the contract was meant for, when that much is readable, so
 * the agent can report it Rejected instead of leaving the Provider to wait for its acceptance deadline.
 */
export function refusedDeployment(body: unknown): { deploymentId: string; attempt: number } | undefined {
  const decoded = decodeBody(body);
  if (!decoded.ok || !decoded.value || typeof decoded.value !== "object") return undefined;
  const value = decoded.value as Record<string, unknown>;
  if (value.type !== undefined && value.type !== "Deploy") return undefined;
  const id = deploymentId.safeParse(value.deploymentId);
  const n = attempt.safeParse(value.attempt);
  return id.success && n.success ? { deploymentId: id.data, attempt: n.data } : undefined;
}

export function parseCommand(message: RawMessage): ContractResult<Command> {
  return parseMessage(message, COMMAND_SCHEMA, commandSchema);
}

export function parseStatus(message: RawMessage): ContractResult<Status> {
  return parseMessage(message, STATUS_SCHEMA, statusSchema);
}

/** What a sender puts on the wire; structurally a `ServiceBusMessage`. */
export interface OutgoingMessage {
  body: Command | Status;
  contentType: string;
  messageId: string;
  correlationId: string;
  subject: string;
  applicationProperties: Record<string, string | number>;
  timeToLive?: number;
}

/**
 * A command message. The message id is unique per deployment, attempt and type, so a resend of the same
 * command is removed by duplicate detection; the correlation id is the deployment id; the TTL ends at
 * the deadline so an agent never acts on a command nobody waits for any more.
 */
export function commandMessage(command: Command, now: Date): OutgoingMessage {
  const checked = commandSchema.parse(command);
  const ttl = checked.deadline ? Date.parse(checked.deadline) - now.getTime() : undefined;
  return {
    body: checked,
    contentType: JSON_CONTENT_TYPE,
    messageId: `${checked.deploymentId}:${checked.attempt}:${checked.type}`,
    correlationId: checked.deploymentId,
    subject: checked.type,
    applicationProperties: {
      [SCHEMA_PROPERTY]: COMMAND_SCHEMA,
      tenant: checked.tenant,
      attempt: checked.attempt,
    },
    ...(ttl !== undefined ? { timeToLive: Math.max(1000, ttl) } : {}),
  };
}

/** A status message; the message id is unique per deployment, attempt and sequence. */
export function statusMessage(status: Status): OutgoingMessage {
  const checked = statusSchema.parse(status);
  return {
    body: checked,
    contentType: JSON_CONTENT_TYPE,
    messageId: `${checked.deploymentId}:${checked.attempt}:s${checked.sequence}`,
    correlationId: checked.deploymentId,
    subject: checked.state,
    applicationProperties: {
      [SCHEMA_PROPERTY]: STATUS_SCHEMA,
      attempt: checked.attempt,
      sequence: checked.sequence,
    },
  };
}
