/**
 * A Service Bus connection named by an app setting, the way Functions bindings name them: either the
 * setting holds a connection string, or `<name>__fullyQualifiedNamespace` (+ `<name>__clientId` for a
 * user-assigned managed identity) selects identity-based access. `<name>__customEndpointAddress` points
 * the client at a local emulator during development.
 */
import { ServiceBusClient } from "@azure/service-bus";
import { ConfigurationError } from "../config/settings";
import { appIdentityCredential } from "../credentials/app-identity";
import { CLIENT_OPTIONS } from "./channel";

export function serviceBusClientFromSetting(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): ServiceBusClient {
  const direct = env[name];
  if (direct && /Endpoint=/i.test(direct)) return new ServiceBusClient(direct, CLIENT_OPTIONS);
  const fqdn = env[`${name}__fullyQualifiedNamespace`];
  if (!fqdn) {
    throw new ConfigurationError(
      name,
      `set ${name} (a connection string) or ${name}__fullyQualifiedNamespace (identity-based)`,
    );
  }
  const clientId = env[`${name}__clientId`];
  const credential = appIdentityCredential(clientId);
  const customEndpointAddress = env[`${name}__customEndpointAddress`];
  return new ServiceBusClient(fqdn, credential, {
    ...CLIENT_OPTIONS,
    ...(customEndpointAddress ? { customEndpointAddress } : {}),
  });
}
