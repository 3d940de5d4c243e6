/**
 * An orchestration instance's state as seen through the Durable client, outside orchestrations: one
 * reading of it, and the one classification of runtime statuses (running or ended) the apps act on.
 */
import type { DurableClient } from "durable-functions";

/** Runtime statuses of an instance that may still run on its own (a suspended one may be resumed). */
export const ACTIVE_STATUSES: ReadonlySet<string> = new Set([
  "Running",
  "Pending",
  "ContinuedAsNew",
  "Suspended",
]);
/** Runtime statuses of an instance that has ended and will not write anything more by itself. */
export const ENDED_STATUSES: ReadonlySet<string> = new Set(["Completed", "Failed", "Terminated"]);

export type InstanceState =
  { found: false } | { found: true; runtimeStatus: string; output: unknown; customStatus: unknown };

/** How long a record may wait for its instance to appear before it counts as never started. */
export const START_GRACE_MS = 60_000;

/** A finished instance's output as the reason it ended, or `fallback` when it gives none. */
export function reasonText(output: unknown, fallback: string): string {
  return typeof output === "string" && output.trim() !== "" ? output : fallback;
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && /HTTP 404/.test(error.message);
}

/**
 * The instance's runtime status; undefined when it does not exist. Throws when the task hub cannot be
 * read (the caller decides nothing then).
 */
export async function runtimeStatus(client: DurableClient, instanceId: string): Promise<string | undefined> {
  try {
    return String((await client.getStatus(instanceId)).runtimeStatus);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** The instance's state; `{ found: false }` when it does not exist, undefined when the store cannot tell. */
export async function instanceState(
  client: DurableClient,
  instanceId: string,
): Promise<InstanceState | undefined> {
  try {
    const s = await client.getStatus(instanceId);
    return {
      found: true,
      runtimeStatus: String(s.runtimeStatus),
      output: s.output,
      customStatus: s.customStatus,
    };
  } catch (error) {
    if (isNotFound(error)) return { found: false };
    return undefined; // the Durable store is unreachable: decide nothing now
  }
}
