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
import { canonicalBytes, type MessageSigner, signDetached } from "../signing/jws";

const COMMAND_SCHEMA = "deploy.command.v1";
const STATUS_SCHEMA = "deploy.status.v1";
const SCHEMA_PROPERTY = "schema";
const JSON_CONTENT_TYPE = "application/json";

export const LIMITS = {
  /** Whole message body, UTF-8 bytes. Well under Service Bus Standard's 256 KB. */
  bodyBytes: 64 * 1024,
  specBytes: 32 * 1024,
  messageChars: 1024,
  detailBytes: 8 * 1024,
} as const;

const DEPLOYMENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
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

/**
 * A health check, carried by a Deploy command as its spec's `healthCheck` member (the spec is opaque to
 * the command's own schema, so agents of 0.4.0 and older, whose command schema is strict, read such a
 * command unchanged and simply never report health). Versioned by its own `version`: an agent acts only
 * on a version it knows, and reports nothing for any other. After the deployment succeeds the agent
 * probes (`probe`, opaque to the Provider, read by the agent's deployer) every `intervalSeconds` for
 * `windowSeconds` and reports `Unhealthy` at the first failed probe, else `Healthy` at the window's end.
 */
export const HEALTH_CHECK_KEY = "healthCheck";
export const HEALTH_CHECK_LIMITS = {
  windowSeconds: { min: 5, max: 86_400 },
  intervalSeconds: { min: 1, max: 3_600 },
  /** Probes in one window at most (window / interval): bounds the agent orchestration's history. */
  probes: 100,
  probeBytes: 4 * 1024,
} as const;

export const healthCheckSchema = z
  .strictObject({
    version: z.literal(1),
    probe: z
      .record(z.string(), z.unknown())
      .refine(
        (v) => utf8Bytes(v) <= HEALTH_CHECK_LIMITS.probeBytes,
        `must be at most ${HEALTH_CHECK_LIMITS.probeBytes} bytes as JSON`,
      ),
    windowSeconds: z
      .number()
      .int()
      .min(HEALTH_CHECK_LIMITS.windowSeconds.min)
      .max(HEALTH_CHECK_LIMITS.windowSeconds.max),
    intervalSeconds: z
      .number()
      .int()
      .min(HEALTH_CHECK_LIMITS.intervalSeconds.min)
      .max(HEALTH_CHECK_LIMITS.intervalSeconds.max),
  })
  .refine((h) => h.intervalSeconds <= h.windowSeconds, {
    message: "must not be longer than windowSeconds",
    path: ["intervalSeconds"],
  })
  .refine((h) => h.windowSeconds / h.intervalSeconds <= HEALTH_CHECK_LIMITS.probes, {
    message: `gives more than ${HEALTH_CHECK_LIMITS.probes} probes per window (windowSeconds / intervalSeconds)`,
    path: ["intervalSeconds"],
  });
export type HealthCheck = z.infer<typeof healthCheckSchema>;

/** The health check a spec carries, if it carries one this version understands. */
export function healthCheckOf(spec: Record<string, unknown> | undefined): HealthCheck | undefined {
  const parsed = healthCheckSchema.safeParse(spec?.[HEALTH_CHECK_KEY]);
  return parsed.success ? parsed.data : undefined;
}

/** Probes one health check runs at most: one every interval until the window has passed. */
export function probeCount(check: HealthCheck): number {
  return Math.max(1, Math.floor(check.windowSeconds / check.intervalSeconds));
}

const COMMAND_TYPES = ["Deploy", "Cancel", "Ping"] as const;

const commandSchema = z
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

const STATUS_STATES = [
  "Accepted",
  "InProgress",
  "Succeeded",
  "Failed",
  "Cancelled",
  "Rejected",
  "Pong",
  /** After Succeeded, only when the command's spec carries a health check (HEALTH_CHECK_KEY). */
  "Healthy",
  "Unhealthy",
] as const;
export type StatusState = (typeof STATUS_STATES)[number];

const statusSchema = z.strictObject({
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

type ContractResult<T> =
  { ok: true; value: T } | { ok: false; reason: ContractViolation; description: string };

/** Dead-letter reasons; stable strings that operators can filter on. */
export type ContractViolation =
  "UnsupportedSchema" | "UnsupportedContentType" | "Oversized" | "InvalidJson" | "SchemaViolation";

/**
 * The UTF-8 size of `value` as JSON (`JSON.stringify` semantics for what an AMQP value decodes to:
 * objects, arrays, strings, numbers, booleans, null, Dates, Buffers), or some number above `limit` as soon
 * as it is known to exceed it. The walk stops there, so measuring a hostile value costs O(limit), never
 * O(its size), and no string of the whole value is ever built. Iterative, so deep nesting cannot overflow
 * the stack.
 */
export function jsonBytesUpTo(value: unknown, limit: number): number {
  const skipped = (v: unknown) => v === undefined || typeof v === "function" || typeof v === "symbol";
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    let v = stack.pop();
    const left = limit - total;
    if (v !== null && typeof v === "object" && typeof (v as { toJSON?: unknown }).toJSON === "function") {
      // A Buffer's JSON lists every byte (at least one character each): too long is known without it.
      if (ArrayBuffer.isView(v) && v.byteLength > left) return limit + 1;
      v = (v as { toJSON(): unknown }).toJSON();
    }
    if (v === null) total += 4;
    else if (typeof v === "string") {
      // Each UTF-16 unit is at least one UTF-8 byte, so a string longer than what is left is over.
      if (v.length > left) return limit + 1;
      total += Buffer.byteLength(JSON.stringify(v), "utf8");
    } else if (typeof v === "number" || typeof v === "boolean") total += String(JSON.stringify(v)).length;
    else if (typeof v === "bigint")
      return limit + 1; // JSON.stringify refuses it; no contract field is one
    else if (Array.isArray(v)) {
      // "[]" and commas; each element is at least one more byte.
      if (v.length > left) return limit + 1;
      total += 2 + Math.max(0, v.length - 1);
      for (let i = v.length - 1; i >= 0; i--) stack.push(skipped(v[i]) ? null : v[i]);
    } else if (typeof v === "object") {
      total += 2;
      let first = true;
      for (const key in v) {
        if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
        const item = (v as Record<string, unknown>)[key];
        if (skipped(item)) continue;
        total += (first ? 0 : 1) + Buffer.byteLength(JSON.stringify(key), "utf8") + 1;
        first = false;
        if (total > limit) return total;
        stack.push(item);
      }
    }
    // undefined, functions and symbols at the top level are no JSON at all: 0 bytes.
    if (total > limit) return total;
  }
  return total;
}

type Decoded =
  | { ok: true; value: unknown; bytes: number }
  | { ok: false; reason: "Oversized" | "InvalidJson"; description: string; bytes: number };

const oversized = (bytes: number): Decoded => ({
  ok: false,
  reason: "Oversized",
  // The same text for every oversized body, so their dead-letters share a settlement (SettlementGate);
  // the message itself, kept on the dead-letter queue, shows its size.
  description: `body is over the limit of ${LIMITS.bodyBytes} bytes`,
  bytes,
});

/**
 * Measures a body BEFORE it is parsed, then parses it. What the Service Bus client hands back decides how:
 * with `skipParsingBodyAsJson` (the Provider's receiver), an AMQP data section (what the SDK's own senders
 * write for a JSON body) is the Buffer as received, whose length is its size: a huge one is refused without
 * being turned into a string or parsed. Text is at least as many bytes as UTF-16 units. An AMQP value
 * section arrives already decoded by rhea (the client exposes neither the encoded bytes nor their size):
 * it is measured as JSON by `jsonBytesUpTo`, which stops at the limit, so its cost is bounded by the limit
 * instead of re-serialising the whole value.
 */
function decodeBody(body: unknown): Decoded {
  const bytes = bodySize(body);
  if (bytes > LIMITS.bodyBytes) return oversized(bytes);
  const bytesOrText = Buffer.isBuffer(body) || body instanceof Uint8Array;
  if (!bytesOrText && typeof body !== "string") return { ok: true, value: body, bytes };
  try {
    return { ok: true, value: JSON.parse(bytesOrText ? Buffer.from(body).toString("utf8") : body), bytes };
  } catch {
    const description = bytesOrText ? "body bytes are not JSON" : "body text is not JSON";
    return { ok: false, reason: "InvalidJson", description, bytes };
  }
}

/**
 * A body's size as the contract counts it, without parsing it (see decodeBody): exact up to the limit;
 * above it, some number above the limit (a Buffer's or string's length is exact; a decoded value's walk
 * stops early).
 */
export function bodySize(body: unknown): number {
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return body.length;
  if (typeof body === "string")
    return body.length > LIMITS.bodyBytes ? body.length : Buffer.byteLength(body, "utf8");
  return jsonBytesUpTo(body, LIMITS.bodyBytes);
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
  if (!decoded.ok) return { ok: false, reason: decoded.reason, description: decoded.description };
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
  /** The JSON value, or (signed) its exact bytes. */
  body: Command | Status | Buffer;
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

/** The application property that carries a message's signature (lib/signing/jws.ts). */
export const SIGNATURE_PROPERTY = "signature";

/**
 * A signed command message: the body as the exact canonical JSON bytes the signature covers, the
 * detached JWS in the `signature` property. Everything else is `commandMessage`'s; a receiver of the
 * previous release reads the body bytes as JSON and ignores the property.
 */
export function signedCommandMessage(
  command: Command,
  now: Date,
  signer: MessageSigner,
): Promise<OutgoingMessage> {
  return signed(commandMessage(command, now), signer);
}

/** A message with its body as the exact canonical bytes the signature covers, the JWS beside it. */
async function signed(message: OutgoingMessage, signer: MessageSigner): Promise<OutgoingMessage> {
  const body = canonicalBytes(message.body);
  return {
    ...message,
    body,
    applicationProperties: {
      ...message.applicationProperties,
      [SIGNATURE_PROPERTY]: await signDetached(body, signer),
    },
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

/**
 * A signed status message (a receipt, lib/signing/receipts.ts): as `signedCommandMessage`, the body as the
 * exact canonical JSON bytes the signature covers and the detached JWS in the `signature` property.
 */
export function signedStatusMessage(status: Status, signer: MessageSigner): Promise<OutgoingMessage> {
  return signed(statusMessage(status), signer);
}
