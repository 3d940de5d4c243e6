/**
 * Where a webhook may go: the Provider calls out of its own network with its identity's reach, so a
 * subscription must never point it at an internal address (server-side request forgery). A target is
 * allowed when
 * - its scheme is https (http only in local mode, to a loopback host: `npm start`'s receiver);
 * - its host is under one of `WEBHOOK_ALLOWED_HOSTS` (suffixes, `.example.com` or an exact host), or, in
 *   local mode, a loopback host;
 * - and, at each delivery, the address the connection goes to is public (or loopback in local mode),
 *   checked in the connection's own lookup: a name that later resolves inside the network is refused
 *   then (DNS rebinding). An IP literal is never looked up, so the first rule refuses an internal one.
 */
import { isIP } from "node:net";
import { addressKind } from "../tenants/network";

export interface TargetPolicy {
  allowedHosts: readonly string[];
  localMode: boolean;
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/**
 * Not reachable from the internet: private and loopback (addressKind), and also link-local (169.254/16,
 * where cloud metadata endpoints answer; fe80::/10), "this network" (0/8, ::), multicast and reserved
 * (224/3), which addressKind counts as public.
 */
function internal(address: string): "loopback" | "internal" | undefined {
  const kind = addressKind(address);
  if (kind === "loopback") return "loopback";
  if (kind === "private") return "internal";
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.\d+\.\d+$/i.exec(address);
  if (v4) {
    const a = Number(v4[1]);
    const b = Number(v4[2]);
    if (a === 0 || a >= 224 || (a === 169 && b === 254)) return "internal";
    return undefined;
  }
  const lower = address.toLowerCase();
  if (lower === "::" || /^fe[89ab][0-9a-f]?:/.test(lower) || lower.startsWith("ff")) return "internal";
  return undefined;
}

function hostAllowed(host: string, allowed: readonly string[]): boolean {
  return allowed.some((entry) => {
    const suffix = entry.toLowerCase();
    return suffix.startsWith(".") ? host.endsWith(suffix) && host.length > suffix.length : host === suffix;
  });
}

/** Why a subscription's URL is refused, or undefined when it may be stored. */
export function targetProblem(url: URL, policy: TargetPolicy): string | undefined {
  const host = url.hostname.toLowerCase();
  const literal = host.replace(/^\[|\]$/g, "");
  const loopback = LOOPBACK_NAMES.has(host) || (isIP(literal) !== 0 && internal(literal) === "loopback");
  if (url.username || url.password) return "must not carry credentials";
  if (policy.localMode && loopback)
    return url.protocol === "http:" || url.protocol === "https:" ? undefined : "must be http(s)";
  if (url.protocol !== "https:") return "must be https";
  if (isIP(literal) !== 0 && internal(literal)) return "must not be an internal address";
  if (!hostAllowed(host, policy.allowedHosts))
    return policy.allowedHosts.length === 0
      ? "no webhook host is allowed: set WEBHOOK_ALLOWED_HOSTS"
      : "must be a host under WEBHOOK_ALLOWED_HOSTS";
  return undefined;
}

/** At delivery: whether the connection may go to this resolved address. */
export function addressAllowed(address: string, policy: TargetPolicy): boolean {
  const kind = internal(address);
  return kind === undefined || (kind === "loopback" && policy.localMode);
}
