/**
 * The one place an audit record is written: a wrapper around each state-changing route's handler, which
 * the triggers put around the handlers they register. Each route declares its action and target here
 * (`AUDITED_ROUTES`, typed so that a route of lib/http/routes.ts with a method other than GET cannot be
 * left out); handlers hold no audit code.
 *
 * What a record holds: the request's arrival time, the actor (`actorOf`), the action, the target, the
 * answer's status (refusals too: a denied attempt is on record, a cross-site refusal of `apiHandler`
 * included, since the wrapper sits outside it), the invocation id and the `x-ms-request-id` /
 * `traceparent` headers. Never a body, a query string (it may carry the `code` function key) or any other
 * header. Each value is cut to a fixed length, so a caller cannot grow rows.
 *
 * When the write fails, the change has already happened (the status is known only afterwards, and a
 * record written before would claim changes that were refused): the answer goes out unchanged and the
 * record's fields are logged as an error (`audit record not written`), so the log holds what the table
 * missed. A handler that throws (apiHandler answers every error, so only a bug) is recorded as 500.
 */
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { DurableHandler } from "../deployments/authorized";
import { actorOf, type Actor } from "../http/auth";
import type { API_ROUTES, RouteName } from "../http/routes";
import { invocationLogger } from "../logging/logger";
import type { AuditEntry } from "./store";

/** What the wrapper learns of the answer: its status and, for JSON, its body (a start's new id). */
interface AuditAnswer {
  status: number;
  body?: unknown;
}

interface AuditSpec {
  action: string | ((request: HttpRequest, answer: AuditAnswer) => string);
  target: (request: HttpRequest, answer: AuditAnswer) => string;
}

/** Routes of API_ROUTES that take a method other than GET: each must be audited. */
type MutatingRoute = {
  [K in RouteName]: Exclude<(typeof API_ROUTES)[K]["methods"][number], "GET"> extends never ? never : K;
}[RouteName];

const param = (request: HttpRequest, name: string) => request.params[name] ?? "";
const idOf = (answer: AuditAnswer): string | undefined => {
  const id = (answer.body as { id?: unknown } | undefined)?.id;
  return typeof id === "string" ? id : undefined;
};
const deployment = (request: HttpRequest) => `deployment:${param(request, "id")}`;
const rollout = (request: HttpRequest) => `rollout:${param(request, "id")}`;
const tenant = (request: HttpRequest) => `tenant:${param(request, "tenant")}`;

export const AUDITED_ROUTES: Record<MutatingRoute, AuditSpec> = {
  // A start names its new deployment only in the answer; a refused one is recorded against the tenant
  // it was aimed at (no deployment exists).
  deploymentsStart: {
    action: "deployment.start",
    target: (request, answer) => {
      const id = answer.status < 300 ? idOf(answer) : undefined;
      return id ? `deployment:${id}` : tenant(request);
    },
  },
  deploymentsCancel: { action: "deployment.cancel", target: deployment },
  deploymentsTerminate: { action: "deployment.terminate", target: deployment },
  deploymentsRetry: { action: "deployment.retry", target: deployment },
  deploymentsRewind: { action: "deployment.rewind", target: deployment },
  // A refused start made no rollout: `rollout:-`.
  rolloutsStart: {
    action: "rollout.start",
    target: (_request, answer) => `rollout:${(answer.status < 300 ? idOf(answer) : undefined) ?? "-"}`,
  },
  rolloutsApprove: { action: "rollout.approve", target: rollout },
  rolloutsPause: { action: "rollout.pause", target: rollout },
  rolloutsResume: { action: "rollout.resume", target: rollout },
  rolloutsAbort: { action: "rollout.abort", target: rollout },
  // The retried rollout is the target; the new one (in the answer) records its starter itself.
  rolloutsRetry: { action: "rollout.retry", target: rollout },
  // 201 created, 200 replaced; a refused PUT never learnt which it would have been: `tenant.put`.
  tenantsPut: {
    action: (_request, answer) =>
      answer.status === 201 ? "tenant.register" : answer.status < 300 ? "tenant.replace" : "tenant.put",
    target: tenant,
  },
  tenantsDelete: { action: "tenant.delete", target: tenant },
  tenantsVerify: { action: "tenant.verify", target: tenant },
  tenantsResume: { action: "tenant.resume", target: tenant },
  // A refused create made no subscription: `subscription:-`.
  subscriptionsCreate: {
    action: "subscription.create",
    target: (_request, answer) => `subscription:${(answer.status < 300 ? idOf(answer) : undefined) ?? "-"}`,
  },
  subscriptionsDelete: {
    action: "subscription.delete",
    target: (request) => `subscription:${param(request, "id")}`,
  },
  // 201 created, 200 the same release again (the status tells them apart); a refused create: `release:-`.
  releasesCreate: {
    action: "release.create",
    target: (_request, answer) =>
      `release:${String((answer.body as { version?: unknown } | undefined)?.version ?? "-")}`,
  },
};

interface AuditSink {
  append(entry: AuditEntry): Promise<void>;
}

/** Header values and names as recorded: printable, at most `max` characters. */
function clean(value: string | null | undefined, max: number): string | undefined {
  if (value === null || value === undefined) return undefined;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
  const text = value.replace(/[\x00-\x1f\x7f]/g, "").slice(0, max);
  return text === "" ? undefined : text;
}

function safeActor(request: HttpRequest): Actor {
  try {
    const actor = actorOf(request);
    const objectId = clean(actor.objectId, 64);
    return { name: clean(actor.name, 256) ?? "unknown", ...(objectId ? { objectId } : {}) };
  } catch {
    // A principal header that does not parse (the handler answers 401): still on record.
    return { name: "invalid-principal" };
  }
}

function answerOf(response: HttpResponseInit | { status?: number; body?: unknown }): AuditAnswer {
  const status = response.status ?? 200;
  let body: unknown;
  if (typeof response.body === "string" && response.body.length < 1_000_000) {
    try {
      body = JSON.parse(response.body);
    } catch {
      body = undefined;
    }
  }
  return { status, ...(body !== undefined ? { body } : {}) };
}

async function recorded<R extends HttpResponseInit>(
  getSink: () => AuditSink,
  spec: AuditSpec,
  request: HttpRequest,
  context: InvocationContext,
  run: () => Promise<R>,
): Promise<R> {
  const at = new Date().toISOString();
  let answer: AuditAnswer = { status: 500 };
  try {
    const response = await run();
    answer = answerOf(response);
    return response;
  } finally {
    const requestId = clean(request.headers.get("x-ms-request-id"), 128);
    const traceparent = clean(request.headers.get("traceparent"), 128);
    const entry: AuditEntry = {
      at,
      actor: safeActor(request),
      action: typeof spec.action === "string" ? spec.action : spec.action(request, answer),
      target: clean(spec.target(request, answer), 200) ?? "-",
      status: answer.status,
      invocationId: context.invocationId,
      ...(requestId ? { requestId } : {}),
      ...(traceparent ? { traceparent } : {}),
    };
    try {
      await getSink().append(entry);
    } catch (error) {
      invocationLogger(context).error("audit record not written", { audit: { ...entry }, error });
    }
  }
}

/** Wraps the trigger handlers of audited routes; a route not in AUDITED_ROUTES is returned unchanged. */
export function auditRoutes(getSink: () => AuditSink) {
  const specOf = (name: RouteName): AuditSpec | undefined =>
    (AUDITED_ROUTES as Partial<Record<RouteName, AuditSpec>>)[name];
  return {
    http(name: RouteName, handler: HttpHandler): HttpHandler {
      const spec = specOf(name);
      if (!spec) return handler;
      return (request, context) =>
        recorded(
          getSink,
          spec,
          request,
          context,
          async () => (await handler(request, context)) as HttpResponseInit,
        );
    },
    durable(name: RouteName, handler: DurableHandler): DurableHandler {
      const spec = specOf(name);
      if (!spec) return handler;
      return (request, client, context) =>
        recorded(getSink, spec, request, context, () => handler(request, client, context));
    },
  };
}
