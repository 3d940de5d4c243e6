/**
 * Orchestration versions, compared the way the Durable extension compares them (its versioning rules:
 * an absent or empty version equals another absent one and is older than any given version; two
 * versions that both parse as `System.Version`, two to four dot-separated non-negative integers, compare
 * numerically part by part; anything else compares as case-insensitive text).
 *
 * The app's current version is `extensions.durableTask.defaultVersion` in host.json: every orchestration
 * the app starts from then on (sub-orchestrations too) carries it for life in `context.df.version`. An
 * instance started before versioning existed has no version: it is the first version of every
 * orchestration and keeps that path. Code that changes what an orchestrator yields branches on
 * `sinceVersion(context.df.version, "<the release that changed it>")`; docs/upgrading.md is the rule.
 */

const SYSTEM_VERSION = /^\d+(\.\d+){1,3}$/;

/** Negative when `a` is older than `b`, 0 when equal, positive when newer. */
export function compareVersions(a: string | undefined, b: string | undefined): number {
  const left = a ?? "";
  const right = b ?? "";
  if (left === "" || right === "") return left === right ? 0 : left === "" ? -1 : 1;
  if (SYSTEM_VERSION.test(left) && SYSTEM_VERSION.test(right)) {
    const l = left.split(".").map(Number);
    const r = right.split(".").map(Number);
    for (let i = 0; i < Math.max(l.length, r.length); i++) {
      // System.Version: an absent build or revision part is older than any given one (1.0 < 1.0.0).
      const x = l[i] ?? -1;
      const y = r[i] ?? -1;
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  }
  const x = left.toLowerCase();
  const y = right.toLowerCase();
  return x === y ? 0 : x < y ? -1 : 1;
}

/** Whether an instance of `version` was started by release `release` or a later one. */
export function sinceVersion(version: string | undefined, release: string): boolean {
  return compareVersions(version, release) >= 0;
}
