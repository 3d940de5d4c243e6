/**
 * One registration per Service Bus namespace and queue. Each queue a registration names (its command
 * queue and its status queue) is claimed by a row in the `tenants` table (partition `queueClaim`, row key
 * = the namespace and queue, lower-cased: namespaces are DNS names and Service Bus entity names are
 * case-insensitive). Rows are created with insert semantics, so of two concurrent registrations of the
 * same queue exactly one gets the claim; the other is a 409 naming the holder. A queue is a queue whatever
 * role it plays, so one tenant's status queue cannot be another's command queue either.
 *
 * A claim whose holder no longer names that queue (a writer that crashed between the claim and its
 * registration, a delete that stopped halfway) is stale; it is taken over once it is older than
 * `STALE_CLAIM_MS`, which leaves a registration in progress time to finish.
 */
import type { TableClient } from "@azure/data-tables";
import { statusCodeOf } from "../storage/tables";
import type { TenantRegistration } from "./model";

const CLAIM_PARTITION = "queueClaim";
export const STALE_CLAIM_MS = 60_000;

export interface QueueRef {
  namespace: string;
  queue: string;
}

interface ClaimEntity {
  partitionKey: string;
  rowKey: string;
  tenant: string;
  namespace: string;
  queue: string;
  claimedAt: string;
}

export class QueueTakenError extends Error {
  constructor(
    readonly holder: string,
    readonly ref: QueueRef,
  ) {
    super(
      `Queue "${ref.queue}" of Service Bus namespace "${ref.namespace}" is already registered to tenant "${holder}".`,
    );
    this.name = "QueueTakenError";
  }
}

/** The queues a registration uses. */
export function queuesOf(r: Pick<TenantRegistration, "serviceBus">): QueueRef[] {
  const { namespace, commandQueue, statusQueue } = r.serviceBus;
  return [
    { namespace, queue: commandQueue },
    { namespace, queue: statusQueue },
  ];
}

export function claimKey(ref: QueueRef): string {
  // Row keys may not hold "/", "\", "#" or "?"; queue names may hold "/".
  return encodeURIComponent(`${ref.namespace.toLowerCase()}|${ref.queue.toLowerCase()}`);
}

const sameKeys = (a: QueueRef[], b: QueueRef) => a.some((r) => claimKey(r) === claimKey(b));

export class QueueClaims {
  constructor(
    private readonly client: TableClient,
    private readonly holderUses: (holder: string, ref: QueueRef) => Promise<boolean>,
    private readonly now: () => Date,
  ) {}

  /**
   * Claims each queue for `tenant`. Returns the claims this call created (to release if the registration
   * is not written after all). A queue held by another tenant is a QueueTakenError; nothing is kept then.
   */
  async claim(tenant: string, refs: QueueRef[]): Promise<QueueRef[]> {
    const created: QueueRef[] = [];
    try {
      for (const ref of refs) if (await this.claimOne(tenant, ref)) created.push(ref);
    } catch (error) {
      await this.release(tenant, created);
      throw error;
    }
    return created;
  }

  /** Releases the tenant's claims on these queues (claims held by someone else are left alone). */
  async release(tenant: string, refs: QueueRef[]): Promise<void> {
    for (const ref of refs) {
      const row = await this.read(ref);
      if (!row || row.tenant !== tenant) continue;
      try {
        await this.client.deleteEntity(CLAIM_PARTITION, claimKey(ref), { etag: row.etag });
      } catch (error) {
        const status = statusCodeOf(error);
        if (status !== 404 && status !== 412) throw error;
      }
    }
  }

  /** Releases what `previous` claimed and `next` no longer uses. */
  async releaseUnused(tenant: string, previous: QueueRef[], next: QueueRef[]): Promise<void> {
    await this.release(
      tenant,
      previous.filter((r) => !sameKeys(next, r)),
    );
  }

  private async read(ref: QueueRef): Promise<(ClaimEntity & { etag: string }) | undefined> {
    try {
      const row = await this.client.getEntity<ClaimEntity>(CLAIM_PARTITION, claimKey(ref));
      return { ...row, etag: row.etag };
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** True when this call created the claim, false when the tenant already held it. */
  private async claimOne(tenant: string, ref: QueueRef): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const entity: ClaimEntity = {
        partitionKey: CLAIM_PARTITION,
        rowKey: claimKey(ref),
        tenant,
        namespace: ref.namespace.toLowerCase(),
        queue: ref.queue,
        claimedAt: this.now().toISOString(),
      };
      try {
        await this.client.createEntity(entity);
        return true;
      } catch (error) {
        if (statusCodeOf(error) !== 409) throw error;
      }
      const row = await this.read(ref);
      if (!row) continue; // released meanwhile: try again
      if (row.tenant === tenant) return false;
      const age = this.now().getTime() - Date.parse(row.claimedAt);
      if (!(age > STALE_CLAIM_MS) || (await this.holderUses(row.tenant, ref))) {
        throw new QueueTakenError(row.tenant, ref);
      }
      try {
        await this.client.deleteEntity(CLAIM_PARTITION, claimKey(ref), { etag: row.etag });
      } catch (error) {
        const status = statusCodeOf(error);
        if (status !== 404 && status !== 412) throw error;
      }
    }
    throw new Error(
      `Could not claim queue "${ref.queue}" of "${ref.namespace}": too many concurrent writers.`,
    );
  }
}
