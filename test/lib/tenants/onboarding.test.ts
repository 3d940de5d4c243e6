/**
 * A private tenant's approval commands (lib/tenants/onboarding.ts), as text: nothing is run, and the
 * JMESPath is checked by what it matches on, not by Azure.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { onboardingInstructions, privateEndpointApproval } from "../../../lib/tenants/onboarding";
import { testRegistration } from "../../helpers/tenants";

const SUBSCRIPTION = "0b0b0b0b-1111-4222-8333-444444444444";
const GROUP = `/subscriptions/${SUBSCRIPTION}/resourceGroups/Provider-RG`;
const registration = {
  ...testRegistration(
    "contoso",
    "c0000000-0000-4000-8000-000000000001",
    { mode: "federatedManagedIdentity" },
    "contoso-deploy.servicebus.windows.net",
  ),
  network: "private" as const,
};
const line = (commands: string[], start: string) => commands.findIndex((c) => c.startsWith(start));

test("the approval selects the namespace's subscription before it looks the namespace up", () => {
  const { approvalCommands: c } = privateEndpointApproval(registration, GROUP);
  assert.equal(c[line(c, "SUBSCRIPTION=")], "SUBSCRIPTION=<subscription id of contoso-deploy>");
  const select = c.indexOf('az account set --subscription "$SUBSCRIPTION"');
  assert.ok(select > line(c, "az login "), "after signing in");
  assert.ok(select < line(c, "NAMESPACE_ID="), "before the namespace is looked up");
});

test("an empty connection id stops the script before approve --id", () => {
  const { approvalCommands: c } = privateEndpointApproval(registration, GROUP);
  const guard = c.indexOf(
    `[ -n "$CONNECTION_ID" ] || { echo 'no pending connection from sb-contoso'; exit 1; }`,
  );
  assert.ok(guard > line(c, "CONNECTION_ID="), "after the pick");
  assert.ok(guard < line(c, "az network private-endpoint-connection approve "), "before the approval");
});

test("the pick matches only lowercase parts of the endpoint's id: its name and the Provider's subscription", () => {
  const { approvalCommands: c } = privateEndpointApproval(registration, GROUP);
  const pick = c[line(c, "CONNECTION_ID=")] ?? "";
  // The id's type segments (privateEndpoints / privateendpoints, resourceGroups / resourcegroups) may come
  // back cased either way; JMESPath compares case-sensitively, so they are not part of the match.
  assert.match(pick, /ends_with\(properties\.privateEndpoint\.id, '\/sb-contoso'\)/);
  assert.match(pick, new RegExp(`contains\\(properties\\.privateEndpoint\\.id, '/${SUBSCRIPTION}/'\\)`));
  assert.doesNotMatch(pick, /privateEndpoints\/|subscriptions\/|resourceGroups|Provider-RG/);
  assert.match(pick, /status=='Pending'/);
  // The name it matches is lowercase, as every tenant name is.
  assert.equal(/'\/(sb-[^']+)'/.exec(pick)?.[1], "sb-contoso");
  const upper = privateEndpointApproval(
    registration,
    GROUP.replace(SUBSCRIPTION, SUBSCRIPTION.toUpperCase()),
  );
  assert.match(upper.approvalCommands.join("\n"), new RegExp(`'/${SUBSCRIPTION}/'`));
});

test("with the Provider's private network, the endpoint's exact id and no notice", () => {
  const approval = privateEndpointApproval(registration, GROUP);
  assert.equal(approval.id, `${GROUP}/providers/Microsoft.Network/privateEndpoints/sb-contoso`);
  assert.equal(approval.unavailable, undefined);
});

test("without it (a public Provider), onboarding says so plainly and names no endpoint id", () => {
  const instructions = onboardingInstructions(registration, "11111111-2222-3333-4444-555555555555");
  const approval = instructions.privateEndpoint;
  assert.ok(approval);
  assert.equal(approval.id, undefined, "no id is made up");
  assert.match(approval.unavailable ?? "", /The Provider has no private network/);
  assert.match(approval.unavailable ?? "", /PRIVATE_ENDPOINTS_RESOURCE_GROUP_ID is not set/);
  assert.match(approval.unavailable ?? "", /networkMode=private and this tenant in privateCustomers/);
  assert.match(approval.unavailable ?? "", /sb-contoso/);
  assert.doesNotMatch(approval.approvalCommands.join("\n"), /subscriptions\/|[0-9a-f]{8}-[0-9a-f]{4}-4222/);
  // A public tenant gets no approval at all.
  const publicOne = onboardingInstructions({ ...registration, network: "public" }, "app");
  assert.equal(publicOne.privateEndpoint, undefined);
});
