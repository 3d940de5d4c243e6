/**
 * Rows exactly as release 0.1.0 (fb52088) wrote them, column for column: its stores' toRow / toHeaderRow /
 * toTenantRow / toEntity / recordVerify (`git show fb52088:lib/deployments/ledger.ts` etc.). No
 * `schemaVersion` column: 0.1.0 rows are version 1 by its absence. Written with a raw TableClient, so the
 * tests that read them back go through no code of today's writers.
 */
import type { TableClient } from "@azure/data-tables";

async function put(client: TableClient, entity: { partitionKey: string; rowKey: string }): Promise<void> {
  await client.createTable().catch(() => undefined); // 409 when it exists
  await client.upsertEntity(entity, "Replace");
}

export const OLD_AT = "2026-01-05T10:00:00.000Z";
export const OLD_DONE = "2026-01-05T10:05:00.000Z";

/** A completed (Succeeded) deployment attempt as 0.1.0's ledger wrote it, and its index row. */
export function oldDeploymentRecord(tenant: string, id: string) {
  return {
    id,
    tenant,
    attempt: 1,
    instanceId: `deploy:${tenant}:${id}:1`,
    executionKey: `deploy:${tenant}:${id}:1@${OLD_AT}`,
    phase: "Completed",
    progress: 100,
    outcome: "Succeeded",
    message: "done",
    specDigest: "sha256:0123456789abcdef",
    requestDigest: "sha256:fedcba9876543210",
    requestedAt: OLD_AT,
    updatedAt: OLD_DONE,
    completedAt: OLD_DONE,
    lastStatus: { state: "Succeeded", progress: 100, message: "done", sequence: 4, reportedAt: OLD_DONE },
    timeline: [
      { at: OLD_AT, source: "provider", event: "Requested" },
      { at: OLD_AT, source: "provider", event: "Sent" },
      {
        at: OLD_DONE,
        source: "agent",
        event: "Succeeded",
        progress: 100,
        message: "done",
        sequence: 4,
        reportedAt: OLD_DONE,
      },
      { at: OLD_DONE, source: "provider", event: "Succeeded" },
    ],
  };
}

export async function writeOldDeployment(client: TableClient, tenant: string, id: string): Promise<void> {
  const record = oldDeploymentRecord(tenant, id);
  await put(client, {
    partitionKey: tenant,
    rowKey: `${id}~0001`,
    json: JSON.stringify(record),
    phase: record.phase,
    outcome: record.outcome,
  } as { partitionKey: string; rowKey: string });
  await put(client, { partitionKey: "~index", rowKey: id, tenant, latestAttempt: 1 } as {
    partitionKey: string;
    rowKey: string;
  });
}

/** A registration as 0.1.0's registry wrote it (flattened columns, labels and windows as JSON). */
export async function writeOldTenant(
  client: TableClient,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await put(client, {
    partitionKey: "tenant",
    rowKey: name,
    directoryId: "c0000000-0000-4000-8000-0000000000aa",
    displayName: "Old Tenant",
    namespace: `${name}.servicebus.localhost`,
    commandQueue: "commands",
    statusQueue: "status",
    authMode: "sas",
    authSetting: `${name.toUpperCase()}_SAS`,
    state: "active",
    maxConcurrentDeployments: 5,
    acceptanceTimeoutSeconds: 120,
    completionTimeoutSeconds: 3600,
    labels: JSON.stringify({ ring: "canary" }),
    maintenanceWindows: JSON.stringify([{ cron: "0 2 * * 6", durationMinutes: 120, timeZone: "UTC" }]),
    createdAt: OLD_AT,
    updatedAt: OLD_AT,
    ...extra,
  } as { partitionKey: string; rowKey: string });
}

/** A finished (Succeeded) one-wave rollout as 0.1.0's rollout store wrote it: header and tenant rows. */
export function oldRolloutRecord(id: string, tenants: readonly string[]) {
  return {
    id,
    state: "Succeeded",
    options: { maxConcurrency: 1, maxErrors: 0, bakeSeconds: 0, approval: "none" },
    waves: [{ name: "all", size: tenants.length, state: "Completed" }],
    currentWave: 0,
    control: {},
    requestDigest: "sha256:00aa",
    createdAt: OLD_AT,
    updatedAt: OLD_DONE,
    completedAt: OLD_DONE,
  };
}

export async function writeOldRollout(
  client: TableClient,
  id: string,
  tenants: readonly string[],
  spec: Record<string, unknown> = { template: "web", version: "1.0.0" },
): Promise<void> {
  const record = oldRolloutRecord(id, tenants);
  for (const tenant of tenants)
    await put(client, {
      partitionKey: id,
      rowKey: `t|${tenant}`,
      tenant,
      wave: 0,
      phase: "Completed",
      deploymentId: `${id}-${tenant}`,
      attempt: 1,
      outcome: "Succeeded",
      failed: false,
      updatedAt: OLD_DONE,
    } as { partitionKey: string; rowKey: string });
  await put(client, {
    partitionKey: id,
    rowKey: "_",
    json: JSON.stringify(record),
    spec: JSON.stringify(spec),
    state: record.state,
    createdAt: record.createdAt,
  } as { partitionKey: string; rowKey: string });
}

/** A connectivity check as 0.1.0's tenant health store wrote it. */
export async function writeOldVerify(client: TableClient, tenant: string): Promise<void> {
  await put(client, {
    partitionKey: "verify",
    rowKey: tenant,
    json: JSON.stringify({ at: OLD_AT, ok: true, latencyMs: 42 }),
  } as { partitionKey: string; rowKey: string });
}
