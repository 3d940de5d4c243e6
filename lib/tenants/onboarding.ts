/**
 * What a customer's administrator runs to onboard: admin consent for the Provider's multi-tenant app
 * in their directory, then least-privilege data roles for its service principal: Data Sender on the
 * command queue only, Data Receiver on the status queue only (not namespace-wide Data Owner).
 */
import type { JSONWebKeySet } from "jose";
import type { TenantRegistration } from "./model";

const PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com";

interface OnboardingInstructions {
  tenant: string;
  directoryId: string;
  appClientId: string;
  adminConsentUrl: string;
  roleAssignments: { role: string; queue: string }[];
  commands: string[];
  /**
   * The agent's settings that pin the Provider (infra/customer.bicep parameters `providerTenantName` and
   * `providerSigningKeys`): absent while the Provider signs nothing.
   */
  agentSettings?: { AGENT_TENANT: string; PROVIDER_SIGNING_KEYS: string };
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function onboardingInstructions(
  registration: TenantRegistration,
  appClientId: string,
  authorityHost: string = PUBLIC_AUTHORITY_HOST,
  signingKeys?: JSONWebKeySet,
): OnboardingInstructions {
  const { namespace, commandQueue, statusQueue } = registration.serviceBus;
  const namespaceName = namespace.split(".")[0] as string;
  const consent = new URL(`${authorityHost.replace(/\/+$/, "")}/${registration.directoryId}/adminconsent`);
  consent.searchParams.set("client_id", appClientId);
  const roles = [
    { role: "Azure Service Bus Data Sender", queue: commandQueue, variable: "COMMAND_QUEUE_ID" },
    { role: "Azure Service Bus Data Receiver", queue: statusQueue, variable: "STATUS_QUEUE_ID" },
  ];
  const commands = [
    `az login --tenant ${registration.directoryId}`,
    `RESOURCE_GROUP=<resource group of ${namespaceName}>`,
    `PROVIDER_SP_ID=$(az ad sp show --id ${appClientId} --query id -o tsv)`,
    ...roles.map(
      (r) =>
        `${r.variable}=$(az servicebus queue show --resource-group "$RESOURCE_GROUP" --namespace-name ${shellQuote(namespaceName)} --name ${shellQuote(r.queue)} --query id -o tsv)`,
    ),
    ...roles.map(
      (r) =>
        `az role assignment create --assignee-object-id "$PROVIDER_SP_ID" --assignee-principal-type ServicePrincipal --role ${shellQuote(r.role)} --scope "$${r.variable}"`,
    ),
  ];
  return {
    tenant: registration.name,
    directoryId: registration.directoryId,
    appClientId,
    adminConsentUrl: consent.toString(),
    roleAssignments: roles.map(({ role, queue }) => ({ role, queue })),
    commands,
    ...(signingKeys && signingKeys.keys.length > 0
      ? {
          agentSettings: {
            AGENT_TENANT: registration.name,
            PROVIDER_SIGNING_KEYS: JSON.stringify(signingKeys),
          },
        }
      : {}),
  };
}
