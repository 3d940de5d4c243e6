import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { AGENT_SETTINGS } from "../../customer/agent/settings";
import { SETTING_DEFAULTS, SETTING_NAMES } from "../../lib/config/settings";
import { ROLES } from "../../lib/http/auth";

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
/** The Provider template's app settings by name. */
const providerAppSettings = (bicep: string) => {
  const block = /appSettings:\s*\[([\s\S]*?)\n\s*\]/.exec(bicep)?.[1] ?? "";
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
  const block = /appSettings:\s*\[([\s\S]*?)\n\s*\]/.exec(bicep)?.[1] ?? "";
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
  assert.match(agent, /connection: AGENT_SETTINGS\.serviceBus/);
  assert.match(agent, /queueName: `%\$\{AGENT_SETTINGS\.commandQueue\}%`/);
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
