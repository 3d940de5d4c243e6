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
    createdAt: "",
    updatedAt: "",
    etag: "",
  };
}
