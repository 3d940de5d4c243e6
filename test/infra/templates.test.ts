import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { AGENT_SETTINGS } from "../../customer/agent/settings";
import { SETTING_DEFAULTS, SETTING_NAMES } from "../../lib/config/settings";
import { ROLES } from "../../lib/http/auth";
import {
  PRIVATE_ENDPOINT_NAME_MAX,
  privateEndpointName,
  SERVICE_BUS_PRIVATE_DNS_ZONE,
} from "../../lib/tenants/network";

// Bicep cannot be compiled on this machine, so these checks read the templates as text.
const infra = path.join(__dirname, "..", "..", "..", "infra");
const read = (file: string) => fs.readFileSync(path.join(infra, file), "utf8");
const customer = path.join(__dirname, "..", "..", "..", "customer");
const readCustomer = (file: string) => fs.readFileSync(path.join(customer, file), "utf8");
/** The keys of the customer template's `agentSettings` output. */
const agentSettingsOutput = (bicep: string) => {
  const block = /output agentSettings object = \{([\s\S]*?)\n\}/.exec(bicep)?.[1] ?? "";
  return [...block.matchAll(/^\s*([A-Za-z0-9_]+):/gm)].map((m) => m[1] as string);
};

/** Settings the code reads that must never be set in Azure. */
const LOCAL_ONLY = new Set<string>([SETTING_NAMES.localMode, SETTING_NAMES.localEndpoints]);
/**
 * Settings the Functions platform itself reads: its own, the host's identity-based storage connection
 * (`AzureWebJobsStorage__*`, which our tables read too) and the host's key storage.
 */
const PLATFORM =
  /^(FUNCTIONS_|WEBSITE_|APPLICATIONINSIGHTS_|AzureWebJobsStorage__|AzureWebJobsSecretStorage)/;
/** Settings the code reads that App Service sets itself; an app setting must never fake them. */
const PLATFORM_PROVIDED = new Set<string>([SETTING_NAMES.platformAuthEnabled]);
/**
 * The Provider template's app settings lists, which the site sets: `var appSettings = [...]` (every mode)
 * and `var privateAppSettings = isPrivate ? [...] : []` (private mode only).
 */
const appSettingsBlock = (bicep: string) =>
  (/^var appSettings = \[([\s\S]*?)^\]/m.exec(bicep)?.[1] ?? "") + privateAppSettingsBlock(bicep);
const privateAppSettingsBlock = (bicep: string) =>
  /^var privateAppSettings = isPrivate \? \[([\s\S]*?)^\] : \[\]$/m.exec(bicep)?.[1] ?? "";
/** The Provider template's app settings by name. */
const providerAppSettings = (bicep: string) => {
  const block = appSettingsBlock(bicep);
  return new Map(
    [...block.matchAll(/\{\s*name:\s*'([A-Za-z0-9_]+)',\s*value:\s*(.*?)\s*\}\s*$/gm)].map(
      (m) => [m[1] as string, m[2] as string] as const,
    ),
  );
};
/** `resource <symbol> '<type>@<version>' = { ... }` blocks of a template, by symbol. */
const resources = (bicep: string) =>
  new Map(
    [...bicep.matchAll(/^resource (\w+) '([^'@]+)@[^']+'( existing)? = \{([\s\S]*?)^\}/gm)].map(
      (m) => [m[1] as string, { type: m[2] as string, body: m[4] as string }] as const,
    ),
  );

test("the Provider template sets each numeric setting to the code's default (SETTING_DEFAULTS)", () => {
  const settings = providerAppSettings(read("provider.bicep"));
  for (const [key, value] of Object.entries(SETTING_DEFAULTS)) {
    const name = SETTING_NAMES[key as keyof typeof SETTING_DEFAULTS];
    assert.equal(settings.get(name), `'${value}'`, name);
  }
});

test("the Provider template sets every app setting the code reads, and nothing the code does not read", () => {
  const bicep = read("provider.bicep");
  const block = appSettingsBlock(bicep);
  const set = new Set([...block.matchAll(/name:\s*'([A-Za-z0-9_]+)'/g)].map((m) => m[1] as string));
  const read_ = Object.values(SETTING_NAMES).filter((n) => !LOCAL_ONLY.has(n) && !PLATFORM_PROVIDED.has(n));
  // A connection the code reads is set when its identity-based `<name>__<part>` settings are.
  const missing = read_.filter((n) => !set.has(n) && ![...set].some((s) => s.startsWith(`${n}__`)));
  const unknown = [...set].filter(
    (n) => !PLATFORM.test(n) && !(Object.values(SETTING_NAMES) as string[]).includes(n),
  );
  assert.deepEqual(missing, [], "settings the code reads but the template does not set");
  assert.deepEqual(unknown, [], "settings the template sets that the code does not read");
  for (const local of LOCAL_ONLY)
    assert.doesNotMatch(bicep, new RegExp(local), `${local} must never be set in Azure`);
  for (const platform of PLATFORM_PROVIDED)
    assert.ok(!set.has(platform), `${platform} is the platform's to set, never an app setting`);
});

test("the Provider's API is behind App Service Authentication (Entra ID, 401 without a token) with role checks always on", () => {
  const bicep = read("provider.bicep");
  const auth = [...resources(bicep).values()].find(
    (r) => r.type === "Microsoft.Web/sites/config" && /name:\s*'authsettingsV2'/.test(r.body),
  );
  assert.ok(auth, "a Microsoft.Web/sites/config authsettingsV2 resource");
  assert.match(auth.body, /parent:\s*functionApp/);
  assert.match(auth.body, /platform:\s*\{\s*enabled:\s*true\s*\}/);
  assert.match(auth.body, /requireAuthentication:\s*true/);
  assert.match(auth.body, /unauthenticatedClientAction:\s*'Return401'/);
  assert.match(auth.body, /azureActiveDirectory:\s*\{\s*enabled:\s*true/);
  assert.match(auth.body, /clientId:\s*apiApp\.appId/);
  // Role checks are not a parameter an operator could leave off.
  assert.equal(providerAppSettings(bicep).get(SETTING_NAMES.requireRoles), "'true'");
  assert.doesNotMatch(bicep, /param requireRoles/);
});

test("the API's app roles are declared as code and are exactly the roles the code checks", () => {
  const bicep = read("provider.bicep");
  const app = resources(bicep).get("apiApp");
  assert.equal(app?.type, "Microsoft.Graph/applications");
  assert.match(app!.body, /appRoles:\s*\[\s*for role in apiRoles:/);
  assert.match(app!.body, /value:\s*role\.value/);
  assert.match(app!.body, /signInAudience:\s*'AzureADMyOrg'/);
  const list = /^var apiRoles = \[([\s\S]*?)^\]/m.exec(bicep)?.[1] ?? "";
  const declared = [...list.matchAll(/value:\s*'([^']+)'/g)].map((m) => m[1]);
  assert.deepEqual(declared, Object.values(ROLES));
  const sp = resources(bicep).get("apiServicePrincipal");
  assert.match(sp?.body ?? "", /appRoleAssignmentRequired:\s*true/);
});

test("the Provider holds no shared keys: identity-based storage without account keys, Entra-only telemetry, host keys in Key Vault, no basic publishing", () => {
  const bicep = read("provider.bicep");
  assert.doesNotMatch(bicep, /listKeys\(|AccountKey=|listKeys|InstrumentationKey=/);
  const r = resources(bicep);
  assert.match(r.get("storage")!.body, /allowSharedKeyAccess:\s*false/);
  assert.match(r.get("insights")!.body, /DisableLocalAuth:\s*true/);
  assert.match(r.get("vault")!.body, /enableRbacAuthorization:\s*true/);
  const settings = providerAppSettings(bicep);
  assert.ok(!settings.has("AzureWebJobsStorage"), "no connection string");
  assert.equal(settings.get("AzureWebJobsStorage__accountName"), "storage.name");
  assert.equal(settings.get("AzureWebJobsStorage__credential"), "'managedidentity'");
  assert.equal(settings.get("AzureWebJobsStorage__clientId"), "identity.properties.clientId");
  assert.equal(settings.get("AzureWebJobsSecretStorageType"), "'keyvault'");
  assert.equal(settings.get("AzureWebJobsSecretStorageKeyVaultUri"), "vault.properties.vaultUri");
  assert.equal(settings.get("AzureWebJobsSecretStorageKeyVaultClientId"), "identity.properties.clientId");
  assert.match(settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING") ?? "", /Authorization=AAD/);
  const policies = [...r.values()]
    .filter((x) => x.type === "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    .map((x) => `${/name:\s*'(\w+)'/.exec(x.body)?.[1]} ${/allow:\s*(\w+)/.exec(x.body)?.[1]}`);
  assert.deepEqual(policies.sort(), ["ftp false", "scm false"]);
  // The app's identity gets the data roles it needs, each on its own resource, nothing wider.
  const assignments = [
    ...bicep.matchAll(
      /resource \w+ 'Microsoft\.Authorization\/roleAssignments@[^']+' = \{\s*scope:\s*(\w+)[\s\S]*?roleDefinitions', (\w+)\)[\s\S]*?principalId:\s*([\w.]+)/g,
    ),
  ].map((m) => `${m[3]} ${m[2]} on ${m[1]}`);
  assert.deepEqual(assignments.sort(), [
    // Sign with the command-signing key (never read it): on that key alone.
    "identity.properties.principalId keyVaultCryptoUser on commandSigningKey",
    "identity.properties.principalId keyVaultSecretsOfficer on vault",
    "identity.properties.principalId monitoringMetricsPublisher on insights",
    "identity.properties.principalId storageBlobDataOwner on storage",
    "identity.properties.principalId storageQueueDataContributor on storage",
    "identity.properties.principalId storageTableDataContributor on storage",
  ]);
  const roles: Record<string, string> = {
    storageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    storageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    storageTableDataContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    monitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
    keyVaultSecretsOfficer: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  };
  for (const [name, id] of Object.entries(roles)) assert.match(bicep, new RegExp(`var ${name} = '${id}'`));
});

test("the Provider signs in with a federated managed identity, not a secret", () => {
  const bicep = read("provider.bicep");
  assert.match(bicep, /federatedIdentityCredentials/);
  assert.match(bicep, /api:\/\/AzureADTokenExchange/);
  assert.doesNotMatch(bicep, /clientSecret|passwordCredentials/i);
});

test("the Customer template grants least privilege per queue and disables local (SAS) auth", () => {
  const bicep = read("customer.bicep");
  assert.match(bicep, /disableLocalAuth:\s*true/);
  const dataOwner = "090c5cfd-751d-490a-894a-3ce6f1109419";
  assert.doesNotMatch(bicep, new RegExp(dataOwner), "no namespace-wide Data Owner");
  const assignments = [
    ...bicep.matchAll(
      /resource \w+ 'Microsoft\.Authorization\/roleAssignments@[^']+' = \{\s*scope:\s*(\w+)[\s\S]*?roleDefinitions', (\w+)\)[\s\S]*?principalId:\s*([\w.]+)/g,
    ),
  ].map((m) => `${m[3]} ${m[2]} on ${m[1]}`);
  assert.deepEqual(assignments.sort(), [
    "agentIdentity.properties.principalId dataReceiver on commands",
    "agentIdentity.properties.principalId dataSender on status",
    // Signing its receipts with the customer's own key (sign and read the public part), that key only.
    "agentIdentity.properties.principalId keyVaultCryptoUser on receiptSigningKey",
    // The agent's own storage (Functions host state and the Durable task hub), nothing wider.
    "agentIdentity.properties.principalId storageBlobDataOwner on agentStorage",
    "agentIdentity.properties.principalId storageQueueDataContributor on agentStorage",
    "agentIdentity.properties.principalId storageTableDataContributor on agentStorage",
    "providerServicePrincipalObjectId dataReceiver on status",
    "providerServicePrincipalObjectId dataSender on commands",
  ]);
  const roles: Record<string, string> = {
    storageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    storageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    storageTableDataContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    keyVaultCryptoUser: "12338af0-0e69-4776-bea7-57ae8d297424",
  };
  for (const [name, id] of Object.entries(roles)) assert.match(bicep, new RegExp(`var ${name} = '${id}'`));
});

test("the Customer template's agent settings are the ones the agent reads", () => {
  const bicep = read("customer.bicep");
  const agent = readCustomer(path.join("functions", "agent.ts"));
  assert.match(agent, /serviceBusClientFromSetting\(AGENT_SETTINGS\.serviceBus\)/);
  assert.match(agent, /process\.env\[AGENT_SETTINGS\.commandQueue\]/);
  assert.match(agent, /AGENT_SETTINGS\.statusQueue/);
  const output = agentSettingsOutput(bicep);
  // Every setting the agent depends on is set (a connection by its identity-based `__` parts), nothing else.
  const bases = [...new Set(output.map((k) => k.split("__")[0]))].sort();
  assert.deepEqual(bases, Object.values(AGENT_SETTINGS).sort());
  for (const name of [
    "CUSTOMER_SERVICEBUS__fullyQualifiedNamespace",
    "CUSTOMER_SERVICEBUS__clientId",
    "COMMAND_QUEUE",
    "STATUS_QUEUE",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__credential",
    "AGENT_TASK_HUB",
  ])
    assert.ok(output.includes(name), name);
});

test("the agent is a Durable Functions app whose task hub is named by a setting, locally and in Azure", () => {
  const host = JSON.parse(readCustomer("host.json")) as {
    extensions: { durableTask?: { hubName?: string } };
  };
  assert.equal(host.extensions.durableTask?.hubName, `%${AGENT_SETTINGS.taskHub}%`);
  const local = JSON.parse(readCustomer("local.settings.json")) as { Values: Record<string, string> };
  for (const name of [AGENT_SETTINGS.storage, AGENT_SETTINGS.taskHub, AGENT_SETTINGS.commandQueue])
    assert.ok(local.Values[name], `local.settings.json sets ${name} for func start`);
  const bicep = read("customer.bicep");
  assert.match(bicep, /param taskHubName string = '[A-Za-z][A-Za-z0-9]{2,44}'/);
  assert.match(bicep, /AGENT_TASK_HUB: taskHubName/);
});

test("the agent's storage is reached with its managed identity only: no account keys, data roles on that account", () => {
  const bicep = read("customer.bicep");
  assert.match(bicep, /resource agentStorage 'Microsoft\.Storage\/storageAccounts@/);
  assert.match(bicep, /allowSharedKeyAccess:\s*false/);
  assert.doesNotMatch(bicep, /listKeys|AccountKey=/, "no key-based connection string");
  assert.match(bicep, /AzureWebJobsStorage__accountName: agentStorage\.name/);
  assert.match(bicep, /AzureWebJobsStorage__clientId: agentIdentity\.properties\.clientId/);
  assert.match(bicep, /AzureWebJobsStorage__credential: 'managedidentity'/);
});

test("commands are signed with a Key Vault key the app can sign with but not export, and its public keys are public", () => {
  const bicep = read("provider.bicep");
  assert.match(
    bicep,
    /resource commandSigningKey 'Microsoft\.KeyVault\/vaults\/keys@[^']+' = \{[\s\S]*?kty: 'EC'[\s\S]*?curveName: 'P-256'/,
  );
  assert.match(
    bicep,
    /name: 'COMMAND_SIGNING_KEYS', value: commandSigningKey\.properties\.keyUriWithVersion/,
  );
  assert.match(bicep, /excludedPaths: \['\/api\/\.well-known\/jwks\.json'\]/);
  assert.doesNotMatch(bicep, /'export'/);
  // The customer's agent pins the keys and its own tenant name.
  const customer = read("customer.bicep");
  assert.match(customer, /PROVIDER_SIGNING_KEYS: providerSigningKeys/);
  assert.match(customer, /AGENT_TENANT: providerTenantName/);
});

/** Every `resource` and `module` block, conditional or not, by symbol: its type, its condition and its body. */
const blocks = (bicep: string) =>
  new Map(
    [
      ...bicep.matchAll(
        /^(?:resource|module) (\w+) '([^'@]+)(?:@[^']+)?'(?: existing)? = (?:\[\s*for [^:]+:\s*)?(?:if \((.*)\) )?\{([\s\S]*?)^\}/gm,
      ),
    ].map(
      (m) => [m[1] as string, { type: m[2] as string, condition: m[3] ?? "", body: m[4] as string }] as const,
    ),
  );
const param = (bicep: string, name: string) =>
  new RegExp(`^(?:@[^\\n]*\\n)*param ${name} (\\w+)(?: = (.*))?$`, "m").exec(bicep);
const allowed = (bicep: string, name: string) =>
  new RegExp(`@allowed\\(\\[([^\\]]*)\\]\\)\\nparam ${name} `).exec(bicep)?.[1];

test("the Customer template's network mode: public by default, private is a Premium namespace closed to the internet with no IP rules", () => {
  const bicep = read("customer.bicep");
  assert.equal(param(bicep, "networkMode")?.[2], "'public'");
  assert.equal(allowed(bicep, "networkMode"), "'public', 'private'");
  assert.match(bicep, /^var isPrivate = networkMode == 'private'$/m);
  const ns = blocks(bicep).get("namespace");
  assert.equal(ns?.condition, "", "the namespace is there in both modes");
  // Public mode is what it was: Standard, local auth off, TLS 1.2, public access on.
  assert.match(
    ns!.body,
    /sku: isPrivate \? \{ name: 'Premium', tier: 'Premium', capacity: premiumMessagingUnits \} : \{ name: 'Standard', tier: 'Standard' \}/,
  );
  assert.match(ns!.body, /disableLocalAuth: true/);
  assert.match(ns!.body, /minimumTlsVersion: '1\.2'/);
  assert.match(ns!.body, /publicNetworkAccess: isPrivate \? 'Disabled' : 'Enabled'/);
  const rules = blocks(bicep).get("namespaceNetwork");
  assert.equal(rules?.type, "Microsoft.ServiceBus/namespaces/networkRuleSets");
  assert.equal(rules?.condition, "isPrivate");
  assert.match(rules!.body, /parent: namespace/);
  assert.match(rules!.body, /publicNetworkAccess: 'Disabled'/);
  assert.match(rules!.body, /defaultAction: 'Deny'/);
  assert.match(rules!.body, /ipRules: \[\]/);
  assert.match(rules!.body, /virtualNetworkRules: \[\]/);
  assert.match(rules!.body, /trustedServiceAccessEnabled: false/);
  assert.doesNotMatch(bicep, /ipMask/, "no IP rule anywhere");
  // What the Provider creates its endpoint from.
  assert.match(bicep, /^output namespaceResourceId string = namespace\.id$/m);
});

test("the Customer template's agent reaches a private namespace through its own endpoint, approved at creation", () => {
  const bicep = read("customer.bicep");
  assert.equal(param(bicep, "agentPrivateEndpointSubnetId")?.[2], "''");
  assert.match(bicep, /^var agentEndpointWanted = isPrivate && !empty\(agentPrivateEndpointSubnetId\)$/m);
  const endpoint = blocks(bicep).get("agentEndpoint");
  assert.equal(endpoint?.type, "Microsoft.Network/privateEndpoints");
  assert.equal(endpoint?.condition, "agentEndpointWanted");
  // The customer's own endpoint: an automatic connection, not a manual request.
  assert.match(endpoint!.body, /privateLinkServiceConnections: \[/);
  assert.doesNotMatch(endpoint!.body, /manualPrivateLinkServiceConnections/);
  assert.match(endpoint!.body, /privateLinkServiceId: namespace\.id, groupIds: \['namespace'\]/);
  const dns = blocks(bicep).get("agentEndpointDns");
  assert.equal(dns?.type, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups");
  assert.match(dns!.condition, /agentEndpointWanted && !empty\(agentPrivateDnsZoneId\)/);
  assert.match(dns!.body, /privateDnsZoneId: agentPrivateDnsZoneId/);
});

test("the Provider's plan: Linux Consumption in public mode (unchanged); Flex Consumption in private mode, never Elastic Premium", () => {
  const bicep = read("provider.bicep");
  assert.equal(param(bicep, "networkMode")?.[2], "'public'");
  assert.equal(allowed(bicep, "networkMode"), "'public', 'private'");
  // Elastic Premium on Linux needs an Azure Files content share, which takes the account key this
  // storage account does not have (allowSharedKeyAccess: false): not offered, no switch to pick it.
  assert.equal(param(bicep, "privatePlan"), null);
  assert.doesNotMatch(bicep, /ElasticPremium|'EP1'|'elastic'|WEBSITE_CONTENTAZUREFILECONNECTIONSTRING/);
  assert.match(bicep, /^var isFlex = isPrivate$/m);
  const plan = blocks(bicep).get("plan");
  assert.match(
    plan!.body,
    /sku: isFlex \? \{ name: 'FC1', tier: 'FlexConsumption' \} : \{ name: 'Y1', tier: 'Dynamic' \}/,
  );
  assert.match(plan!.body, /reserved: true/, "Linux in every mode");
  const app = blocks(bicep).get("functionApp");
  assert.match(app!.body, /linuxFxVersion: isFlex \? null : 'Node\|22'/, "Node 22 LTS on Y1 too");
  // Flex Consumption: the runtime and the identity-based package storage in functionAppConfig, and the
  // two settings it refuses left out of the app settings. Node 22 LTS: Flex's Node 20 is past its end
  // of life (2026-04-30); the package's engines (>=20.10) admit 22.
  assert.match(app!.body, /functionAppConfig: isFlex \? \{/);
  assert.match(app!.body, /runtime: \{ name: 'node', version: '22' \}/);
  assert.match(
    app!.body,
    /authentication: \{ type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity\.id \}/,
  );
  assert.match(
    bicep,
    /^var flexManagedSettings = \['FUNCTIONS_EXTENSION_VERSION', 'FUNCTIONS_WORKER_RUNTIME'\]$/m,
  );
  assert.match(
    app!.body,
    /appSettings: isFlex \? filter\(siteAppSettings, setting => !contains\(flexManagedSettings, setting\.name\)\) : siteAppSettings/,
  );
  assert.equal(blocks(bicep).get("packageContainer")?.condition, "isFlex");
  // The identity already holds Storage Blob Data Owner on that account (the role assignment test).
  assert.match(app!.body, /value: '\$\{storage\.properties\.primaryEndpoints\.blob\}app-package'/);
});

test("the Provider's private network: integration and private-endpoint subnets, the app integrated (Flex routes all its traffic there)", () => {
  const bicep = read("provider.bicep");
  const vnet = blocks(bicep).get("vnet");
  assert.equal(vnet?.type, "Microsoft.Network/virtualNetworks");
  assert.equal(vnet?.condition, "isPrivate");
  assert.match(vnet!.body, /name: integrationSubnetName[\s\S]*?addressPrefix: integrationSubnetPrefix/);
  assert.match(
    vnet!.body,
    /serviceName: 'Microsoft\.App\/environments'/,
    "the integration subnet is delegated to Flex Consumption's platform",
  );
  assert.match(
    vnet!.body,
    /name: privateEndpointSubnetName[\s\S]*?addressPrefix: privateEndpointSubnetPrefix/,
  );
  // Outbound that is not a private endpoint (Entra ID, storage, public namespaces) leaves through a NAT
  // gateway: a new subnet has no default outbound access.
  assert.match(vnet!.body, /name: integrationSubnetName[\s\S]*?natGateway: \{ id: nat\.id \}/);
  const nat = blocks(bicep).get("nat");
  assert.equal(nat?.type, "Microsoft.Network/natGateways");
  assert.equal(nat?.condition, "isPrivate");
  assert.match(nat!.body, /publicIpAddresses: \[\{ id: natAddress\.id \}\]/);
  assert.equal(blocks(bicep).get("natAddress")?.condition, "isPrivate");
  const app = blocks(bicep).get("functionApp");
  assert.match(
    app!.body,
    /virtualNetworkSubnetId: isPrivate \? resourceId\('Microsoft\.Network\/virtualNetworks\/subnets', vnetName, integrationSubnetName\) : null/,
  );
  // Flex Consumption routes all outbound traffic through the integrated network: no route-all switch.
  assert.doesNotMatch(bicep, /vnetRouteAllEnabled/);
  assert.match(app!.body, /dependsOn: \[vnet, packageContainer\]/);
});

test("the Provider's private DNS zone is privatelink.servicebus.windows.net, linked to its network", () => {
  const bicep = read("provider.bicep");
  assert.match(
    bicep,
    new RegExp(
      `^var serviceBusPrivateDnsZone = '${SERVICE_BUS_PRIVATE_DNS_ZONE.replace(/\./g, "\\.")}'$`,
      "m",
    ),
  );
  const zone = blocks(bicep).get("serviceBusZone");
  assert.equal(zone?.type, "Microsoft.Network/privateDnsZones");
  assert.equal(zone?.condition, "isPrivate");
  assert.match(zone!.body, /name: serviceBusPrivateDnsZone/);
  assert.match(zone!.body, /location: 'global'/);
  const link = blocks(bicep).get("serviceBusZoneLink");
  assert.equal(link?.type, "Microsoft.Network/privateDnsZones/virtualNetworkLinks");
  // Fallback to internet: a public customer's namespace that has any private endpoint CNAMEs into the
  // zone, and without its record here would be NXDOMAIN from the Provider. resolutionPolicy exists from
  // API 2024-06-01 on (an older API version would drop it).
  assert.match(
    bicep,
    /^resource serviceBusZoneLink 'Microsoft\.Network\/privateDnsZones\/virtualNetworkLinks@(\d{4}-\d{2}-\d{2})'/m,
  );
  const linkVersion = /virtualNetworkLinks@(\d{4}-\d{2}-\d{2})'/.exec(bicep)?.[1] ?? "";
  assert.ok(linkVersion >= "2024-06-01", `virtualNetworkLinks API ${linkVersion} has no resolutionPolicy`);
  assert.match(link!.body, /resolutionPolicy: 'NxDomainRedirect'/);
  assert.equal(link?.condition, "isPrivate");
  assert.match(link!.body, /parent: serviceBusZone/);
  assert.match(link!.body, /virtualNetwork: \{ id: vnet\.id \}/);
  assert.match(link!.body, /registrationEnabled: false/);
});

test("the Provider creates one pending private endpoint per private customer, named as the code expects", () => {
  const bicep = read("provider.bicep");
  assert.equal(param(bicep, "privateCustomers")?.[1], "array");
  assert.equal(param(bicep, "privateCustomers")?.[2], "[]");
  assert.match(
    bicep,
    /^module customerEndpoints 'modules\/customer-private-endpoint\.bicep' = \[\n\s*for customer in \(isPrivate \? privateCustomers : \[\]\): \{/m,
  );
  const call = /^module customerEndpoints[\s\S]*?^\]/m.exec(bicep)?.[0] ?? "";
  assert.match(call, /tenant: customer\.tenant/);
  assert.match(call, /namespaceId: customer\.namespaceId/);
  assert.match(
    call,
    /subnetId: resourceId\('Microsoft\.Network\/virtualNetworks\/subnets', vnetName, privateEndpointSubnetName\)/,
  );
  assert.match(call, /privateDnsZoneId: serviceBusZone\.id/);
  assert.match(call, /dependsOn: \[serviceBusZoneLink\]/);

  const module = read(path.join("modules", "customer-private-endpoint.bicep"));
  const endpoint = blocks(module).get("endpoint");
  assert.equal(endpoint?.type, "Microsoft.Network/privateEndpoints");
  // The name the onboarding commands and verify look for (lib/tenants/network.ts).
  assert.match(endpoint!.body, /name: 'sb-\$\{tenant\}'/);
  assert.equal(privateEndpointName("t"), "sb-t");
  const maxTenant = Number(/@maxLength\((\d+)\)\nparam tenant string/.exec(module)?.[1]);
  assert.equal(privateEndpointName("x".repeat(maxTenant)).length, PRIVATE_ENDPOINT_NAME_MAX);
  // Cross-tenant: a manual request the customer approves, never an automatic connection.
  assert.match(endpoint!.body, /manualPrivateLinkServiceConnections: \[/);
  assert.doesNotMatch(module, /\bprivateLinkServiceConnections:/);
  assert.match(endpoint!.body, /privateLinkServiceId: namespaceId/);
  assert.match(endpoint!.body, /groupIds: \['namespace'\]/);
  assert.match(endpoint!.body, /requestMessage: requestMessage/);
  assert.match(endpoint!.body, /subnet: \{ id: subnetId \}/);
  const dns = blocks(module).get("endpointDns");
  assert.equal(dns?.type, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups");
  assert.match(dns!.body, /parent: endpoint/);
  assert.match(dns!.body, /privateDnsZoneId: privateDnsZoneId/);
  // Onboarding names the exact endpoint: its resource group comes from the template, in private mode
  // only (a public Provider has no endpoint, and onboarding says so rather than name one).
  assert.equal(
    providerAppSettings(bicep).get(SETTING_NAMES.privateEndpointsResourceGroupId),
    "resourceGroup().id",
  );
  assert.match(
    privateAppSettingsBlock(bicep),
    /^\s*\{ name: 'PRIVATE_ENDPOINTS_RESOURCE_GROUP_ID', value: resourceGroup\(\)\.id \}\s*$/,
  );
  const everyMode = /^var appSettings = \[([\s\S]*?)^\]/m.exec(bicep)?.[1] ?? "";
  assert.doesNotMatch(everyMode, /PRIVATE_ENDPOINTS_RESOURCE_GROUP_ID/, "not set in public mode");
  assert.match(bicep, /^var siteAppSettings = concat\(appSettings, privateAppSettings\)$/m);
});
