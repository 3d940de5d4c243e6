import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { RunningIssuer, startTokenIssuer } from "../../../dev/identity/issuer";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { loadSettings } from "../../../lib/config/settings";
import { CustomerConnections } from "../../../lib/identity/connection";
import type { AuthConfig, TenantRegistration } from "../../../lib/tenants/model";
import { testRegistration } from "../../helpers/tenants";
import { failsWith, FAST_RETRIES, namespaceConfig, startEmulator } from "../../helpers/servicebus";

/** Table Storage for settings that need one (Azurite's well-known form). */
const AZURITE = "UseDevelopmentStorage=true";

// The production credential code (lib/identity) against a local Entra issuer over HTTPS, and its tokens
// against the emulator's RBAC: a token for directory A works in A's namespace and nowhere else.
const PROVIDER_DIR = "90000000-0000-4000-8000-000000000000";
const DIR_A = "a0000000-0000-4000-8000-00000000000a";
const DIR_B = "b0000000-0000-4000-8000-00000000000b";
const DIR_UNCONSENTED = "c0000000-0000-4000-8000-00000000000c";
const APP = "11111111-0000-4000-8000-000000000001";
const MI = {
  clientId: "22222222-0000-4000-8000-000000000002",
  objectId: "33333333-0000-4000-8000-000000000003",
};
const SP_A = "44444444-0000-4000-8000-00000000000a";
const SP_B = "44444444-0000-4000-8000-00000000000b";

let issuer: RunningIssuer;
let emulator: RunningEmulator;
let connections: CustomerConnections;

function reg(name: string, directoryId: string, auth: AuthConfig): TenantRegistration {
  return testRegistration(name, directoryId, auth, `${name}.servicebus.localhost`);
}

function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()) as Record<
    string,
    unknown
  >;
}

before(async () => {
  issuer = await startTokenIssuer(
    {
      applications: [
        {
          clientId: APP,
          homeTenantId: PROVIDER_DIR,
          secrets: ["right-secret"],
          federatedSubjects: [MI.objectId],
        },
      ],
      servicePrincipals: [
        { tenantId: DIR_A, clientId: APP, objectId: SP_A },
        { tenantId: DIR_B, clientId: APP, objectId: SP_B },
      ],
      managedIdentities: [{ ...MI, tenantId: PROVIDER_DIR }],
    },
    { certDir: process.env.DEV_CERT_DIR as string },
  );
  // ManagedIdentityCredential reads the App Service protocol settings when it is created.
  process.env.IDENTITY_ENDPOINT = issuer.identityEndpoint;
  process.env.IDENTITY_HEADER = issuer.identityHeader;
  const entra = (directory: string, principal: string) => ({
    TlsPort: 0,
    Entra: {
      DirectoryId: directory,
      IssuerPublicKeys: [issuer.publicKeyPem],
      RoleAssignments: [{ PrincipalId: principal, Role: "Azure Service Bus Data Sender", Queue: "commands" }],
    },
  });
  emulator = await startEmulator([
    namespaceConfig("alpha", [{ name: "commands" }], {
      Fqdn: "alpha.servicebus.localhost",
      ...entra(DIR_A, SP_A),
    }),
    namespaceConfig("bravo", [{ name: "commands" }], {
      Fqdn: "bravo.servicebus.localhost",
      ...entra(DIR_B, SP_B),
    }),
  ]);
  const settings = loadSettings({
    AzureWebJobsStorage: AZURITE,
    DEV_LOCAL_MODE: "true",
    SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: ".servicebus.localhost",
    DEV_SERVICEBUS_ENDPOINTS: emulator.namespaces
      .map((n) => `${n.name}.servicebus.localhost=${n.tlsEndpoint}`)
      .join(","),
    PROVIDER_APP_CLIENT_ID: APP,
    PROVIDER_MANAGED_IDENTITY_CLIENT_ID: MI.clientId,
    AZURE_AUTHORITY_HOST: issuer.authorityHost,
  });
  connections = new CustomerConnections(settings, {
    ...process.env,
    TENANT_APP_SECRET: "right-secret",
    TENANT_WRONG_SECRET: "nope",
  });
});

after(async () => {
  await emulator?.stop();
  await issuer?.stop();
});

test("federated managed identity: a token in each customer directory, as that directory's service principal", async () => {
  const a = await connections
    .credentialFor(reg("alpha", DIR_A, { mode: "federatedManagedIdentity" }))
    .getToken("https://servicebus.azure.net/.default");
  const b = await connections
    .credentialFor(reg("bravo", DIR_B, { mode: "federatedManagedIdentity" }))
    .getToken("https://servicebus.azure.net/.default");
  assert.ok(a && b);
  assert.deepEqual(
    [claims(a.token).tid, claims(a.token).oid, claims(a.token).aud],
    [DIR_A, SP_A, "https://servicebus.azure.net"],
  );
  assert.deepEqual([claims(b.token).tid, claims(b.token).oid], [DIR_B, SP_B]);
});

test("client secret: the right secret signs in, a wrong one and an unconsented directory are refused", async () => {
  const ok = await connections
    .credentialFor(reg("alpha", DIR_A, { mode: "clientSecret", secretSetting: "TENANT_APP_SECRET" }))
    .getToken("https://servicebus.azure.net/.default");
  assert.equal(claims(ok!.token).tid, DIR_A);
  await assert.rejects(
    connections
      .credentialFor(reg("alpha", DIR_A, { mode: "clientSecret", secretSetting: "TENANT_WRONG_SECRET" }))
      .getToken("https://servicebus.azure.net/.default"),
    /7000215|Invalid client secret/,
  );
  await assert.rejects(
    connections
      .credentialFor(
        reg("ghost", DIR_UNCONSENTED, { mode: "clientSecret", secretSetting: "TENANT_APP_SECRET" }),
      )
      .getToken("https://servicebus.azure.net/.default"),
    /700016|admin consent/,
  );
});

test("a directory's credential works in its own namespace and is refused in the other directory's", async () => {
  const alpha = reg("alpha", DIR_A, { mode: "federatedManagedIdentity" });
  const bravo = reg("bravo", DIR_B, { mode: "federatedManagedIdentity" });
  const own = connections.resolve(alpha).connect();
  assert.ok("fullyQualifiedNamespace" in own);
  const good = new ServiceBusClient(own.fullyQualifiedNamespace, own.credential, {
    ...FAST_RETRIES,
    customEndpointAddress: own.customEndpointAddress,
  });
  await good.createSender("commands").sendMessages({ body: "from the provider, in alpha's directory" });
  await good.close();
  // Alpha's credential pointed at bravo's namespace: the token's tid is alpha's, so bravo refuses it.
  const bravoConn = connections.resolve(bravo).connect();
  assert.ok("customEndpointAddress" in bravoConn);
  const crossed = new ServiceBusClient(bravoConn.fullyQualifiedNamespace, own.credential, {
    ...FAST_RETRIES,
    customEndpointAddress: bravoConn.customEndpointAddress,
  });
  await assert.rejects(
    crossed.createSender("commands").sendMessages({ body: 1 }),
    failsWith("UnauthorizedAccess"),
  );
  await crossed.close();
});

test("with a signing key file, a restarted issuer signs with the same key (the emulator keeps trusting it)", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "issuer-key-"));
  const config = { applications: [], servicePrincipals: [] };
  const certDir = process.env.DEV_CERT_DIR ?? path.join(dir, "certs");
  const signingKeyFile = path.join(dir, "key.pem");
  try {
    const first = await startTokenIssuer(config, { certDir, signingKeyFile, identityHeader: "h" });
    await first.stop();
    const second = await startTokenIssuer(config, { certDir, signingKeyFile, identityHeader: "h" });
    await second.stop();
    assert.equal(second.publicKeyPem, first.publicKeyPem);
    assert.equal(second.identityHeader, "h");
    assert.equal(fs.statSync(signingKeyFile).mode & 0o077, 0, "the key file is private");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
