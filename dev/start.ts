/**
 * `npm start`: the local stack on one machine. Azurite (Table Storage), the Service Bus emulator with one
 * namespace per simulated customer, the Provider app on the Functions dev host at :7071 with the simulated
 * customers registered, and one customer agent per customer (each its own dev host process, as it would
 * run in the customer's tenant). State lives under one data folder (`.data/` or DATA_DIR) and survives
 * a restart. Ports can be moved with PORT, AZURITE_PORT and SERVICEBUS_PORT (0 = any free port).
 */
import { ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { startAzurite } from "./azurite";
import { startHost } from "./host";
import { startServiceBusEmulator } from "./servicebus-emulator";

const LOCAL_SUFFIX = ".servicebus.localhost";
/** A fixed, obviously local id for the Provider app, so onboarding instructions render locally. */
const LOCAL_APP_CLIENT_ID = "00000000-0000-4000-8000-00000000a99d";

const CUSTOMERS = [
  {
    tenant: "contoso",
    directoryId: "c0000000-0000-4000-8000-000000000001",
    displayName: "Contoso (simulated)",
  },
  {
    tenant: "fabrikam",
    directoryId: "f0000000-0000-4000-8000-000000000002",
    displayName: "Fabrikam (simulated)",
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

async function main(): Promise<void> {
  const dataDir = path.resolve(process.env.DATA_DIR ?? ".data");
  const sbBase = port("SERVICEBUS_PORT", 5672);
  const azurite = await startAzurite({
    location: path.join(dataDir, "azurite"),
    port: port("AZURITE_PORT", 10002),
  });
  const emulator = await startServiceBusEmulator(
    {
      UserConfig: {
        Namespaces: CUSTOMERS.map((c, i) => ({
          Name: c.tenant,
          Fqdn: `${c.tenant}${LOCAL_SUFFIX}`,
          Port: sbBase === 0 ? 0 : sbBase + i,
          Queues: [
            {
              Name: "commands",
              Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5, RequiresDuplicateDetection: true },
            },
            { Name: "status", Properties: { LockDuration: "PT30S", MaxDeliveryCount: 5 } },
          ],
        })),
      },
    },
    { dataDir: path.join(dataDir, "servicebus"), certDir: path.join(dataDir, "certs") },
  );
  // The SAS connection strings name localhost:<port>, so the mapping does too (a SAS is bound to its host).
  const endpoints = emulator.namespaces
    .map((ns) => `${ns.name}${LOCAL_SUFFIX}=sb://localhost:${ns.port}`)
    .join(",");
  const sasSettings = Object.fromEntries(
    emulator.namespaces.map((ns) => [`${ns.name.toUpperCase()}_SERVICEBUS_SAS`, ns.connectionString]),
  );
  const host = await startHost({
    appDir: path.resolve(__dirname, "..", ".."),
    port: port("PORT", 7071),
    quiet: true,
    settings: {
      AzureWebJobsStorage: azurite.connectionString,
      DEV_LOCAL_MODE: "true",
      SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: `.servicebus.windows.net,${LOCAL_SUFFIX}`,
      DEV_SERVICEBUS_ENDPOINTS: endpoints,
      PROVIDER_APP_CLIENT_ID: process.env.PROVIDER_APP_CLIENT_ID ?? LOCAL_APP_CLIENT_ID,
      ...sasSettings,
    },
  });
  const api = `${host.url}/api`;
  const agents: ChildProcess[] = emulator.namespaces.map((ns) => {
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
        env: { ...process.env, CUSTOMER_SERVICEBUS: ns.connectionString, WEBSITE_HOSTNAME: "" },
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    child.on("exit", (code) => {
      if (!stopping && code !== 0) console.error(`customer agent for ${ns.name} exited with code ${code}`);
    });
    return child;
  });
  for (const c of CUSTOMERS) {
    const res = await fetch(`${api}/tenants/${c.tenant}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directoryId: c.directoryId,
        displayName: c.displayName,
        serviceBus: { namespace: `${c.tenant}${LOCAL_SUFFIX}` },
        auth: { mode: "sas", sasSetting: `${c.tenant.toUpperCase()}_SERVICEBUS_SAS` },
      }),
    });
    if (res.status >= 300)
      throw new Error(`registering ${c.tenant} failed: ${res.status} ${await res.text()}`);
  }
  const lines = [
    "",
    "Cross-tenant deployment orchestrator: local stack",
    `  Provider API        ${api}   (OpenAPI: docs/openapi.yaml)`,
    `  Table Storage       ${azurite.tableEndpoint}`,
    ...emulator.namespaces.map((ns) => `  Service Bus         ${ns.name}${LOCAL_SUFFIX} -> ${ns.endpoint}`),
    `  Data folder         ${dataDir}`,
    "",
    "Try:",
    `  curl -s ${api}/tenants`,
    `  curl -s ${api}/tenants/contoso/onboarding`,
    `  curl -s -X POST ${api}/tenants/contoso/deployments -H 'content-type: application/json' -d '{"spec":{"demo":{"outcome":"succeed","steps":5,"stepMs":500}}}'`,
    `  curl -s ${api}/tenants/contoso/deployments`,
    `  curl -s -X POST ${api}/tenants/fabrikam/verify`,
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
