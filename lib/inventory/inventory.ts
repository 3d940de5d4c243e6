/**
 * The fleet's inventory: which release each tenant runs, derived from the ledger (one truth, nothing
 * kept beside it). A tenant's `current` release is the release of its latest Succeeded attempt (by
 * completion time), `previous` the release of the latest Succeeded attempt before it that deployed another
 * release, and `inFlight` the release of its newest attempt still in flight. Attempts of raw specs do not
 * count: only a release says what a tenant runs.
 */
import type { ReleaseAttempt } from "../deployments/ledger";
import { compareVersions } from "../releases/model";
import type { Labels } from "../tenants/labels";

export interface InstalledRelease {
  release: string;
  deploymentId: string;
  attempt: number;
  /** When it succeeded (current, previous) or was requested (in flight). */
  at: string;
}

export interface TenantInventory {
  tenant: string;
  labels: Labels;
  current?: InstalledRelease;
  previous?: InstalledRelease;
  inFlight?: InstalledRelease;
}

/** The key counts use for a tenant that runs no release yet. */
export const NO_RELEASE = "none";

export interface InventoryCounts {
  /** Tenants per current release (`none`: no release yet). */
  byVersion: Record<string, number>;
  /** Per label key, per label value, tenants per current release (the version-by-ring matrix). */
  byLabel: Record<string, Record<string, Record<string, number>>>;
}

const installed = (a: ReleaseAttempt, at: string): InstalledRelease => ({
  release: a.release,
  deploymentId: a.id,
  attempt: a.attempt,
  at,
});

/** Newest first by `at`; ties (two attempts ending in the same millisecond) by request time, then attempt. */
function newestFirst(at: (a: ReleaseAttempt) => string) {
  return (a: ReleaseAttempt, b: ReleaseAttempt) =>
    at(b).localeCompare(at(a)) || b.requestedAt.localeCompare(a.requestedAt) || b.attempt - a.attempt;
}

/** A tenant's Succeeded attempts, newest first by completion. */
function succeededOf(own: readonly ReleaseAttempt[]): ReleaseAttempt[] {
  return own
    .filter((a) => a.outcome === "Succeeded" && a.completedAt)
    .sort(newestFirst((a) => a.completedAt as string));
}

/**
 * The attempt that installed the release a tenant ran before attempt `of` (Succeeded): its latest
 * Succeeded attempt completed before `of` that deployed another release. `own` is the tenant's attempts.
 * The one rule for the inventory's `previous` and for a rollout's rollback.
 */
export function releaseBefore(
  own: readonly ReleaseAttempt[],
  of: ReleaseAttempt,
): ReleaseAttempt | undefined {
  const byCompletion = newestFirst((a) => a.completedAt ?? a.requestedAt);
  return succeededOf(own).find((a) => a.release !== of.release && byCompletion(a, of) > 0);
}

/** Each tenant's inventory, in the order of `tenants`. */
export function inventoryOf(
  tenants: readonly { name: string; labels: Labels }[],
  attempts: readonly ReleaseAttempt[],
): TenantInventory[] {
  const byTenant = new Map<string, ReleaseAttempt[]>();
  for (const a of attempts) {
    const list = byTenant.get(a.tenant) ?? [];
    list.push(a);
    byTenant.set(a.tenant, list);
  }
  return tenants.map((t) => {
    const own = byTenant.get(t.name) ?? [];
    const current = succeededOf(own)[0];
    const previous = current && releaseBefore(own, current);
    const inFlight = own.filter((a) => a.phase !== "Completed").sort(newestFirst((a) => a.requestedAt))[0];
    return {
      tenant: t.name,
      labels: t.labels,
      ...(current ? { current: installed(current, current.completedAt as string) } : {}),
      ...(previous ? { previous: installed(previous, previous.completedAt as string) } : {}),
      ...(inFlight ? { inFlight: installed(inFlight, inFlight.requestedAt) } : {}),
    };
  });
}

/** A record with no prototype: label keys and values are user data (`constructor`, `toString`, ...). */
const record = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;

export function countInventory(items: readonly TenantInventory[]): InventoryCounts {
  const byVersion = record<number>();
  const byLabel = record<Record<string, Record<string, number>>>();
  for (const item of items) {
    const version = item.current?.release ?? NO_RELEASE;
    byVersion[version] = (byVersion[version] ?? 0) + 1;
    for (const [key, value] of Object.entries(item.labels)) {
      const values = (byLabel[key] ??= record());
      const versions = (values[value] ??= record());
      versions[version] = (versions[version] ?? 0) + 1;
    }
  }
  return { byVersion, byLabel };
}

/** Whether the tenant runs a release below `version` (or none): it has drifted behind it. */
export function isBehind(item: TenantInventory, version: string): boolean {
  return !item.current || compareVersions(item.current.release, version) < 0;
}
