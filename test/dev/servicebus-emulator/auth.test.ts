import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ServiceBusClient } from "@azure/service-bus";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { newSigningKey, staticCredential } from "../../helpers/jwt";
import {
  FAST_RETRIES,
  namespaceConfig,
  sasConnectionString,
  startEmulator,
  failsWith,
} from "../../helpers/servicebus";

const DIRECTORY_A = "aaaaaaaa-0000-0000-0000-00000000000a";
const DIRECTORY_B = "bbbbbbbb-0000-0000-0000-00000000000b";
const PROVIDER_SP = "11111111-1111-1111-1111-111111111111";
const AGENT = "22222222-2222-2222-2222-222222222222";
const FQDN = "contoso.servicebus.windows.net";

const issuer = newSigningKey();
const stranger = newSigningKey();
let emulator: RunningEmulator;
const clients: ServiceBusClient[] = [];

const unauthorized = failsWith("UnauthorizedAccess");

before(async () => {
  emulator = await startEmulator([
    namespaceConfig(
      "sas",
      [
        { name: "open" },
        {
          name: "scoped",
          policies: [{ Name: "scoped-listen", Key: "queue-listen-key", Rights: ["Listen"] }],
        },
      ],
      {
        SharedAccessPolicies: [
          { Name: "admin", Key: "admin-key", Rights: ["Manage"] },
          { Name: "sender", Key: "sender-key", Rights: ["Send"] },
        ],
      },
    ),
    namespaceConfig("contoso", [{ name: "commands" }, { name: "status" }], {
      Fqdn: FQDN,
      TlsPort: 0,
      DisableLocalAuth: true,
      Entra: {
        DirectoryId: DIRECTORY_A,
        IssuerPublicKeys: [issuer.publicKeyPem],
        RoleAssignments: [
          { PrincipalId: PROVIDER_SP, Role: "Azure Service Bus Data Sender", Queue: "commands" },
          { PrincipalId: PROVIDER_SP, Role: "Azure Service Bus Data Receiver", Queue: "status" },
          { PrincipalId: AGENT, Role: "Owner" },
        ],
      },
    }),
  ]);
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await emulator.stop();
});

function sasClient(keyName: string, key: string, entityPath?: string) {
  const c = new ServiceBusClient(
    sasConnectionString(emulator.namespace("sas").port, keyName, key, entityPath),
    FAST_RETRIES,
  );
  clients.push(c);
  return c;
}

function entraClient(claims: Record<string, unknown>, key = issuer.privateKey) {
  const ns = emulator.namespace("contoso");
  const c = new ServiceBusClient(FQDN, staticCredential(key, claims), {
    ...FAST_RETRIES,
    customEndpointAddress: ns.tlsEndpoint,
  });
  clients.push(c);
  return c;
}

describe("shared access signatures", () => {
  test("a namespace with policies refuses the well-known development key", async () => {
    await assert.rejects(
      sasClient("RootManageSharedAccessKey", "SAS_KEY_VALUE").createSender("open").sendMessages({ body: 1 }),
      unauthorized,
    );
  });

  test("a wrong key is refused; the right one works", async () => {
    await assert.rejects(
      sasClient("admin", "not-the-key").createSender("open").sendMessages({ body: 1 }),
      unauthorized,
    );
    const admin = sasClient("admin", "admin-key");
    await admin.createSender("open").sendMessages({ body: "ok" });
    const [m] = await admin
      .createReceiver("open", { receiveMode: "receiveAndDelete" })
      .receiveMessages(1, { maxWaitTimeInMs: 1000 });
    assert.equal(m?.body, "ok");
  });

  test("rights are enforced: a Send policy cannot receive", async () => {
    const sender = sasClient("sender", "sender-key");
    await sender.createSender("open").sendMessages({ body: "from sender" });
    await assert.rejects(
      sender.createReceiver("open").receiveMessages(1, { maxWaitTimeInMs: 500 }),
      unauthorized,
    );
  });

  test("an entity-level policy works on its queue only and only with its rights", async () => {
    const scoped = sasClient("scoped-listen", "queue-listen-key", "scoped");
    await sasClient("admin", "admin-key").createSender("scoped").sendMessages({ body: "for scoped" });
    const [m] = await scoped
      .createReceiver("scoped", { receiveMode: "receiveAndDelete" })
      .receiveMessages(1, { maxWaitTimeInMs: 1000 });
    assert.equal(m?.body, "for scoped");
    await assert.rejects(scoped.createSender("scoped").sendMessages({ body: 1 }), unauthorized);
    await assert.rejects(
      sasClient("scoped-listen", "queue-listen-key")
        .createReceiver("open")
        .receiveMessages(1, { maxWaitTimeInMs: 500 }),
      unauthorized,
    );
  });
});

describe("Entra ID (JWT) over TLS", () => {
  test("the provider's principal sends to the command queue and receives from the status queue only", async () => {
    const provider = entraClient({ tid: DIRECTORY_A, oid: PROVIDER_SP, appid: "app" });
    await provider.createSender("commands").sendMessages({ body: { type: "Deploy" } });
    await assert.rejects(
      provider.createReceiver("commands").receiveMessages(1, { maxWaitTimeInMs: 500 }),
      unauthorized,
    );
    await assert.rejects(provider.createSender("status").sendMessages({ body: 1 }), unauthorized);

    const agent = entraClient({ tid: DIRECTORY_A, oid: AGENT });
    const [cmd] = await agent
      .createReceiver("commands", { receiveMode: "receiveAndDelete" })
      .receiveMessages(1, { maxWaitTimeInMs: 1000 });
    assert.deepEqual(cmd?.body, { type: "Deploy" });
    await agent.createSender("status").sendMessages({ body: { state: "Accepted" } });
    const [status] = await provider
      .createReceiver("status", { receiveMode: "receiveAndDelete" })
      .receiveMessages(1, { maxWaitTimeInMs: 1000 });
    assert.deepEqual(status?.body, { state: "Accepted" });
  });

  test("a token for another directory is refused even for an assigned principal", async () => {
    const foreign = entraClient({ tid: DIRECTORY_B, oid: PROVIDER_SP });
    await assert.rejects(foreign.createSender("commands").sendMessages({ body: 1 }), unauthorized);
  });

  test("a principal without a role, a forged signature, an expired token and a wrong audience are refused", async () => {
    await assert.rejects(
      entraClient({ tid: DIRECTORY_A, oid: "nobody" }).createSender("commands").sendMessages({ body: 1 }),
      unauthorized,
    );
    await assert.rejects(
      entraClient({ tid: DIRECTORY_A, oid: AGENT }, stranger.privateKey)
        .createSender("commands")
        .sendMessages({ body: 1 }),
      unauthorized,
    );
    const past = Math.floor(Date.now() / 1000) - 7200;
    await assert.rejects(
      entraClient({ tid: DIRECTORY_A, oid: AGENT, iat: past, nbf: past, exp: past + 60 })
        .createSender("commands")
        .sendMessages({ body: 1 }),
      unauthorized,
    );
    await assert.rejects(
      entraClient({ tid: DIRECTORY_A, oid: AGENT, aud: "https://storage.azure.com" })
        .createSender("commands")
        .sendMessages({ body: 1 }),
      unauthorized,
    );
  });

  test("with DisableLocalAuth the namespace refuses even its own well-known SAS key", async () => {
    const c = new ServiceBusClient(emulator.namespace("contoso").connectionString, FAST_RETRIES);
    clients.push(c);
    await assert.rejects(c.createSender("commands").sendMessages({ body: 1 }), unauthorized);
  });

  test("a SAS namespace refuses bearer tokens", async () => {
    const ns = emulator.namespace("sas");
    const c = new ServiceBusClient(
      "sas.servicebus.windows.net",
      staticCredential(issuer.privateKey, { tid: DIRECTORY_A, oid: AGENT }),
      {
        ...FAST_RETRIES,
        customEndpointAddress: ns.endpoint.replace("sb://", "sb://"),
      },
    );
    clients.push(c);
    // The plain port has no TLS, so the client cannot even connect there with a credential; it must fail, not hang.
    await assert.rejects(c.createSender("open").sendMessages({ body: 1 }));
  });
});
