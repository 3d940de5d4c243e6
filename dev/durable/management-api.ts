/**
 * The Durable management HTTP API under `/runtime/webhooks/durabletask/`: both the public instance routes
 * that `createCheckStatusResponse` links to and the rpc routes `DurableClient` calls (its `rpcBaseUrl`
 * points at the same prefix, so one router serves both). Status codes and JSON shapes follow the
 * Durable extension: 202 while running, 200 when done, 404 unknown, 410 not running, 400 bad request.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { DurableEngineError } from "./errors";
import { EventType, describeEvent, newEvent, parseJsonText, type HistoryEvent } from "./history";
import type { Log } from "./protocol";
import { ACTIVE_STATUSES, type DurableStore, type InstanceRecord, type RuntimeStatus } from "./store";
import { isContinuationToken } from "../product";

export const WEBHOOK_PREFIX = "/runtime/webhooks/durabletask/";
const STATUSES: RuntimeStatus[] = [
  "Pending",
  "Running",
  "Completed",
  "ContinuedAsNew",
  "Failed",
  "Canceled",
  "Terminated",
  "Suspended",
];
const MAX_BODY = 16 * 1024 * 1024;

/** All the management API needs of the engine (engine.ts implements it; this file never imports it). */
export interface ManagementBackend {
  readonly hubName: string;
  readonly baseUrl: string;
  readonly store: Pick<DurableStore, "queryInstances">;
  readonly log: Log;
  /** The engine's clock, for the timestamps of the events it is handed. */
  now(): number;
  orchestrator(name: string): unknown;
  getInstance(instanceId: string): Promise<{ record: InstanceRecord; history: HistoryEvent[] } | undefined>;
  /** `version` absent: the app's default version (host.json), as for any new orchestration. */
  startInstance(
    name: string,
    instanceId: string,
    input: string | undefined,
    parent?: undefined,
    version?: string,
  ): Promise<void>;
  /** Queues an event for a running instance; false when it is not running, 404 error when unknown. */
  enqueue(instanceId: string, event: HistoryEvent): Promise<boolean>;
  purge(instanceId: string): Promise<boolean>;
  /** Rewinds a Failed instance (the caller checked the status). */
  rewind(instanceId: string, reason: string): Promise<void>;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export class ManagementApi {
  constructor(private readonly engine: ManagementBackend) {}

  private at(): Date {
    return new Date(this.engine.now());
  }

  private get base(): string {
    return `${this.engine.baseUrl.replace(/\/+$/, "")}${WEBHOOK_PREFIX}`;
  }

  private get origin(): string {
    return new URL(this.engine.baseUrl).origin;
  }

  private get hubQuery(): string {
    return `taskHub=${encodeURIComponent(this.engine.hubName)}&connection=Storage`;
  }

  clientBindingData(): Record<string, unknown> {
    const q = this.hubQuery;
    return {
      taskHubName: this.engine.hubName,
      creationUrls: {
        createNewInstancePostUri: `${this.base}orchestrators/{functionName}[/{instanceId}]?${q}`,
        createAndWaitOnNewInstancePostUri: `${this.base}orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${q}`,
      },
      managementUrls: this.links("INSTANCEID"),
      baseUrl: `${this.base}`.replace(/\/$/, ""),
      requiredQueryStringParameters: q,
      rpcBaseUrl: this.base,
    };
  }

  /** The check-status payload for one instance (what createCheckStatusResponse returns). */
  links(instanceId: string): Record<string, string> {
    const i = `${this.base}instances/${instanceId === "INSTANCEID" ? instanceId : encodeURIComponent(instanceId)}`;
    const q = this.hubQuery;
    return {
      id: instanceId,
      statusQueryGetUri: `${i}?${q}`,
      sendEventPostUri: `${i}/raiseEvent/{eventName}?${q}`,
      terminatePostUri: `${i}/terminate?reason={text}&${q}`,
      rewindPostUri: `${i}/rewind?reason={text}&${q}`,
      purgeHistoryDeleteUri: `${i}?${q}`,
      restartPostUri: `${i}/restart?${q}`,
      suspendPostUri: `${i}/suspend?reason={text}&${q}`,
      resumePostUri: `${i}/resume?reason={text}&${q}`,
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (!url.pathname.startsWith(WEBHOOK_PREFIX)) return false;
    let reply: Reply;
    try {
      const body = await readBody(req);
      const token = req.headers["x-ms-continuation-token"];
      reply = await this.route(
        req.method ?? "GET",
        url,
        body,
        typeof token === "string" ? token : undefined,
        req.headers["content-type"],
      );
    } catch (e) {
      if (e instanceof DurableEngineError) reply = { status: e.statusCode, body: { message: e.message } };
      else {
        this.engine.log("error", `Durable management request failed: ${(e as Error).message}`);
        reply = { status: 500, body: { message: (e as Error).message } };
      }
    }
    const text = reply.body === undefined ? "" : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...(text ? { "Content-Type": "application/json; charset=utf-8" } : {}),
      ...reply.headers,
    });
    res.end(text);
    return true;
  }

  private async route(
    method: string,
    url: URL,
    body: string,
    token: string | undefined,
    contentType: string | undefined,
  ): Promise<Reply> {
    const segments = url.pathname.slice(WEBHOOK_PREFIX.length).split("/").map(decodeSegment);
    const [root, id, op, arg] = segments;
    const q = url.searchParams;
    if (root === "orchestrators" && method === "POST" && id) return this.start(id, op, body, q);
    if (root !== "instances")
      throw bad(404, `No durable management route matches ${method} ${url.pathname}.`);
    if (!id) {
      if (method === "GET") return this.list(q, token);
      if (method === "DELETE") return this.purgeBy(q);
      throw bad(405, `${method} is not allowed on the instances collection.`);
    }
    // An id no instance can have (e.g. `a%2fb` decodes to a slash) would reach Table Storage as a key it
    // refuses, and its 400 would surface as a 500.
    validateInstanceId(id);
    if (op === undefined || op === "") {
      if (method === "GET") return this.status(id, q, `${this.origin}${url.pathname}${url.search}`);
      if (method === "DELETE") {
        const deleted = await this.engine.purge(id);
        return deleted ? { status: 200, body: { instancesDeleted: 1 } } : notFound(id);
      }
      throw bad(405, `${method} is not allowed on an instance.`);
    }
    if (method !== "POST") throw bad(405, `Use POST for instance operation '${op}'.`);
    switch (op) {
      case "raiseEvent":
        if (!arg) throw bad(400, "The event name is missing: POST instances/{id}/raiseEvent/{eventName}.");
        return this.raiseEvent(id, arg, body, contentType);
      case "terminate":
        return this.signal(
          id,
          newEvent(
            EventType.ExecutionTerminated,
            { Input: JSON.stringify(q.get("reason") ?? "") },
            this.at(),
          ),
        );
      case "suspend":
        return this.signal(
          id,
          newEvent(EventType.ExecutionSuspended, { Input: JSON.stringify(q.get("reason") ?? "") }, this.at()),
        );
      case "resume":
        return this.signal(
          id,
          newEvent(EventType.ExecutionResumed, { Input: JSON.stringify(q.get("reason") ?? "") }, this.at()),
        );
      case "restart":
        return this.restart(id, flag(q, "restartWithNewInstanceId", true), q);
      case "rewind":
        return this.rewind(id, q.get("reason") ?? "");
      default:
        throw bad(404, `Unknown instance operation '${op}'.`);
    }
  }

  private async start(
    name: string,
    instanceId: string | undefined,
    body: string,
    q: URLSearchParams,
  ): Promise<Reply> {
    if (!this.engine.orchestrator(name))
      throw bad(
        400,
        `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
    const id = instanceId || randomUUID().replace(/-/g, "");
    validateInstanceId(id);
    if (body !== "") {
      try {
        JSON.parse(body);
      } catch {
        throw bad(400, "The request body is not valid JSON; the orchestration input must be JSON.");
      }
    }
    // DurableClient.startNew({ version }) sends it as a query parameter.
    const version = q.get("version") || undefined;
    await this.engine.startInstance(name, id, body === "" ? undefined : body, undefined, version);
    return this.checkStatusOrWait(id, q);
  }

  /**
   * The check-status response; with `timeout` and `pollingInterval` (seconds) it first waits for the
   * instance to finish, as the extension's create-and-wait route does: 200 with the output when
   * completed, 200 with the status when terminated, 500 with the status when failed.
   */
  private async checkStatusOrWait(id: string, q: URLSearchParams): Promise<Reply> {
    const timeout = seconds(q, "timeout");
    const interval = seconds(q, "pollingInterval");
    if (timeout !== undefined && interval !== undefined) {
      const until = Date.now() + timeout * 1000;
      for (;;) {
        const inst = await this.engine.getInstance(id);
        const status = inst?.record.runtimeStatus;
        if (inst && status === "Completed") return { status: 200, body: parseJsonText(inst.record.output) };
        if (inst && (status === "Terminated" || status === "Canceled"))
          return { status: 200, body: toStatus(inst.record, true) };
        if (inst && status === "Failed") return { status: 500, body: toStatus(inst.record, true) };
        if (Date.now() >= until) break;
        await new Promise((r) => setTimeout(r, Math.min(interval * 1000, Math.max(0, until - Date.now()))));
      }
    }
    const links = this.links(id);
    return { status: 202, body: links, headers: { Location: links.statusQueryGetUri, "Retry-After": "10" } };
  }

  private async signal(id: string, event: ReturnType<typeof newEvent>, raise = false): Promise<Reply> {
    const ok = await this.engine.enqueue(id, event);
    if (ok) return { status: 202 };
    return gone(id, raise ? "receive events" : "be changed");
  }

  /**
   * As the extension's HandleRaiseEventRequestAsync, in its order: 404 for an unknown instance, 410 for
   * a finished one (Completed, Failed, Terminated, Canceled), 400 for a content type other than
   * application/json or a body that is not JSON (the SDK would fail parsing it at replay), else 202.
   */
  private async raiseEvent(
    id: string,
    name: string,
    body: string,
    contentType: string | undefined,
  ): Promise<Reply> {
    const inst = await this.engine.getInstance(id);
    if (!inst) return notFound(id);
    if (!ACTIVE_STATUSES.has(inst.record.runtimeStatus)) return gone(id, "receive events");
    if ((contentType ?? "").split(";")[0].trim().toLowerCase() !== "application/json")
      throw bad(400, "Only application/json request content is supported");
    if (body !== "") {
      try {
        JSON.parse(body);
      } catch {
        throw bad(400, "Invalid JSON content");
      }
    }
    return this.signal(
      id,
      newEvent(EventType.EventRaised, { Name: name, Input: body === "" ? "null" : body }, this.at()),
      true,
    );
  }

  /**
   * As the extension's HandleRewindInstanceRequestAsync: 404 for an unknown instance, 410 for a
   * Completed, Canceled or Terminated one, 202 once a Failed one is rewound. For a running one the
   * extension's client throws InvalidOperationException, which its handler answers with 500.
   */
  private async rewind(id: string, reason: string): Promise<Reply> {
    const inst = await this.engine.getInstance(id);
    if (!inst) return notFound(id);
    const status = inst.record.runtimeStatus;
    if (status === "Completed" || status === "Canceled" || status === "Terminated")
      return {
        status: 410,
        body: {
          message: `Instance '${id}' is ${status}: only failed orchestration instances can be rewound.`,
        },
      };
    if (status !== "Failed")
      throw bad(500, "The rewind operation is only supported on failed orchestration instances.");
    await this.engine.rewind(id, reason);
    return { status: 202 };
  }

  private async restart(id: string, newId: boolean, q: URLSearchParams): Promise<Reply> {
    const inst = await this.engine.getInstance(id);
    if (!inst) return notFound(id);
    const target = newId ? randomUUID().replace(/-/g, "") : id;
    await this.engine.startInstance(inst.record.name, target, inst.record.input);
    return this.checkStatusOrWait(target, q);
  }

  private async status(id: string, q: URLSearchParams, requestUrl: string): Promise<Reply> {
    const inst = await this.engine.getInstance(id);
    if (!inst) return notFound(id);
    const body: Record<string, unknown> = toStatus(inst.record, flag(q, "showInput", true));
    if (flag(q, "showHistory", false)) {
      const output = flag(q, "showHistoryOutput", false);
      // The extension names it historyEvents; the SDK's status object reads history.
      body.historyEvents = body.history = inst.history
        .filter(
          (e) =>
            e.EventType !== EventType.OrchestratorStarted && e.EventType !== EventType.OrchestratorCompleted,
        )
        .map((e) => describeEvent(e, output));
    }
    const running = ACTIVE_STATUSES.has(inst.record.runtimeStatus);
    if (running) return { status: 202, body, headers: { Location: requestUrl, "Retry-After": "5" } };
    const failedAs500 =
      inst.record.runtimeStatus === "Failed" && flag(q, "returnInternalServerErrorOnFailure", false);
    return { status: failedAs500 ? 500 : 200, body };
  }

  private filter(q: URLSearchParams) {
    const runtimeStatus = (q.get("runtimeStatus") ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => {
        const match = STATUSES.find((x) => x.toLowerCase() === s.toLowerCase());
        if (!match) throw bad(400, `Unknown runtimeStatus '${s}'; use one of ${STATUSES.join(", ")}.`);
        return match;
      });
    const time = (key: string) => {
      const v = q.get(key);
      if (!v) return undefined;
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) throw bad(400, `${key} '${v}' is not a valid date-time.`);
      return d.toISOString();
    };
    return {
      runtimeStatus,
      createdTimeFrom: time("createdTimeFrom"),
      createdTimeTo: time("createdTimeTo"),
      instanceIdPrefix: q.get("instanceIdPrefix") || undefined,
    };
  }

  private async list(q: URLSearchParams, continuationToken?: string): Promise<Reply> {
    const topText = q.get("top");
    const top = topText === null ? undefined : Number(topText);
    if (top !== undefined && (!Number.isInteger(top) || top <= 0))
      throw bad(400, `top '${topText}' must be a positive integer.`);
    if (continuationToken !== undefined && !isContinuationToken(continuationToken))
      throw bad(400, "The x-ms-continuation-token header is not a token this API handed out.");
    const result = await this.engine.store.queryInstances({ ...this.filter(q), top, continuationToken });
    const showInput = flag(q, "showInput", true);
    return {
      status: 200,
      body: result.records.map((r) => toStatus(r, showInput)),
      headers: result.continuationToken ? { "x-ms-continuation-token": result.continuationToken } : undefined,
    };
  }

  private async purgeBy(q: URLSearchParams): Promise<Reply> {
    const filter = this.filter(q);
    if (!filter.createdTimeFrom && !filter.runtimeStatus.length)
      throw bad(400, "Purging by filter needs createdTimeFrom or runtimeStatus.");
    const { records } = await this.engine.store.queryInstances(filter);
    let deleted = 0;
    for (const r of records) if (await this.engine.purge(r.instanceId)) deleted++;
    return deleted
      ? { status: 200, body: { instancesDeleted: deleted } }
      : { status: 404, body: { instancesDeleted: 0 } };
  }
}

function toStatus(r: InstanceRecord, showInput: boolean): Record<string, unknown> {
  return {
    name: r.name,
    instanceId: r.instanceId,
    runtimeStatus: r.runtimeStatus,
    input: showInput ? parseJsonText(r.input) : null,
    customStatus: parseJsonText(r.customStatus),
    output: parseJsonText(r.output),
    createdTime: r.createdTime,
    lastUpdatedTime: r.lastUpdatedTime,
    // The version it was started with; null for an instance started before versioning.
    version: r.version ?? null,
  };
}

function validateInstanceId(id: string): void {
  const hasControl = [...id].some((c) => {
    const code = c.charCodeAt(0);
    return code < 0x20 || (code >= 0x7f && code <= 0x9f);
  });
  if (id.length > 256 || /[/\\#?]/.test(id) || hasControl)
    throw bad(
      400,
      `Instance ID '${id}' is invalid: at most 256 characters, none of / \\ # ? or control characters.`,
    );
}

function seconds(q: URLSearchParams, key: string): number | undefined {
  const text = q.get(key);
  if (text === null || text === "") return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw bad(400, `${key} '${text}' must be a number of seconds.`);
  return value;
}

/** Boolean query parameters, case-insensitive as in the extension; anything else is a clear 400. */
function flag(q: URLSearchParams, key: string, fallback: boolean): boolean {
  const text = q.get(key);
  if (text === null || text === "") return fallback;
  if (/^true$/i.test(text)) return true;
  if (/^false$/i.test(text)) return false;
  throw bad(400, `${key} '${text}' must be true or false.`);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw bad(400, `The path segment '${segment}' is not valid percent-encoding.`);
  }
}

function gone(id: string, what: string): Reply {
  return { status: 410, body: { message: `Instance '${id}' is not running, so it cannot ${what}.` } };
}

function notFound(id: string): Reply {
  return { status: 404, body: { message: `No instance with ID '${id}' was found.` } };
}

function bad(status: number, msg: string): DurableEngineError {
  return new DurableEngineError(msg, status);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(bad(413, "The request body is too large."));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
