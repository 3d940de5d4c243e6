/**
 * `npm start`: the local stack on one machine. Azurite (Table Storage), the Service Bus emulator with one
 * namespace per simulated customer, a local Entra ID token issuer, the Provider app on the Functions dev
 * host at :7071 with the simulated customers registered, and one customer agent per customer (each its
 * own dev host process, as it would run in the customer's tenant). Contoso is reached with a SAS held in
 * an app setting; Fabrikam the production way: the Provider's managed identity is federated with its
 * multi-tenant app, whose service principal in Fabrikam's directory holds least-privilege roles on a
 * namespace with local auth disabled. State lives under one data folder (`.data/` or DATA_DIR) and
 * survives a restart. Ports can be moved with PORT, AZURITE_PORT, SERVICEBUS_PORT and ISSUER_PORT
 * (0 = any free port).
 */
import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { agentStorageSettings } from "./agent-settings";
import { startAzurite } from "./azurite";
import { ensureDevCertificate } from "./certs";
import { startHost } from "./host";
import { startTokenIssuer } from "./identity/issuer";
import { startServiceBusEmulator } from "./servicebus-emulator";

const LOCAL_SUFFIX = ".servicebus.localhost";
/** Fixed, obviously local ids for the Provider's app and identities, so every run looks the same. */
const PROVIDER = {
  directoryId: "90000000-0000-4000-8000-000000000000",
  appClientId: "00000000-0000-4000-8000-00000000a99d",
  identity: {
    clientId: "00000000-0000-4000-8000-0000000001d1",
    objectId: "00000000-0000-4000-8000-0000000001d2",
  },
};

interface SimulatedCustomer {
  tenant: string;
  directoryId: string;
  displayName: string;
  /** Entra customers: the Provider app's service principal and the agent's managed identity there. */
  entra?: { servicePrincipalId: string; agent: { clientId: string; objectId: string } };
}

const CUSTOMERS: SimulatedCustomer[] = [
  {
    tenant: "contoso",
    directoryId: "c0000000-0000-4000-8000-000000000001",
    displayName: "Contoso (simulated, SAS)",
  },
  {
    tenant: "fabrikam",
    directoryId: "f0000000-0000-4000-8000-000000000002",
    displayName: "Fabrikam (simulated, Entra ID)",
    entra: {
      servicePrincipalId: "f0000000-0000-4000-8000-0000000005b1",
      agent: {
        clientId: "f0000000-0000-4000-8000-00000000a9e1",
        objectId: "f0000000-0000-4000-8000-00000000a9e2",
      },
    },
  },
];

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`${name} must be a port number, got "${raw}"`);
  return n;
}

let stopping = false;

/**
 * Node reads NODE_EXTRA_CA_CERTS only at start, and the in-process Provider host must trust the dev
 * certificate (issuer and TLS AMQP), so the launcher re-runs itself with a bundle of any CA file the user
 * already trusts plus the dev certificate. Returns the child's exit code, or undefined when this process
 * already trusts it.
 */
async function rerunTrusting(certPath: string, certPem: string): Promise<number | undefined> {
  const current = process.env.NODE_EXTRA_CA_CERTS;
  const trusted = current && fs.existsSync(current) ? fs.readFileSync(current, "utf8") : "";
  if (trusted.includes(certPem.trim())) return undefined;
  const bundle = path.join(path.dirname(certPath), "ca-bundle.pem");
  fs.writeFileSync(bundle, `${trusted.trim()}\n${certPem.trim()}\n`.trimStart());
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: bundle },
    stdio: "inherit",
  });
  // A terminal's Ctrl-C reaches the whole process group; a signal sent to this pid alone is passed on.
  const forward = (signal: NodeJS.Signals) => () => {
    if (child.exitCode === null) child.kill(signal);
  };
  process.on("SIGINT", forward("SIGINT"));
  process.on("SIGTERM", forward("SIGTERM"));
  return new Promise((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
}

async function main(): Promise<void> {
  const dataDir = path.resolve(process.env.DATA_DIR ?? ".data");
  const certDir = path.join(dataDir, "certs");
  const cert = await ensureDevCertificate(certDir);
  const rerun = await rerunTrusting(cert.certPath, cert.cert);
  if (rerun !== undefined) process.exit(rerun);

  const sbBase = port("SERVICEBUS_PORT", 5672);
  const azurite = await startAzurite({
    location: path.join(dataDir, "azurite"),
    port: port("AZURITE_PORT", 10002),
  });
  const entraCustomers = CUSTOMERS.flatMap((c) => (c.entra ? [{ ...c, entra: c.entra }] : []));
  const appClientId = process.env.PROVIDER_APP_CLIENT_ID || PROVIDER.appClientId;
  const issuer = await startTokenIssuer(
    {
      applications: [
        {
          clientId: appClientId,
          homeTenantId: PROVIDER.directoryId,
          federatedSubjects: [PROVIDER.identity.objectId],
        },
      ],
      // Admin consent in each Entra customer's directory.
      servicePrincipals: entraCustomers.map((c) => ({
        tenantId: c.directoryId,
        clientId: appClientId,
        objectId: c.entra.servicePrincipalId,
      })),
      managedIdentities: [
        { ...PROVIDER.identity, tenantId: PROVIDER.directoryId },
        ...entraCustomers.map((c) => ({ ...c.entra.agent, tenantId: c.directoryId })),
      ],
    },
    { certDir, port: port("ISSUER_PORT", 7443) },
  );
  // ManagedIdentityCredential finds the App Service identity endpoint through these, in every process.
  process.env.IDENTITY_ENDPOINT = issuer.identityEndpoint;
  process.env.IDENTITY_HEADER = issuer.identityHeader;
  const queues = [
    {
      Name: "commands",
      Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5, RequiresDuplicateDetection: true },
    },
    { Name: "status", Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5 } },
  ];
  const role = (principal: string, r: "Sender" | "Receiver", queue: string) => ({
    PrincipalId: principal,
    Role: `Azure Service Bus Data ${r}`,
    Queue: queue,
  });
  const emulator = await startServiceBusEmulator(
    {
      UserConfig: {
        Namespaces: CUSTOMERS.map((c, i) => ({
          Name: c.tenant,
          Fqdn: `${c.tenant}${LOCAL_SUFFIX}`,
          Port: sbBase === 0 ? 0 : sbBase + i,
          Queues: queues,
          ...(c.entra
            ? {
                TlsPort: sbBase === 0 ? 0 : sbBase + 10 + i,
                DisableLocalAuth: true,
                Entra: {
                  DirectoryId: c.directoryId,
                  IssuerPublicKeys: [issuer.publicKeyPem],
                  // The same least-privilege roles infra/customer.bicep assigns.
                  RoleAssignments: [
                    role(c.entra.servicePrincipalId, "Sender", "commands"),
                    role(c.entra.servicePrincipalId, "Receiver", "status"),
                    role(c.entra.agent.objectId, "Receiver", "commands"),
                    role(c.entra.agent.objectId, "Sender", "status"),
                  ],
                },
              }
            : {}),
        })),
      },
    },
    { dataDir: path.join(dataDir, "servicebus"), certDir },
  );
  const customers = CUSTOMERS.map((c) => {
    const ns = emulator.namespace(c.tenant);
    const fqdn = `${c.tenant}${LOCAL_SUFFIX}`;
    // Entra clients speak TLS; a SAS connection string names localhost:<port>, so its mapping does too.
    const endpoint = c.entra ? (ns.tlsEndpoint as string) : `sb://localhost:${ns.port}`;
    return { ...c, ns, fqdn, endpoint };
  });
  const host = await startHost({
    appDir: path.resolve(__dirname, "..", ".."),
    port: port("PORT", 7071),
    quiet: true,
    settings: {
      AzureWebJobsStorage: azurite.connectionString,
      DEV_LOCAL_MODE: "true",
      SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: `.servicebus.windows.net,${LOCAL_SUFFIX}`,
      DEV_SERVICEBUS_ENDPOINTS: customers.map((c) => `${c.fqdn}=${c.endpoint}`).join(","),
      PROVIDER_APP_CLIENT_ID: appClientId,
      PROVIDER_MANAGED_IDENTITY_CLIENT_ID: PROVIDER.identity.clientId,
      AZURE_AUTHORITY_HOST: issuer.authorityHost,
      ...Object.fromEntries(
        customers
          .filter((c) => !c.entra)
          .map((c) => [`${c.tenant.toUpperCase()}_SERVICEBUS_SAS`, c.ns.connectionString]),
      ),
    },
  });
  const api = `${host.url}/api`;
  const agents: ChildProcess[] = customers.map((c) => {
    // The agent's own connection: its managed identity on an Entra namespace, else the namespace's SAS.
    const connection: Record<string, string> = c.entra
      ? {
          CUSTOMER_SERVICEBUS__fullyQualifiedNamespace: c.fqdn,
          CUSTOMER_SERVICEBUS__clientId: c.entra.agent.clientId,
          CUSTOMER_SERVICEBUS__customEndpointAddress: c.endpoint,
        }
      : { CUSTOMER_SERVICEBUS: c.ns.connectionString };
    const child = spawn(
      process.execPath,
      [
        path.join(__dirname, "host", "cli.js"),
        "--app",
        path.resolve(__dirname, "..", "..", "customer"),
        "--port",
        "0",
      ],
      {
        env: {
          ...process.env,
          ...connection,
          ...agentStorageSettings(azurite.connectionString, c.tenant),
          WEBSITE_HOSTNAME: "",
        },
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    child.on("exit", (code) => {
      if (!stopping && code !== 0) console.error(`customer agent for ${c.tenant} exited with code ${code}`);
    });
    return child;
  });
  for (const c of customers) {
    const res = await fetch(`${api}/tenants/${c.tenant}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directoryId: c.directoryId,
        displayName: c.displayName,
        serviceBus: { namespace: c.fqdn },
        auth: c.entra
          ? { mode: "federatedManagedIdentity" }
          : { mode: "sas", sasSetting: `${c.tenant.toUpperCase()}_SERVICEBUS_SAS` },
      }),
    });
    if (res.status >= 300)
      throw new Error(`registering ${c.tenant} failed: ${res.status} ${await res.text()}`);
  }
  const lines = [
    "",
    "Cross-tenant deployment orchestrator: local stack",
    `  Dashboard           ${api}/dashboard`,
    `  Provider API        ${api}   (OpenAPI: docs/openapi.yaml)`,
    `  Table Storage       ${azurite.tableEndpoint}`,
    `  Entra ID issuer     ${issuer.authorityHost}   (Provider directory ${PROVIDER.directoryId})`,
    ...customers.map(
      (c) =>
        `  Service Bus         ${c.fqdn} -> ${c.endpoint}   (${c.entra ? "Entra ID: federated managed identity" : "SAS"}, directory ${c.directoryId})`,
    ),
    `  Data folder         ${dataDir}`,
    "",
    "Try:",
    `  curl -s ${api}/tenants`,
    `  curl -s -X POST ${api}/tenants/fabrikam/deployments -H 'content-type: application/json' -d '{"spec":{"demo":{"outcome":"succeed","steps":5,"stepMs":500}}}'`,
    `  curl -s ${api}/tenants/fabrikam/deployments`,
    `  curl -s -X POST ${api}/tenants/contoso/verify`,
    "",
    "Each simulated customer runs the demo agent (spec.demo: succeed | fail | ignore | stall). Ctrl-C stops everything.",
    `ready ${api}`,
  ];
  console.log(lines.join("\n"));

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all(
      agents.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      ),
    );
    await host.stop();
    await emulator.stop();
    await issuer.stop();
    await azurite.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
