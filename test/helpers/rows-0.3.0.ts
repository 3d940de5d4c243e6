/**
 * Rows exactly as release 0.3.0 (9d85e35) wrote them, column for column (`git show v0.3.0:lib/tenants/store.ts`,
 * toEntity), with a raw TableClient so reading them back goes through no code of today's writers.
 */
import type { TableClient } from "@azure/data-tables";

export const AT_0_3_0 = "2026-11-20T09:00:00.000Z";

/** A registration as 0.3.0's registry wrote it: schemaVersion 1, no `network` column. */
export async function writeTenant030(
  client: TableClient,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await client.createTable().catch(() => undefined); // 409 when it exists
  await client.upsertEntity(
    {
      partitionKey: "tenant",
      rowKey: name,
      schemaVersion: 1,
      directoryId: "c0000000-0000-4000-8000-0000000000bb",
      displayName: "Tenant of 0.3.0",
      namespace: `${name}.servicebus.windows.net`,
      commandQueue: "commands",
      statusQueue: "status",
      authMode: "federatedManagedIdentity",
      state: "active",
      maxConcurrentDeployments: 10,
      acceptanceTimeoutSeconds: 120,
      completionTimeoutSeconds: 3600,
      labels: JSON.stringify({ ring: "prod" }),
      maintenanceWindows: JSON.stringify([]),
      createdAt: AT_0_3_0,
      updatedAt: AT_0_3_0,
      ...extra,
    },
    "Replace",
  );
}
