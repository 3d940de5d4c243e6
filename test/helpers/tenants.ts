/** A complete tenant registration for tests that need one without going through the registry. */
import type { AuthConfig, TenantRegistration } from "../../lib/tenants/model";

export function testRegistration(
  name: string,
  directoryId: string,
  auth: AuthConfig,
  namespace = `${name}.servicebus.windows.net`,
): TenantRegistration {
  return {
    name,
    directoryId,
    serviceBus: { namespace, commandQueue: "commands", statusQueue: "status" },
    auth,
    limits: { maxConcurrentDeployments: 10, acceptanceTimeoutSeconds: 120, completionTimeoutSeconds: 3600 },
    state: "active",
    labels: {},
    maintenanceWindows: [],
    network: "public",
    createdAt: "",
    updatedAt: "",
    etag: "",
  };
}

/**
 * Registers a local-mode tenant through the API: namespace `<tenant>.servicebus.localhost` reached with
 * the SAS in app setting `TENANT_<TENANT>_SAS` (as test/helpers/provider.ts wires the emulator), 201 expected.
 */
export async function registerLocalTenant(
  baseUrl: string,
  tenant: string,
  directoryId: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<void> {
  const res = await fetch(`${baseUrl}/api/tenants/${tenant}`, {
    method: "PUT",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({
      directoryId,
      serviceBus: { namespace: `${tenant}.servicebus.localhost` },
      auth: { mode: "sas", sasSetting: `TENANT_${tenant.toUpperCase()}_SAS` },
      ...extra,
    }),
  });
  if (res.status !== 201) throw new Error(`registering ${tenant}: ${res.status} ${await res.text()}`);
}
