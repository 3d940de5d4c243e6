/**
 * `npm start`: the local stack on one machine, each part a process of its own under one supervisor
 * (dev/supervisor.ts), so that parts fail, restart and recover as on a platform. Azurite (Table Storage)
 * and a local Entra ID token issuer start first; then the Service Bus emulator with one namespace per
 * simulated customer (it must trust the issuer's key); then the Provider app on the Functions dev host at
 * :7071 and one crash-safe Durable customer agent per customer (each as it would run in the customer's
 * tenant, with a task hub of its own); the four extra SAS customers' agents run as threads of one process
 * (dev/agent-hosts.ts) to keep the stack light. The simulated
 * customers are then registered, each with a rollout ring. Contoso (and the extra four) are reached with
 * a SAS held in an app setting; Fabrikam the production way: the Provider's managed identity is federated with its multi-tenant app, whose service
 * principal in Fabrikam's directory holds least-privilege roles on a namespace with local auth disabled.
 *
 * State lives under one data folder (`.data/` or DATA_DIR) and survives a restart of the stack or a crash
 * of any part. Ports can be moved with PORT, AZURITE_PORT, SERVICEBUS_PORT, ISSUER_PORT and
 * WEBHOOK_RECEIVER_PORT (0 = any free port); the ports a part actually got are read from its ready line
 * and kept for its restarts. A local webhook receiver (dev/webhook-receiver.ts, in this process, on
 * 127.0.0.1:7072) is subscribed to every event type and verifies and logs each delivery.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { agentStorageSettings } from "./agent-settings";
import { ensureCommandSigningKey, ensureReceiptSigningKey, type LocalKey } from "./signing-key";
import { ensureDevCertificate } from "./certs";
import { PartSpec, Supervisor } from "./supervisor";
import {
  ensureReceiverSecret,
  RECEIVER_SECRET_SETTING,
  startWebhookReceiver,
  subscribeReceiver,
} from "./webhook-receiver";

const LOCAL_SUFFIX = ".servicebus.localhost";
const ROOT = path.resolve(__dirname, "..", "..");
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
  /** The rollout ring a rollout's waves select on (`ring=canary`, ...). */
  labels: { ring: "canary" | "early" | "broad" };
  /** Entra customers: the Provider app's service principal and the agent's managed identity there. */
  entra?: { servicePrincipalId: string; agent: { clientId: string; objectId: string } };
  /**
   * Its agent host runs as a thread of the one `agents` process with the other extra customers
   * (dev/agent-hosts.ts) rather than as a process of its own: the same crash-safe Durable agent with
   * its own task hub, for less memory and start-up time.
   */
  sharedAgent?: true;
}

/** Extra SAS customers, enough for a rollout to have canary, early and broad rings to go through. */
const sasCustomer = (
  tenant: string,
  n: number,
  ring: SimulatedCustomer["labels"]["ring"],
): SimulatedCustomer => ({
  tenant,
  directoryId: `a0000000-0000-4000-8000-0000000000${String(n).padStart(2, "0")}`,
  displayName: `${tenant.charAt(0).toUpperCase()}${tenant.slice(1)} (simulated, SAS, shared agent)`,
  labels: { ring },
  sharedAgent: true,
});

const CUSTOMERS: SimulatedCustomer[] = [
  {
    tenant: "contoso",
    directoryId: "c0000000-0000-4000-8000-000000000001",
    displayName: "Contoso (simulated, SAS)",
    labels: { ring: "canary" },
  },
  {
    tenant: "fabrikam",
    directoryId: "f0000000-0000-4000-8000-000000000002",
    displayName: "Fabrikam (simulated, Entra ID)",
    labels: { ring: "early" },
    entra: {
      servicePrincipalId: "f0000000-0000-4000-8000-0000000005b1",
      agent: {
        clientId: "f0000000-0000-4000-8000-00000000a9e1",
        objectId: "f0000000-0000-4000-8000-00000000a9e2",
      },
    },
  },
  sasCustomer("adatum", 11, "early"),
  sasCustomer("litware", 12, "broad"),
  sasCustomer("tailspin", 13, "broad"),
  sasCustomer("wingtip", 14, "broad"),
];

/** What the parts announce in their ready lines (dev/part.ts). */
const azuriteReady = z.object({ tableEndpoint: z.string(), connectionString: z.string() });
const issuerReady = z.object({
  authorityHost: z.string(),
  identityEndpoint: z.string(),
  identityHeader: z.string(),
  publicKeyPem: z.string(),
});
const servicebusReady = z.object({
  namespaces: z.array(
    z.object({
      name: z.string(),
      port: z.number(),
      tlsPort: z.number().optional(),
      tlsEndpoint: z.string().optional(),
      connectionString: z.string(),
    }),
  ),
});
const hostReady = z.object({ url: z.string() });

interface RunningCustomer extends SimulatedCustomer {
  fqdn: string;
  /** Where the namespace's clients connect: TLS for Entra clients, plain AMQP for SAS. */
  endpoint: string;
  connectionString: string;
}

/** The running stack, as the Provider and the agents are wired to it. */
interface Stack {
  azurite: z.infer<typeof azuriteReady>;
  /** The local webhook receiver's secret, the value of the Provider's setting RECEIVER_SECRET_SETTING. */
  webhookSecret: string;
  issuer: z.infer<typeof issuerReady>;
  /** NODE_EXTRA_CA_CERTS for every process that calls the issuer or the emulator's TLS port. */
  caBundle: string;
  customers: RunningCustomer[];
  /** The Provider's command-signing key, and the public keys every agent pins. */
  commandKey: LocalKey;
  /**
   * Whether the agents pin the key. Not on the first start of a signing release over the data of an
   * older one: commands it sent unsigned may still wait in the queues (docs/upgrading.md); from the next
   * start on, and always on a fresh data folder.
   */
  pinCommandKey: boolean;
  /** Each customer's receipt-signing key, by tenant: its agent signs its terminal statuses with it. */
  receiptKeys: Map<string, LocalKey>;
  /**
   * Whether the tenants register their receipt keys (then the Provider records only signed outcomes). As
   * pinCommandKey: not on the first start over an older release's data, whose agents' unsigned outcomes
   * may still wait in the status queues.
   */
  registerReceiptKeys: boolean;
}

/** The Provider app's settings, on top of the environment `npm start` was given. */
function providerEnvironment(stack: Stack, appClientId: string): Record<string, string> {
  return {
    AzureWebJobsStorage: stack.azurite.connectionString,
    DEV_LOCAL_MODE: "true",
    SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: `.servicebus.windows.net,${LOCAL_SUFFIX}`,
    DEV_SERVICEBUS_ENDPOINTS: stack.customers.map((c) => `${c.fqdn}=${c.endpoint}`).join(","),
    PROVIDER_APP_CLIENT_ID: appClientId,
    PROVIDER_MANAGED_IDENTITY_CLIENT_ID: PROVIDER.identity.clientId,
    AZURE_AUTHORITY_HOST: stack.issuer.authorityHost,
    // ManagedIdentityCredential finds the App Service identity endpoint through these.
    IDENTITY_ENDPOINT: stack.issuer.identityEndpoint,
    IDENTITY_HEADER: stack.issuer.identityHeader,
    NODE_EXTRA_CA_CERTS: stack.caBundle,
    COMMAND_SIGNING_KEYS: stack.commandKey.setting,
    [RECEIVER_SECRET_SETTING]: stack.webhookSecret,
    ...Object.fromEntries(
      stack.customers.filter((c) => !c.entra).map((c) => [sasSettingOf(c.tenant), c.connectionString]),
    ),
  };
}

/**
 * Everything one simulated customer's agent host is given on top of the environment `npm start` was
 * given: its own Service Bus connection (its managed identity on an Entra namespace, else the namespace's
 * SAS), its durable storage (the shared Azurite, a task hub of its own), the managed identity endpoint,
 * trust in the dev certificate. The one place that says what an agent gets.
 */
function agentEnvironment(c: RunningCustomer, stack: Stack): Record<string, string> {
  const connection: Record<string, string> = c.entra
    ? {
        CUSTOMER_SERVICEBUS__fullyQualifiedNamespace: c.fqdn,
        CUSTOMER_SERVICEBUS__clientId: c.entra.agent.clientId,
        CUSTOMER_SERVICEBUS__customEndpointAddress: c.endpoint,
      }
    : { CUSTOMER_SERVICEBUS: c.connectionString };
  return {
    ...connection,
    ...agentStorageSettings(stack.azurite.connectionString, c.tenant),
    IDENTITY_ENDPOINT: stack.issuer.identityEndpoint,
    IDENTITY_HEADER: stack.issuer.identityHeader,
    NODE_EXTRA_CA_CERTS: stack.caBundle,
    WEBSITE_HOSTNAME: "",
    // The agent runs only commands these keys verify, for its own tenant (docs/messages.md).
    ...(stack.pinCommandKey
      ? { PROVIDER_SIGNING_KEYS: JSON.stringify(stack.commandKey.jwks), AGENT_TENANT: c.tenant }
      : {}),
    // The agent signs its terminal statuses with its customer's own key (signed receipts).
    ...(stack.receiptKeys.has(c.tenant)
      ? { AGENT_SIGNING_KEYS: (stack.receiptKeys.get(c.tenant) as LocalKey).setting }
      : {}),
  };
}

function issuerConfig(appClientId: string) {
  const entraCustomers = CUSTOMERS.flatMap((c) => (c.entra ? [{ ...c, entra: c.entra }] : []));
  return {
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
  };
}

function emulatorConfig(issuerPublicKeyPem: string, ports: { port: number; tlsPort: number }[]) {
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
  return {
    UserConfig: {
      Namespaces: CUSTOMERS.map((c, i) => ({
        Name: c.tenant,
        Fqdn: `${c.tenant}${LOCAL_SUFFIX}`,
        Port: ports[i]?.port ?? 0,
        Queues: queues,
        ...(c.entra
          ? {
              TlsPort: ports[i]?.tlsPort ?? 0,
              DisableLocalAuth: true,
              Entra: {
                DirectoryId: c.directoryId,
                IssuerPublicKeys: [issuerPublicKeyPem],
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
  };
}

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`${name} must be a port number, got "${raw}"`);
  return n;
}

const portOf = (url: string) => Number(new URL(url.replace(/^sb:/, "http:")).port);

/**
 * Node reads NODE_EXTRA_CA_CERTS only at start, so every part that calls the issuer or the emulator's
 * TLS port is started with a bundle of any CA file the user already trusts plus the dev certificate.
 */
function trustBundle(certPath: string, certPem: string): string {
  const current = process.env.NODE_EXTRA_CA_CERTS;
  const trusted = current && fs.existsSync(current) ? fs.readFileSync(current, "utf8") : "";
  if (trusted.includes(certPem.trim())) return current as string;
  const bundle = path.join(path.dirname(certPath), "ca-bundle.pem");
  fs.writeFileSync(bundle, `${trusted.trim()}\n${certPem.trim()}\n`.trimStart());
  return bundle;
}

const sasSettingOf = (tenant: string) => `TENANT_${tenant.toUpperCase().replace(/-/g, "_")}_SERVICEBUS_SAS`;

/** The PUT body that registers a simulated customer (with its receipt keys, when it registers them). */
function registration(c: RunningCustomer, receiptKeys?: LocalKey): Record<string, unknown> {
  return {
    directoryId: c.directoryId,
    displayName: c.displayName,
    serviceBus: { namespace: c.fqdn },
    auth: c.entra
      ? { mode: "federatedManagedIdentity" }
      : { mode: "sas", sasSetting: sasSettingOf(c.tenant) },
    labels: c.labels,
    ...(receiptKeys ? { receiptKeys: receiptKeys.jwks } : {}),
  };
}

async function register(api: string, customers: RunningCustomer[], stack: Stack): Promise<void> {
  await Promise.all(
    customers.map(async (c) => {
      const res = await fetch(`${api}/tenants/${c.tenant}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(
          registration(c, stack.registerReceiptKeys ? stack.receiptKeys.get(c.tenant) : undefined),
        ),
      });
      if (res.status >= 300)
        throw new Error(`registering ${c.tenant} failed: ${res.status} ${await res.text()}`);
    }),
  );
}

/**
 * The copy-paste rollout `npm start` prints: the demo spec to every ringed customer, canary first, then
 * early, then broad, two at a time. Adjust here when the rollout API's body changes.
 */
function rolloutCommand(api: string): string {
  const body = {
    spec: { demo: { outcome: "succeed", steps: 3, stepMs: 500 } },
    targets: { selector: "ring" },
    waves: [
      { name: "canary", selector: "ring=canary" },
      { name: "early", selector: "ring=early" },
      { name: "broad", selector: "ring=broad" },
    ],
    maxConcurrency: 2,
  };
  return `curl -s -X POST ${api}/rollouts -H 'content-type: application/json' -d '${JSON.stringify(body)}'`;
}

async function startStack(supervisor: Supervisor, dataDir: string): Promise<void> {
  // Data of an earlier start (its Azurite folder) is there before this one writes anything.
  const earlierData = fs.existsSync(path.join(dataDir, "azurite"));
  const certDir = path.join(dataDir, "certs");
  const cert = await ensureDevCertificate(certDir);
  const caBundle = trustBundle(cert.certPath, cert.cert);
  // The parts' generated configuration files (rewritten on every start).
  const partsDir = path.join(dataDir, "parts");
  fs.mkdirSync(partsDir, { recursive: true });
  const appClientId = process.env.PROVIDER_APP_CLIENT_ID || PROVIDER.appClientId;
  // Asked-for ports; replaced by the actual ones after each part's first start, so restarts keep them.
  const ports = {
    provider: port("PORT", 7071),
    azurite: port("AZURITE_PORT", 10002),
    issuer: port("ISSUER_PORT", 7443),
  };
  // The receiver runs in this process (it is tiny, and its secret must be known before the Provider starts).
  const webhookSecret = ensureReceiverSecret(path.join(dataDir, "webhooks"));
  const receiver = await startWebhookReceiver({
    port: port("WEBHOOK_RECEIVER_PORT", 7072),
    secret: webhookSecret,
  });
  const sbBase = port("SERVICEBUS_PORT", 5672);
  const sbPorts = CUSTOMERS.map((_, i) => ({
    port: sbBase === 0 ? 0 : sbBase + i,
    tlsPort: sbBase === 0 ? 0 : sbBase + 10 + i,
  }));
  const script = (...parts: string[]) => path.join(__dirname, ...parts);

  const issuerConfigFile = path.join(partsDir, "issuer.json");
  fs.writeFileSync(issuerConfigFile, JSON.stringify(issuerConfig(appClientId), null, 2));
  const identityHeader = randomUUID();
  const infrastructure: PartSpec[] = [
    {
      name: "azurite",
      command: () => ({
        args: [
          script("azurite-cli.js"),
          ...["--location", path.join(dataDir, "azurite"), "--port", String(ports.azurite)],
          ...(process.env.AZURITE_SAVES === "periodic" ? ["--periodic-saves"] : []),
        ],
      }),
    },
    {
      name: "issuer",
      command: () => ({
        args: [
          script("identity", "cli.js"),
          ...["--config", issuerConfigFile, "--cert-dir", certDir, "--port", String(ports.issuer)],
          ...["--signing-key", path.join(dataDir, "issuer", "signing-key.pem")],
        ],
        env: { IDENTITY_HEADER: identityHeader },
      }),
    },
  ];
  const first = await supervisor.start(infrastructure);
  const azurite = azuriteReady.parse(first.azurite);
  const issuer = issuerReady.parse(first.issuer);
  ports.azurite = portOf(azurite.tableEndpoint);
  ports.issuer = portOf(issuer.authorityHost);

  const emulatorConfigFile = path.join(partsDir, "servicebus.json");
  const second = await supervisor.start([
    {
      name: "servicebus",
      command: () => {
        const config = emulatorConfig(issuer.publicKeyPem, sbPorts);
        fs.writeFileSync(emulatorConfigFile, JSON.stringify(config, null, 2));
        return {
          args: [
            script("servicebus-emulator", "cli.js"),
            ...["--config", emulatorConfigFile, "--data-dir", path.join(dataDir, "servicebus")],
            ...["--cert-dir", certDir],
          ],
        };
      },
    },
  ]);
  const servicebus = servicebusReady.parse(second.servicebus);
  const customers: RunningCustomer[] = CUSTOMERS.map((c, i) => {
    const ns = servicebus.namespaces.find((n) => n.name === c.tenant);
    if (!ns) throw new Error(`the emulator did not report namespace ${c.tenant}`);
    sbPorts[i] = { port: ns.port, tlsPort: ns.tlsPort ?? 0 };
    // Entra clients speak TLS; a SAS connection string names localhost:<port>, so its mapping does too.
    const endpoint = c.entra ? (ns.tlsEndpoint as string) : `sb://localhost:${ns.port}`;
    return { ...c, fqdn: `${c.tenant}${LOCAL_SUFFIX}`, endpoint, connectionString: ns.connectionString };
  });
  const commandKey = await ensureCommandSigningKey(path.join(dataDir, "signing"));
  const pinCommandKey = !commandKey.created || !earlierData;
  if (!pinCommandKey)
    console.log(
      "The Provider signs its commands from now on; the agents pin its key from the next start (commands an older release queued are unsigned).",
    );
  const receiptKeys = new Map<string, LocalKey>();
  for (const c of customers)
    receiptKeys.set(c.tenant, await ensureReceiptSigningKey(path.join(dataDir, "signing"), c.tenant));
  const registerReceiptKeys = ![...receiptKeys.values()].some((k) => k.created) || !earlierData;
  if (!registerReceiptKeys)
    console.log(
      "The agents sign their outcomes from now on; the tenants register their receipt keys from the next start (outcomes an older release queued are unsigned).",
    );
  const stack: Stack = {
    azurite,
    webhookSecret,
    issuer,
    caBundle,
    customers,
    commandKey,
    pinCommandKey,
    receiptKeys,
    registerReceiptKeys,
  };

  const hostCli = script("host", "cli.js");
  const agentHostsFile = path.join(partsDir, "agent-hosts.json");
  const customerApp = path.join(ROOT, "customer");
  const third = await supervisor.start([
    {
      name: "provider",
      command: () => ({
        args: [hostCli, "--app", ROOT, "--port", String(ports.provider), "--quiet"],
        env: providerEnvironment(stack, appClientId),
      }),
    },
    ...customers
      .filter((c) => !c.sharedAgent)
      .map((c) => ({
        name: `agent-${c.tenant}`,
        command: () => ({
          args: [hostCli, "--app", customerApp, "--port", "0", "--quiet"],
          env: agentEnvironment(c, stack),
        }),
      })),
    {
      name: "agents",
      command: () => {
        // What every agent shares (the identity endpoint and its secret header, the CA bundle) goes in
        // the part's environment, never in a file; the file holds each customer's own settings (the
        // local emulator's SAS, the shared Azurite's connection, its task hub), readable by this user only.
        let common: Record<string, string> = {};
        const shared = customers
          .filter((c) => c.sharedAgent)
          .map((c) => {
            const { IDENTITY_ENDPOINT, IDENTITY_HEADER, NODE_EXTRA_CA_CERTS, ...own } = agentEnvironment(
              c,
              stack,
            );
            common = { IDENTITY_ENDPOINT, IDENTITY_HEADER, NODE_EXTRA_CA_CERTS } as Record<string, string>;
            return { tenant: c.tenant, env: own };
          });
        fs.writeFileSync(agentHostsFile, JSON.stringify(shared, null, 2), { mode: 0o600 });
        fs.chmodSync(agentHostsFile, 0o600);
        return {
          args: [script("agent-hosts-cli.js"), "--app", customerApp, "--config", agentHostsFile],
          env: common,
        };
      },
    },
  ]);
  const provider = hostReady.parse(third.provider);
  ports.provider = portOf(provider.url);
  const api = `${provider.url}/api`;
  await register(api, customers, stack);
  const subscription = await subscribeReceiver(api, receiver);

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
    `  Webhook receiver    ${receiver.url}   (every event type, signatures verified; what it got: ${receiver.eventsUrl}; the delivery log: ${api}/subscriptions/${subscription}/deliveries and the dashboard's Notifications)`,
    `  Data folder         ${dataDir}`,
    `  Processes           ${supervisor
      .status()
      .map((p) => `${p.name} (pid ${p.pid})`)
      .join(", ")}; a part that dies is restarted, its log lines start with [its name]`,
    "",
    "Try:",
    `  curl -s ${api}/tenants`,
    `  curl -s -X POST ${api}/tenants/fabrikam/deployments -H 'content-type: application/json' -d '{"spec":{"demo":{"outcome":"succeed","steps":5,"stepMs":500}}}'`,
    `  curl -s ${api}/tenants/fabrikam/deployments`,
    `  curl -s -X POST ${api}/tenants/contoso/verify`,
    `  curl -s ${api}/deployments/<id>/receipt   (the customer's signed outcome; receipts ${stack.registerReceiptKeys ? "verified" : "unsigned until the next start"})`,
    "",
    `Roll out to every customer by ring (${customers.map((c) => `${c.tenant}=${c.labels.ring}`).join(", ")}):`,
    `  ${rolloutCommand(api)}`,
    "",
    "Each simulated customer runs the demo agent (spec.demo: succeed | fail | ignore | stall). Ctrl-C stops everything.",
    `ready ${api}`,
  ];
  console.log(lines.join("\n"));
}

async function main(): Promise<void> {
  const dataDir = path.resolve(process.env.DATA_DIR ?? ".data");
  const supervisor = new Supervisor();
  let signals = 0;
  const onSignal = () => {
    if (++signals > 1) {
      supervisor.kill();
      process.exit(1);
    }
    supervisor.note("stopping every part (Ctrl-C again to kill them at once)");
    void supervisor.stop().then((clean) => {
      supervisor.note(clean ? "every part stopped" : "stopped, but not every part stopped cleanly");
      process.exit(clean ? 0 : 1);
    });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await startStack(supervisor, dataDir);
  } catch (error) {
    if (supervisor.isStopping) return; // Ctrl-C during start-up: the signal handler exits
    console.error(error instanceof Error ? error.message : error);
    await supervisor.stop();
    process.exit(1);
  }
}

void main();
