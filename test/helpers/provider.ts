/**
 * App settings for the Provider on the dev host in local mode: Azurite for tables, each emulator namespace
 * `n` as `n.servicebus.localhost` with its SAS connection string in the setting `TENANT_N_SAS`, and pump timings
 * short enough for tests. `extra` adds or overrides settings.
 */
import type { RunningNamespace } from "../../dev/servicebus-emulator";

export function localProviderSettings(
  storageConnectionString: string,
  namespaces: readonly Pick<RunningNamespace, "name" | "port" | "connectionString">[],
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AzureWebJobsStorage: storageConnectionString,
    DEV_LOCAL_MODE: "true",
    SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: ".servicebus.localhost",
    DEV_SERVICEBUS_ENDPOINTS: namespaces
      .map((ns) => `${ns.name}.servicebus.localhost=sb://localhost:${ns.port}`)
      .join(","),
    ...Object.fromEntries(
      namespaces.map((ns) => [`TENANT_${ns.name.toUpperCase()}_SAS`, ns.connectionString]),
    ),
    STATUS_POLL_WAIT_MS: "300",
    PUMP_REENSURE_SECONDS: "2",
    ...extra,
  };
}
