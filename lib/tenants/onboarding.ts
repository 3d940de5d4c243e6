/**
 * What a customer's administrator runs to onboard: admin consent for the Provider's multi-tenant app
 * in their directory, then least-privilege data roles for its service principal: Data Sender on the
 * command queue only, Data Receiver on the status queue only (not namespace-wide Data Owner). For a
 * private tenant, also the approval of the Provider's private endpoint connection to their namespace.
 */
import type { JSONWebKeySet } from "jose";
import { SETTING_NAMES } from "../config/settings";
import type { TenantRegistration } from "./model";
import { type NetworkMode, privateEndpointName } from "./network";

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
  network: NetworkMode;
  /** A private tenant only: the Provider's private endpoint to the namespace and its approval. */
  privateEndpoint?: PrivateEndpointApproval;
}

export interface PrivateEndpointApproval {
  /** The endpoint's name in the Provider's resource group (infra/provider.bicep, `sb-<tenant>`). */
  name: string;
  /**
   * Its full resource id, when the Provider has a private network (PRIVATE_ENDPOINTS_RESOURCE_GROUP_ID
   * set, which the template does in private mode only); never made up otherwise.
   */
  id?: string;
  /**
   * Present when the Provider has no private network (the setting absent: a public-mode Provider), so
   * no endpoint exists to approve: says so, and what the Provider must do first.
   */
  unavailable?: string;
  /**
   * The customer administrator's `az` commands, run as a script after the Provider has created the
   * endpoint: select the namespace's subscription, find the namespace, show its connections, pick the
   * pending one from this endpoint (stopping when there is none), approve it, check it.
   */
  approvalCommands: string[];
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The approval of the Provider's endpoint `name` (resource id `id` when known) on the namespace: only a
 * pending connection from that endpoint (its name, and the Provider's subscription when known) is
 * approved. JMESPath compares text case-sensitively and ARM may case an id's type segments either way
 * (`privateEndpoints`, `privateendpoints`), so only parts known to be lowercase are matched: the
 * endpoint's name (tenant names are lowercase) as the id's last segment, and the subscription id.
 */
export function privateEndpointApproval(
  registration: TenantRegistration,
  privateEndpointsResourceGroupId?: string,
): PrivateEndpointApproval {
  const namespaceName = registration.serviceBus.namespace.split(".")[0] as string;
  const name = privateEndpointName(registration.name);
  const id = privateEndpointsResourceGroupId
    ? `${privateEndpointsResourceGroupId}/providers/Microsoft.Network/privateEndpoints/${name}`
    : undefined;
  const subscription = privateEndpointsResourceGroupId?.split("/")[2]?.toLowerCase();
  const fromProvider = [
    `ends_with(properties.privateEndpoint.id, '/${name}')`,
    ...(subscription ? [`contains(properties.privateEndpoint.id, '/${subscription}/')`] : []),
  ].join(" && ");
  const pending = `properties.privateLinkServiceConnectionState.status=='Pending'`;
  return {
    name,
    ...(id
      ? { id }
      : {
          unavailable: `The Provider has no private network (its ${SETTING_NAMES.privateEndpointsResourceGroupId} is not set: it runs with networkMode=public), so no private endpoint ${name} exists for this tenant and there is nothing to approve yet. The Provider must first deploy infra/provider.bicep with networkMode=private and this tenant in privateCustomers (docs/onboarding.md, "Private network"); the approval commands below apply once it has.`,
        }),
    approvalCommands: [
      `az login --tenant ${registration.directoryId}`,
      `SUBSCRIPTION=<subscription id of ${namespaceName}>`,
      `az account set --subscription "$SUBSCRIPTION"`,
      `RESOURCE_GROUP=<resource group of ${namespaceName}>`,
      `NAMESPACE_ID=$(az servicebus namespace show --resource-group "$RESOURCE_GROUP" --name ${shellQuote(namespaceName)} --query id -o tsv)`,
      `az network private-endpoint-connection list --id "$NAMESPACE_ID" --query "[].{connection:name, status:properties.privateLinkServiceConnectionState.status, endpoint:properties.privateEndpoint.id, request:properties.privateLinkServiceConnectionState.description}" -o table`,
      `CONNECTION_ID=$(az network private-endpoint-connection list --id "$NAMESPACE_ID" --query "[?${fromProvider} && ${pending}].id | [0]" -o tsv)`,
      `[ -n "$CONNECTION_ID" ] || { echo ${shellQuote(`no pending connection from ${name}`)}; exit 1; }`,
      `az network private-endpoint-connection approve --id "$CONNECTION_ID" --description ${shellQuote(`Provider private endpoint for tenant ${registration.name}`)}`,
      `az network private-endpoint-connection show --id "$CONNECTION_ID" --query properties.privateLinkServiceConnectionState.status -o tsv`,
    ],
  };
}

export function onboardingInstructions(
  registration: TenantRegistration,
  appClientId: string,
  authorityHost: string = PUBLIC_AUTHORITY_HOST,
  signingKeys?: JSONWebKeySet,
  privateEndpointsResourceGroupId?: string,
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
    network: registration.network,
    ...(registration.network === "private"
      ? { privateEndpoint: privateEndpointApproval(registration, privateEndpointsResourceGroupId) }
      : {}),
  };
}
