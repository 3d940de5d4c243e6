/**
 * `npm start`'s local webhook receiver (docs/notifications.md): a small HTTP server on 127.0.0.1 that
 * the stack subscribes to every event type. It verifies each delivery's Standard Webhooks signature
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`: HMAC-SHA256 of "<id>.<timestamp>.<body>"
 * under the shared secret) the way a customer's receiver should, refusing a bad or stale one with a 401
 * (which the Provider's delivery log then shows as given up), logs each event, and keeps the last few
 * (deduplicated on `webhook-id`, as delivery is at least once) for `GET /events` on its own loopback
 * URL. Written from the documented contract, not with the Provider's signer, so it checks the contract.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { EVENT_TYPES } from "./product";

/** Deliveries older (or newer) than this are refused against replays. */
export const TOLERANCE_SECONDS = 300;
const MAX_BODY_BYTES = 256 * 1024;

export interface ReceivedEvent {
  id: string;
  type: string;
  source: string;
  time: string;
  receivedAt: string;
  data: unknown;
}

export type Verdict = { ok: true } | { ok: false; reason: string };

type Headers = Record<string, string | string[] | undefined>;
const header = (h: Headers, name: string) => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The Standard Webhooks check of one request: its headers, its raw body, the secret, the time now. */
export function verifyWebhook(secret: string, headers: Headers, body: string, nowMs = Date.now()): Verdict {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signature = header(headers, "webhook-signature");
  if (!id || !timestamp || !signature) return { ok: false, reason: "missing webhook-* headers" };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "bad webhook-timestamp" };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > TOLERANCE_SECONDS)
    return { ok: false, reason: "webhook-timestamp outside the tolerance (a replay?)" };
  // A Standard Webhooks secret (whsec_<base64>) signs with its decoded bytes; any other with its text.
  const key = secret.startsWith("whsec_") ? Buffer.from(secret.slice(6), "base64") : Buffer.from(secret);
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
  // The header may carry several space-separated signatures (key rotation); one valid v1 is enough.
  const valid = signature.split(" ").some((s) => {
    const [version, value] = s.split(",", 2);
    if (version !== "v1" || !value) return false;
    const given = Buffer.from(value, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return valid ? { ok: true } : { ok: false, reason: "signature does not match" };
}

/** The receiver's secret, made once and kept in the data folder (readable by this user only). */
export function ensureReceiverSecret(dir: string): string {
  const file = path.join(dir, "webhook-receiver-secret");
  const kept = fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : "";
  if (kept.startsWith("whsec_")) return kept;
  fs.mkdirSync(dir, { recursive: true });
  // A Standard Webhooks secret: whsec_ and the base64 of 32 random bytes.
  const secret = `whsec_${randomBytes(32).toString("base64")}`;
  fs.writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}

export interface WebhookReceiver {
  /** Where the Provider delivers: http://127.0.0.1:<port>/hook. */
  url: string;
  /** Where the last events can be read: http://127.0.0.1:<port>/events. */
  eventsUrl: string;
  events(): ReceivedEvent[];
  close(): Promise<void>;
}

export interface ReceiverOptions {
  port: number;
  secret: string;
  /** How many events are kept (the newest). */
  keep?: number;
  log?: (line: string) => void;
}

function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on("end", () => resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function toEvent(body: string): ReceivedEvent | undefined {
  try {
    const e = JSON.parse(body) as Partial<ReceivedEvent>;
    if (typeof e.id !== "string" || typeof e.type !== "string") return undefined;
    return {
      id: e.id,
      type: e.type,
      source: String(e.source ?? ""),
      time: String(e.time ?? ""),
      receivedAt: new Date().toISOString(),
      data: e.data,
    };
  } catch {
    return undefined;
  }
}

export async function startWebhookReceiver(options: ReceiverOptions): Promise<WebhookReceiver> {
  const keep = options.keep ?? 50;
  const log = options.log ?? ((line: string) => console.log(line));
  const received: ReceivedEvent[] = [];
  const answer = (res: http.ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, body === undefined ? {} : { "content-type": "application/json" });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  async function onHook(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (body === undefined) return answer(res, 413);
    const verdict = verifyWebhook(options.secret, req.headers, body);
    const event = verdict.ok ? toEvent(body) : undefined;
    if (!verdict.ok || !event) {
      const reason = verdict.ok ? "not a CloudEvent" : verdict.reason;
      log(`[receiver] refused a delivery: ${reason}`);
      return answer(res, verdict.ok ? 400 : 401, { error: reason });
    }
    const seen = received.some((e) => e.id === event.id);
    log(`[receiver] ${event.type} ${event.id}${seen ? " (again: already received)" : ""}`);
    if (!seen) received.push(event);
    if (received.length > keep) received.splice(0, received.length - keep);
    answer(res, 204);
  }
  const server = http.createServer((req, res) => {
    const route = (req.url ?? "").split("?")[0];
    if (req.method === "POST" && route === "/hook")
      return void onHook(req, res).catch(() => answer(res, 500));
    if (req.method === "GET" && route === "/events")
      return answer(res, 200, { items: [...received].reverse() });
    answer(res, 404);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", resolve);
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/hook`,
    eventsUrl: `${base}/events`,
    events: () => [...received],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The app setting that holds the local webhook receiver's secret (the subscription names it). */
export const RECEIVER_SECRET_SETTING = "WEBHOOK_SECRET_DEV_RECEIVER";

/**
 * Subscribes the local receiver to every event type, once: a subscription with the receiver's secret
 * setting and URL is kept; one left by an earlier start on another port is replaced.
 */
export async function subscribeReceiver(api: string, receiver: WebhookReceiver): Promise<string> {
  const call = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${api}${route}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>);
  };
  const { items } = (await call("GET", "/subscriptions")) as {
    items: { id: string; url: string; secretSetting: string; events: string[] }[];
  };
  const ours = items.filter((s) => s.secretSetting === RECEIVER_SECRET_SETTING);
  const current = ours.find((s) => s.url === receiver.url && s.events.length === EVENT_TYPES.length);
  for (const s of ours) if (s !== current) await call("DELETE", `/subscriptions/${s.id}`);
  if (current) return current.id;
  const created = await call("POST", "/subscriptions", {
    url: receiver.url,
    events: [...EVENT_TYPES],
    secretSetting: RECEIVER_SECRET_SETTING,
    description: "npm start's local webhook receiver",
  });
  return created.id as string;
}
