/**
 * Which instances a worker may run, by orchestration version, as the Durable extension decides it
 * (host.json `versionMatchStrategy`; docs/durable-engine.md, "Orchestration versions").
 */
import type { DurableVersioning } from "../host/durable-contract";
import { compareVersions } from "../product";

/** How soon a worker looks again at an instance it rejected for its version (the extension's backoff is similar). */
export const VERSION_REJECT_RETRY_MS = 30_000;

/**
 * Why this worker must not run an instance of `version`, or undefined when it may: `Strict` runs only
 * its own default version, `CurrentOrOlder` anything not newer (an instance with no version is older
 * than any), `None` everything.
 */
export function versionMismatch(
  versioning: DurableVersioning | undefined,
  version: string | undefined,
): string | undefined {
  if (!versioning || versioning.versionMatchStrategy === "None") return undefined;
  const order = compareVersions(version, versioning.defaultVersion);
  const ok = versioning.versionMatchStrategy === "Strict" ? order === 0 : order <= 0;
  if (ok) return undefined;
  const named = (v: string | undefined) => (v ? `'${v}'` : "no version");
  return `The orchestration version ${named(version)} does not match this worker's ${named(versioning.defaultVersion)} (versionMatchStrategy ${versioning.versionMatchStrategy})`;
}
