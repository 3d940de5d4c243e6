/** Builds real @azure/functions request/context objects for handler tests and reads responses back. */
import { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";

export interface RequestSpec {
  method?: string;
  url?: string;
  params?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** Objects are sent as JSON with content-type application/json unless a content-type is given. */
  body?: unknown;
  /** Raw body text, sent as-is. */
  rawBody?: string | Buffer;
}

export function makeRequest(spec: RequestSpec): HttpRequest {
  const headers: Record<string, string> = { ...(spec.headers ?? {}) };
  let body: { string: string } | { bytes: Uint8Array } | undefined;
  if (spec.rawBody !== undefined) {
    body = typeof spec.rawBody === "string" ? { string: spec.rawBody } : { bytes: spec.rawBody };
  } else if (spec.body !== undefined) {
    body = { string: JSON.stringify(spec.body) };
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
      headers["content-type"] = "application/json";
    }
  }
  const url = new URL(spec.url ?? "http://localhost:7071/api/test");
  for (const [k, v] of Object.entries(spec.query ?? {})) url.searchParams.set(k, v);
  return new HttpRequest({
    method: spec.method ?? "GET",
    url: url.toString(),
    headers,
    params: spec.params ?? {},
    query: spec.query ?? {},
    body,
  });
}

export function makeContext(functionName = "test"): InvocationContext & { logs: string[] } {
  const logs: string[] = [];
  const context = new InvocationContext({
    functionName,
    invocationId: randomUUID(),
    logHandler: (_level, ...args) => logs.push(args.map(String).join(" ")),
  });
  return Object.assign(context, { logs });
}

export interface ReadResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export function readResponse(response: HttpResponseInit): ReadResponse {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries((response.headers ?? {}) as Record<string, string>))
    headers[k.toLowerCase()] = v;
  let body: unknown = response.jsonBody;
  if (body === undefined && typeof response.body === "string" && response.body.length > 0) {
    body = JSON.parse(response.body);
  }
  return { status: response.status ?? 200, headers, body };
}

/**
 * Sends a request with the path exactly as given: fetch and URL normalise `..`, `%2e%2e` and the like
 * before sending, which would hide what a server does with them.
 */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
