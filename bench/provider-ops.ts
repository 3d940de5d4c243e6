/**
 * What the benchmarks count of the Provider's own Service Bus work, from the emulator's counters: on the
 * status queues (`status` or `status-<tenant>`, and their dead-letter queues) its receive requests, drains,
 * settlements and `$management` requests; on the command queues its sends; link attaches, `$cbs`
 * authorisations and connections apart (not in the total). The agents do the reverse, not counted.
 * Shared by the status-delivery and rollout benchmarks, with the one percentile they both report.
 */
import type { NamespaceStats } from "../dev/servicebus-emulator";

export interface ProviderOps {
  /** Status queue (and its DLQ): credit grants + drains. */
  receiveRequests: number;
  /** Drains: an empty or short receive. */
  drains: number;
  settlements: number;
  managementOps: number;
  commandSends: number;
  total: number;
  /** Not in the total: links opened (status receivers, command senders) and their $cbs authorisations. */
  linkAttaches: number;
  cbsPutTokens: number;
  connections: number;
}

/** `status`, `status-acme/$DeadLetterQueue` → `status`; `commands-acme` → `commands`. */
const queueKind = (entity: string) => (entity.split("/")[0] ?? "").replace(/-.*$/, "");

export function providerOps(stats: Record<string, NamespaceStats>): ProviderOps {
  const ops: ProviderOps = {
    receiveRequests: 0,
    drains: 0,
    settlements: 0,
    managementOps: 0,
    commandSends: 0,
    total: 0,
    linkAttaches: 0,
    cbsPutTokens: 0,
    connections: 0,
  };
  for (const ns of Object.values(stats)) {
    for (const [name, e] of Object.entries(ns.entities)) {
      const kind = queueKind(name);
      if (kind === "status") {
        ops.receiveRequests += e.receiveRequests;
        ops.drains += e.drains;
        ops.settlements += e.settlements;
        ops.managementOps += e.managementOps;
        ops.linkAttaches += e.receiverAttaches;
      } else if (kind === "commands") {
        ops.commandSends += e.sendCalls;
        ops.linkAttaches += e.senderAttaches;
      }
    }
    ops.cbsPutTokens += ns.cbsPutTokens;
    ops.connections += ns.connections;
  }
  ops.total = ops.receiveRequests + ops.settlements + ops.managementOps + ops.commandSends;
  return ops;
}

/** `b - a`, counter by counter. */
export function diffOps(a: ProviderOps, b: ProviderOps): ProviderOps {
  const out = { ...b };
  for (const k of Object.keys(out) as (keyof ProviderOps)[]) out[k] = b[k] - a[k];
  return out;
}

/** The p-th percentile of an ascending list (nearest rank); NaN for an empty one. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
