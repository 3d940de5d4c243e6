/**
 * No cross-site requests: a state-changing request (POST, PUT, PATCH, DELETE) is refused with a 403
 * when the browser says it comes from another site. Checked once, in `apiHandler`, so every handler of
 * the API (tenants, deployments, rollouts, verify) gets it.
 *
 * The rule:
 * - `Sec-Fetch-Site` present and not `same-origin` or `none` → refused. `same-site` (another subdomain,
 *   e.g. another app on `*.azurewebsites.net`) is refused too: only our own origin may change state.
 * - `Origin` present and not the app's own origin → refused (`Origin: null`, an opaque origin, included).
 * - Neither header (CLI, SDK, curl, server-to-server) → allowed; such callers are not a browser acting
 *   for someone else, and they still need a function key and their role.
 *
 * "The app's own origin" is the request URL's origin: the host the Functions host received the request
 * for (its Host header). Forwarding headers (`x-forwarded-host`, `x-forwarded-proto`) are not trusted:
 * nothing else in the app trusts them and anyone can send them. One allowance: when TLS ends in front
 * of the host (App Service), the URL may say `http:` while the browser's origin says `https:`; an
 * `https:` Origin for the same host and port is accepted then.
 */
import type { HttpRequest } from "@azure/functions";
import { ProblemError } from "./problem";

const STATE_CHANGING_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

const ALLOWED_FETCH_SITES: ReadonlySet<string> = new Set(["same-origin", "none"]);

function hostOf(url: URL): string {
  const port = url.port || (url.protocol === "https:" ? "443" : url.protocol === "http:" ? "80" : "");
  return `${url.hostname.toLowerCase()}:${port}`;
}

/** Whether `origin` (an Origin header's value) is the origin of `requestUrl`. */
function isOwnOrigin(origin: string, requestUrl: string): boolean {
  let theirs: URL;
  let ours: URL;
  try {
    theirs = new URL(origin);
    ours = new URL(requestUrl);
  } catch {
    return false;
  }
  if (theirs.origin === "null" || theirs.origin !== `${theirs.protocol}//${theirs.host}`) return false;
  if (theirs.protocol === ours.protocol) return hostOf(theirs) === hostOf(ours);
  // TLS terminated in front of the host: the browser spoke https to the same host name.
  if (ours.protocol === "http:" && theirs.protocol === "https:") {
    const port = (u: URL) => u.port;
    return theirs.hostname.toLowerCase() === ours.hostname.toLowerCase() && port(theirs) === port(ours);
  }
  return false;
}

/** Why a request is refused as cross-site, or undefined when it may go on. */
function crossSiteReason(request: HttpRequest): string | undefined {
  if (!STATE_CHANGING_METHODS.has(request.method.toUpperCase())) return undefined;
  const fetchSite = request.headers.get("sec-fetch-site")?.trim().toLowerCase();
  if (fetchSite !== undefined && fetchSite !== "" && !ALLOWED_FETCH_SITES.has(fetchSite)) {
    return `Sec-Fetch-Site is "${fetchSite}"; only same-origin requests may change state.`;
  }
  const origin = request.headers.get("origin");
  if (origin !== null && !isOwnOrigin(origin.trim(), request.url)) {
    return `Origin "${origin}" is not this app's origin (${new URL(request.url).origin}).`;
  }
  return undefined;
}

/** Throws the 403 for a cross-site state-changing request. */
export function requireSameOrigin(request: HttpRequest): void {
  const reason = crossSiteReason(request);
  if (reason) {
    throw new ProblemError(403, `Cross-site request refused: ${reason}`, undefined, { reason: "cross-site" });
  }
}
