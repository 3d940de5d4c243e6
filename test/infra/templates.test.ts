import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { SETTING_NAMES } from "../../lib/config/settings";

// Bicep cannot be compiled on this machine, so these checks read the templates as text.
const infra = path.join(__dirname, "..", "..", "..", "infra");
const read = (file: string) => fs.readFileSync(path.join(infra, file), "utf8");

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
    "providerServicePrincipalObjectId dataReceiver on status",
    "providerServicePrincipalObjectId dataSender on commands",
  ]);
});

test("the Customer template's agent settings are the ones the agent reads", () => {
  const bicep = read("customer.bicep");
  const agent = fs.readFileSync(
    path.join(__dirname, "..", "..", "..", "customer", "functions", "agent.ts"),
    "utf8",
  );
  assert.match(agent, /const CONNECTION = "CUSTOMER_SERVICEBUS"/);
  assert.match(agent, /%COMMAND_QUEUE%/);
  assert.match(agent, /STATUS_QUEUE/);
  for (const name of [
    "CUSTOMER_SERVICEBUS__fullyQualifiedNamespace",
    "CUSTOMER_SERVICEBUS__clientId",
    "COMMAND_QUEUE",
    "STATUS_QUEUE",
  ]) {
    assert.match(bicep, new RegExp(`${name}:`), name);
  }
});
