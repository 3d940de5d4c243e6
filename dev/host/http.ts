/**
 * Serves HTTP-triggered functions like the Functions host: `/<routePrefix>/<route>` with methods,
 * route parameters and auth levels; real HttpRequest objects in, HttpResponse (or init objects) out;
 * 404/405/413 for client mistakes; a handler's exception becomes a 500 that leaks nothing.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpRequest, HttpResponse, HttpResponseInit } from "@azure/functions";
import type { RegisteredFunction } from "./functions-core";
import { createContext, HostLog, invoke } from "./invoke";
import { compileRoute, CompiledRoute, matchRoute } from "./routes";

export const MAX_REQUEST_BYTES = 100 * 1024 * 1024;

export interface HttpKeys {
  /** Accepted for authLevel "function" (and admin keys too). */
  functionKeys: string[];
  /** Accepted for authLevel "admin" and "function". */
  masterKey?: string;
}

interface HttpFunction {
  fn: RegisteredFunction;
  route: CompiledRoute;
  methods: Set<string>;
  authLevel: string;
}

export class HttpDispatcher {
  private readonly functions: HttpFunction[];

  constructor(
    functions: RegisteredFunction[],
    private readonly routePrefix: string,
    private readonly keys: HttpKeys,
    private readonly log: HostLog,
    private readonly inputsByType: Record<string, () => unknown>,
  ) {
    this.functions = functions
      .map((fn) => ({
        fn,
        route: compileRoute(
          typeof fn.trigger.route === "string" && fn.trigger.route ? fn.trigger.route : fn.name,
        ),
        methods: new Set(
          ((fn.trigger.methods as string[] | undefined) ?? ["GET", "POST"]).map((m) => m.toUpperCase()),
        ),
        authLevel: String(fn.trigger.authLevel ?? "anonymous").toLowerCase(),
      }))
      .sort((a, b) => b.route.specificity - a.route.specificity);
  }

  /** The public URL of each HTTP function, for the start-up listing. */
  urls(baseUrl: string): { name: string; methods: string[]; url: string }[] {
    return this.functions.map((f) => ({
      name: f.fn.name,
      methods: [...f.methods],
      url: `${baseUrl}/${[this.routePrefix, f.route.template.replace(/^\/+/, "")].filter(Boolean).join("/")}`,
    }));
  }

  private stripPrefix(pathname: string): string | undefined {
    if (!this.routePrefix) return pathname;
    const prefix = `/${this.routePrefix}`;
    if (pathname.toLowerCase() === prefix.toLowerCase()) return "/";
    if (pathname.toLowerCase().startsWith(`${prefix.toLowerCase()}/`)) return pathname.slice(prefix.length);
    return undefined;
  }

  private authorized(level: string, req: IncomingMessage, url: URL): boolean {
    if (level === "anonymous") return true;
    const allowed =
      level === "admin" ? [this.keys.masterKey] : [...this.keys.functionKeys, this.keys.masterKey];
    const configured = allowed.filter((k): k is string => !!k);
    if (configured.length === 0) return true; // no keys configured: local development is open, like `func start`
    const given =
      (req.headers["x-functions-key"] as string | undefined) ?? url.searchParams.get("code") ?? undefined;
    return given !== undefined && configured.includes(given);
  }

  /** Handles the request if it is for an HTTP function; false when no route of ours matches the path. */
  async handle(req: IncomingMessage, res: ServerResponse, baseUrl: string): Promise<boolean> {
    const url = new URL(req.url ?? "/", requestBase(req, baseUrl));
    const relative = this.stripPrefix(url.pathname);
    if (relative === undefined) return false;
    let params: Record<string, string> | undefined;
    let methodMismatch = false;
    let chosen: HttpFunction | undefined;
    for (const f of this.functions) {
      const p = matchRoute(f.route, relative);
      if (!p) continue;
      if (!f.methods.has((req.method ?? "GET").toUpperCase())) {
        methodMismatch = true;
        continue;
      }
      chosen = f;
      params = p;
      break;
    }
    if (!chosen || !params) {
      if (methodMismatch)
        send(res, 405, { error: `Method ${req.method} is not allowed on ${url.pathname}.` });
      else return false;
      return true;
    }
    if (!this.authorized(chosen.authLevel, req, url)) {
      send(res, 401, {
        error: "A valid function key is required (x-functions-key header or code query parameter).",
      });
      return true;
    }
    const body = await readBody(req);
    if (body === "too-large") {
      send(res, 413, { error: `The request body exceeds ${MAX_REQUEST_BYTES} bytes.` });
      return true;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const request = new HttpRequest({
      method: req.method ?? "GET",
      url: url.toString(),
      headers,
      query,
      params,
      body: body.length > 0 ? { bytes: body } : undefined,
    });
    const context = createContext(chosen.fn, {
      log: this.log,
      inputsByType: this.inputsByType,
      triggerMetadata: { headers, query, params },
    });
    let result: unknown;
    try {
      result = await invoke(chosen.fn, request, context, this.log, responseStatus);
    } catch {
      send(res, 500, { error: "The function failed.", invocationId: context.invocationId });
      return true;
    }
    await writeResponse(res, result);
    return true;
  }
}

/** The status writeResponse will send for a handler's result. */
function responseStatus(result: unknown): number {
  if (result === undefined || result === null) return 204;
  if (result instanceof HttpResponse) return result.status;
  return (result as HttpResponseInit).status ?? 200;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<Buffer | "too-large"> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_REQUEST_BYTES) {
    req.resume();
    return "too-large";
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) return "too-large";
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function writeResponse(res: ServerResponse, result: unknown): Promise<void> {
  if (result === undefined || result === null) {
    res.writeHead(204);
    res.end();
    return;
  }
  const response = result instanceof HttpResponse ? result : new HttpResponse(result as HttpResponseInit);
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    headers[key] = value;
  });
  const cookies = response.cookies.map((c) => {
    let s = `${c.name}=${c.value}`;
    if (c.path) s += `; Path=${c.path}`;
    if (c.domain) s += `; Domain=${c.domain}`;
    if (c.maxAge !== undefined) s += `; Max-Age=${c.maxAge}`;
    if (c.expires) s += `; Expires=${new Date(c.expires).toUTCString()}`;
    if (c.secure) s += "; Secure";
    if (c.httpOnly) s += "; HttpOnly";
    if (c.sameSite) s += `; SameSite=${c.sameSite}`;
    return s;
  });
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  const body = Buffer.from(await response.arrayBuffer());
  res.writeHead(response.status, headers);
  res.end(body);
}

/**
 * The base of a request's URL, like the Functions host builds it: the Host header the client used
 * (so `localhost` and `127.0.0.1` each see their own origin, which the API's same-origin check
 * compares with the browser's `Origin`), or the listener's base when the header is missing or invalid.
 */
function requestBase(req: IncomingMessage, baseUrl: string): string {
  const host = req.headers.host;
  if (!host || !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return baseUrl;
  try {
    return new URL(`${new URL(baseUrl).protocol}//${host}`).toString();
  } catch {
    return baseUrl;
  }
}
