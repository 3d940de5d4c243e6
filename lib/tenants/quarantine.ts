/**
 * Quarantine of a tenant whose status queue keeps sending what the Provider must refuse: after
 * `QUARANTINE_BAD_MESSAGES` bad messages (dead-lettered for breaking the contract, or as statuses of
 * unknown or foreign deployments) within `QUARANTINE_WINDOW_SECONDS`, the tenant's status pump stops
 * receiving and new deployments to it are refused, until `POST /api/tenants/{tenant}/resume`. A hostile or
 * broken customer then costs the Provider a bounded amount of work, not whatever its queue holds.
 *
 * The count is a sliding window kept as ten buckets (a tenth of the window each), so it survives a
 * Provider restart when stored (TenantHealthStore, partition `badMessages`) and costs one write per
 * received batch that held a bad message, never one per good message. This module is the pure part.
 */

export interface QuarantinePolicy {
  /** Bad messages within the window that quarantine the tenant; 0 turns quarantine off. */
  badMessages: number;
  windowSeconds: number;
}

/** Why and since when a tenant is quarantined. */
export interface Quarantine {
  at: string;
  /** Bad messages counted in the window when it began. */
  badMessages: number;
  windowSeconds: number;
  /** The dead-letter reason of the last bad message counted. */
  lastReason: string;
}

/** The stored count: `[bucket start (ms), bad messages]`, oldest first, plus the quarantine once begun. */
export interface BadMessageCount {
  buckets: [number, number][];
  lastReason?: string;
  lastAt?: string;
  quarantine?: Quarantine;
}

const BUCKETS_PER_WINDOW = 10;

/** The bad messages the count holds within the window ending at `nowMs`. */
export function badInWindow(count: BadMessageCount, policy: QuarantinePolicy, nowMs: number): number {
  const from = nowMs - policy.windowSeconds * 1000;
  return count.buckets.reduce((sum, [start, n]) => (start > from - bucketMs(policy) ? sum + n : sum), 0);
}

function bucketMs(policy: QuarantinePolicy): number {
  return Math.max(1, Math.floor((policy.windowSeconds * 1000) / BUCKETS_PER_WINDOW));
}

/**
 * The count after `bad` more bad messages at `nowMs` (the last with `reason`): buckets older than the
 * window dropped, and the quarantine begun once the window holds `policy.badMessages`. A bucket counts
 * while any of it lies in the window, so the window is at most a tenth longer than configured, never
 * shorter: a burst is never missed for straddling a bucket edge.
 */
export function countBadMessages(
  previous: BadMessageCount | undefined,
  bad: number,
  reason: string,
  policy: QuarantinePolicy,
  nowMs: number,
): BadMessageCount {
  const size = bucketMs(policy);
  const bucket = nowMs - (nowMs % size);
  const from = nowMs - policy.windowSeconds * 1000 - size;
  const buckets = (previous?.buckets ?? []).filter(([start]) => start > from);
  const last = buckets[buckets.length - 1];
  if (last && last[0] === bucket) last[1] += bad;
  else buckets.push([bucket, bad]);
  const next: BadMessageCount = {
    buckets,
    lastReason: reason,
    lastAt: new Date(nowMs).toISOString(),
    ...(previous?.quarantine ? { quarantine: previous.quarantine } : {}),
  };
  const inWindow = badInWindow(next, policy, nowMs);
  if (!next.quarantine && policy.badMessages > 0 && inWindow >= policy.badMessages)
    next.quarantine = {
      at: new Date(nowMs).toISOString(),
      badMessages: inWindow,
      windowSeconds: policy.windowSeconds,
      lastReason: reason,
    };
  return next;
}

/** The problem text of a start refused for a quarantine (the 409's `detail`). */
export function quarantineMessage(tenant: string, q: Quarantine): string {
  return (
    `Tenant "${tenant}" is quarantined since ${q.at}: ${q.badMessages} bad status messages within ` +
    `${q.windowSeconds} s (last: ${q.lastReason}). Fix the customer's agent, then POST /api/tenants/${tenant}/resume.`
  );
}
