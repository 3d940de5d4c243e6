import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { AGENT_SETTINGS } from "../../customer/agent/settings";
import { SETTING_NAMES } from "../../lib/config/settings";

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
/** Settings the Functions platform itself reads. */
const PLATFORM = /^(FUNCTIONS_|WEBSITE_|APPLICATIONINSIGHTS_)/;

test("the Provider template sets every app setting the code reads, and nothing the code does not read", () => {
  const bicep = read("provider.bicep");
  const block = /appSettings:\s*\[([\s\S]*?)\n\s*\]/.exec(bicep)?.[1] ?? "";
  const set = new Set([...block.matchAll(/name:\s*'([A-Za-z0-9_]+)'/g)].map((m) => m[1] as string));
  const read_ = Object.values(SETTING_NAMES).filter((n) => !LOCAL_ONLY.has(n));
  const missing = read_.filter((n) => !set.has(n));
  const unknown = [...set].filter(
    (n) => !PLATFORM.test(n) && !(Object.values(SETTING_NAMES) as string[]).includes(n),
  );
  assert.deepEqual(missing, [], "settings the code reads but the template does not set");
  assert.deepEqual(unknown, [], "settings the template sets that the code does not read");
  for (const local of LOCAL_ONLY)
    assert.doesNotMatch(bicep, new RegExp(local), `${local} must never be set in Azure`);
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
