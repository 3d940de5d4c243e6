/**
 * How the Provider reaches a tenant's Service Bus namespace: `public` (its public endpoint, Entra ID the
 * gate) or `private` (a private endpoint in the Provider's virtual network, approved by the customer:
 * docs/onboarding.md "Private network"). The mode never changes how the Provider connects (it always
 * connects to the namespace's host name); it decides what onboarding tells the customer and what verify
 * checks: that the host name resolves, from the Provider, to private addresses only.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { z } from "zod";

export const NETWORK_MODES = ["public", "private"] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];
/** A registration without `network` (and every row written before it existed) is public. */
export const DEFAULT_NETWORK_MODE: NetworkMode = "public";

export const networkModeSchema = z.enum(NETWORK_MODES, {
  error: () => `must be one of: ${NETWORK_MODES.join(", ")}`,
});

/** The DNS zone the Provider's virtual network resolves Service Bus private endpoints through. */
export const SERVICE_BUS_PRIVATE_DNS_ZONE = "privatelink.servicebus.windows.net";

/**
 * The name of the Provider's private endpoint to a private tenant's namespace, as infra/provider.bicep
 * names it (`sb-<tenant>`); private endpoint names are at most 64 characters.
 */
export function privateEndpointName(tenant: string): string {
  return `sb-${tenant}`;
}
export const PRIVATE_ENDPOINT_NAME_MAX = 64;

/** Every address a host name resolves to. Injected into verify so tests answer without real DNS. */
export type HostResolver = (host: string) => Promise<string[]>;

/** The system resolver (getaddrinfo, which follows the app's virtual network DNS in Azure). */
export const systemResolver: HostResolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

export type AddressKind = "private" | "loopback" | "public";

function ipv4Octets(address: string): number[] | undefined {
  const octets = address.split(".").map(Number);
  return octets.length === 4 && octets.every((o) => Number.isInteger(o) && o >= 0 && o <= 255)
    ? octets
    : undefined;
}

/**
 * Private: RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598 shared space (100.64/10, which Azure
 * virtual networks may use), IPv6 unique local (fc00::/7: a first group of four hex digits fcXX or fdXX,
 * so `fc::1` = 00fc::1 is not one). Loopback (127/8, ::1) is a kind of its own: a private path only in
 * the local stack (its emulator), never in Azure (checkPrivateResolution). Anything else, and anything
 * that is not an IP address, is public.
 */
export function addressKind(address: string): AddressKind {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const text = mapped ?? address;
  const family = isIP(text);
  if (family === 4) {
    const [a, b] = ipv4Octets(text) as [number, number, number, number];
    if (a === 127) return "loopback";
    if (a === 10) return "private";
    if (a === 172 && b >= 16 && b <= 31) return "private";
    if (a === 192 && b === 168) return "private";
    if (a === 100 && b >= 64 && b <= 127) return "private";
    return "public";
  }
  if (family === 6) {
    const lower = text.toLowerCase();
    if (lower === "::1") return "loopback";
    if (/^f[cd][0-9a-f]{2}:/.test(lower)) return "private";
    return "public";
  }
  return "public";
}

/** What verify reports about a private tenant's path (the answer's `network`). */
export interface PrivatePathReport {
  mode: "private";
  host: string;
  /** What the host name resolved to from the Provider (none when it did not resolve). */
  addresses: string[];
  /** Every address is private: the Provider's private endpoint answers for the namespace. */
  resolvesPrivate: boolean;
  /**
   * The onboarding step that is missing, when one is: `privateDnsZone` (the name does not resolve to the
   * private endpoint: most likely the connection is still pending approval, since a manual connection's
   * record may be written to the zone only once approved; else no endpoint yet, or the zone, its record
   * or its link to the Provider's network is missing) or `approval` (it resolves privately but the
   * namespace does not answer: the customer has not approved the endpoint's connection yet).
   */
  missing?: "privateDnsZone" | "approval";
  /** Why, naming what to do; absent when nothing is missing. */
  detail?: string;
}

function zoneHint(tenant: string): string {
  return `the Provider's private endpoint ${privateEndpointName(tenant)} (infra/provider.bicep privateCustomers) with its record in the ${SERVICE_BUS_PRIVATE_DNS_ZONE} private DNS zone, and that zone linked to the virtual network the Provider's app is integrated with`;
}

/**
 * Why a private tenant's name does not resolve to its endpoint, most likely cause first: a connection
 * still pending approval (the endpoint's record may be written to the zone only once the customer
 * approves it, and until then the name resolves publicly or not at all), then the Provider's side.
 */
function dnsCauses(tenant: string): string {
  return `most likely the customer has not approved the private endpoint connection from ${privateEndpointName(tenant)} yet (its record may be written to the ${SERVICE_BUS_PRIVATE_DNS_ZONE} zone only once approved; the approval commands are in GET /api/tenants/${tenant}/onboarding, privateEndpoint.approvalCommands); otherwise check ${zoneHint(tenant)}`;
}

/**
 * Resolves the namespace's host name with `resolve` and says whether it reaches the private endpoint:
 * every address private, and at least one. A loopback answer passes only with `acceptLoopback` (the
 * local stack, whose emulator listens there); in Azure it is a sinkhole or a hosts entry, not the
 * endpoint, and fails the step like a public one. Never throws: a resolver failure is a report (the
 * name does not resolve).
 */
export async function checkPrivateResolution(
  tenant: string,
  host: string,
  resolve: HostResolver,
  acceptLoopback = false,
): Promise<PrivatePathReport> {
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return {
      mode: "private",
      host,
      addresses: [],
      resolvesPrivate: false,
      missing: "privateDnsZone",
      detail: `${host} does not resolve from the Provider (${typeof code === "string" ? code : (error as Error).message}): ${dnsCauses(tenant)}`,
    };
  }
  const kinds = addresses.map((a) => [a, addressKind(a)] as const);
  const publicOnes = kinds.filter(([, k]) => k === "public").map(([a]) => a);
  const loopbacks = acceptLoopback ? [] : kinds.filter(([, k]) => k === "loopback").map(([a]) => a);
  if (addresses.length > 0 && publicOnes.length === 0 && loopbacks.length === 0) {
    return { mode: "private", host, addresses, resolvesPrivate: true };
  }
  return {
    mode: "private",
    host,
    addresses,
    resolvesPrivate: false,
    missing: "privateDnsZone",
    detail:
      addresses.length === 0
        ? `${host} resolves to no address from the Provider: ${dnsCauses(tenant)}`
        : publicOnes.length > 0
          ? `${host} resolves to public address(es) ${publicOnes.join(", ")} from the Provider, not to its private endpoint: ${dnsCauses(tenant)}`
          : `${host} resolves to loopback address(es) ${loopbacks.join(", ")} from the Provider (a sinkhole or a hosts entry, not its private endpoint): check ${zoneHint(tenant)}`,
  };
}

/**
 * A failed send to a private tenant whose name resolves privately: unless the namespace refused the
 * Provider's identity (a role assignment, not the network), the endpoint's connection is most likely
 * still pending the customer's approval, which drops the traffic.
 */
export function pendingApprovalSuspected(sendError: string): boolean {
  return !/unauthori[sz]ed|forbidden|\b401\b|\b403\b|not authorized|does not have/i.test(sendError);
}

export function approvalHint(tenant: string): string {
  return `if the customer has not approved the private endpoint connection from ${privateEndpointName(tenant)} yet, traffic to it is dropped: the approval commands are in GET /api/tenants/${tenant}/onboarding (privateEndpoint.approvalCommands)`;
}
