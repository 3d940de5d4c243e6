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

export interface TargetPolicy {
  allowedHosts: readonly string[];
  localMode: boolean;
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

type Internal = "loopback" | "internal" | undefined;

/** An IPv4 address's kind: loopback, internal (not reachable from the internet, or the platform's), or public. */
function internalV4(octets: number[]): Internal {
  const [a = 0, b = 0, c = 0, d = 0] = octets;
  if (a === 127) return "loopback";
  if (
    a === 0 || // "this network"
    a === 10 ||
    (a === 100 && b >= 64 && b <= 127) || // shared address space
    (a === 169 && b === 254) || // link-local: cloud metadata endpoints answer here
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 0 && c === 0) || // IETF protocol assignments
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    a >= 224 || // multicast, reserved, broadcast
    (a === 168 && b === 63 && c === 129 && d === 16) // Azure's platform address (DNS, health, metadata)
  )
    return "internal";
  return undefined;
}

/** The eight 16-bit groups of an IPv6 address (any textual form, IPv4 tail included), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head = "", tail] = canonical.split("::");
  const part = (text: string | undefined) => (text ? text.split(":").map((g) => parseInt(g, 16)) : []);
  const left = part(head);
  const right = part(tail);
  if (tail === undefined) return left.length === 8 ? left : undefined;
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

const v4Of = (high: number, low: number) => [high >> 8, high & 0xff, low >> 8, low & 0xff];

/**
 * Whether an address is reachable from the internet: loopback, internal, or (undefined) public. IPv6 forms
 * that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) are
 * judged by that address; unique-local, site-local, link-local and multicast IPv6 are internal.
 */
function internal(address: string): Internal {
  if (isIP(address) === 4) return internalV4(address.split(".").map(Number));
  const g = ipv6Groups(address);
  if (!g) return "internal";
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const zeroPrefix = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (zeroPrefix && g5 === 0 && g6 === 0) return g7 === 1 ? "loopback" : "internal"; // ::1, ::
  if (zeroPrefix && (g5 === 0xffff || g5 === 0)) return internalV4(v4Of(g6, g7)); // mapped, compatible
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return internalV4(v4Of(g6, g7)); // NAT64
  if (g0 === 0x2002) return internalV4(v4Of(g1, g2)); // 6to4
  if ((g0 & 0xfe00) === 0xfc00 || (g0 & 0xffc0) === 0xfe80 || (g0 & 0xffc0) === 0xfec0 || g0 >= 0xff00)
    return "internal";
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
