import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";
import { startInMemoryAgents } from "../../../dev/in-memory-agents";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { apiClient, expectProblem } from "../../helpers/api";
import { localProviderSettings } from "../../helpers/provider";
import { assertOneTruth, assertRolloutTruth } from "../../helpers/one-truth";
import { namespaceConfig, sleep, startEmulator } from "../../helpers/servicebus";
import { registerLocalTenant } from "../../helpers/tenants";

// Webhook notifications through the Provider app on the dev host: subscriptions over the API, events
// published by deployments and rollouts, delivered durably to a receiver on 127.0.0.1 (local mode allows
// loopback receivers only), signed with the secret of the app setting the subscription names.
const root = path.join(__dirname, "..", "..", "..", "..");
const SECRET = "whsec-test-4f1c0b";
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
let agents: { close(): Promise<void> } | undefined;

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
const received: Received[] = [];
/** The status the receiver answers per path (200 unless set). */
const answers = new Map<string, number>();
let receiver: http.Server;
let receiverUrl = "";
const hostLog: string[] = [];

before(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      received.push({ path: req.url ?? "", headers: req.headers, body });
      res.writeHead(answers.get(req.url ?? "") ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  azurite = await startAzurite();
  emulator = await startEmulator([
    namespaceConfig("contoso", [
      { name: "commands", properties: { LockDuration: "PT5S" } },
      { name: "status", properties: { LockDuration: "PT5S" } },
    ]),
  ]);
  host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    log: (level, message, props) => hostLog.push(`${level} ${message} ${JSON.stringify(props ?? {})}`),
    settings: localProviderSettings(azurite.connectionString, emulator.namespaces, {
      WEBHOOK_SECRET_TEST: SECRET,
    }),
  });
  await registerLocalTenant(host.url, "contoso", "c0000000-0000-4000-8000-000000000001", {
    labels: { ring: "all" },
  });
  agents = startInMemoryAgents(
    emulator.namespaces.map((ns) => ({ tenant: ns.name, connectionString: ns.connectionString })),
  );
});

after(async () => {
  await agents?.close();
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
  await new Promise((resolve) => receiver.close(resolve));
});

const api = apiClient(() => host!.url);

async function subscribe(hookPath: string, events: string[]): Promise<string> {
  const res = await api("subscriptions", {
    method: "POST",
    body: { url: `${receiverUrl}${hookPath}`, events, secretSetting: "WEBHOOK_SECRET_TEST" },
  });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

async function until<T>(what: string, read: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

interface DeliveryRow {
  eventId: string;
  eventType: string;
  attempt: number;
  result: string;
  status?: number;
}
const deliveries = async (id: string) =>
  ((await (await api(`subscriptions/${id}/deliveries`)).json()) as { items: DeliveryRow[] }).items;

describe("subscriptions", () => {
  test("a target that is not allowed, an unknown event or a bad setting name: 400 naming the field", async () => {
    const post = (body: unknown) => api("subscriptions", { method: "POST", body });
    const ok = {
      url: `${receiverUrl}/hook`,
      events: ["deployment.finished"],
      secretSetting: "WEBHOOK_SECRET_TEST",
    };
    for (const [body, field, reason] of [
      [{ ...ok, url: "https://10.0.0.4/hook" }, "url", /internal address/],
      [{ ...ok, url: "https://169.254.169.254/metadata" }, "url", /internal address/],
      [{ ...ok, url: "https://[fd00::1]/hook" }, "url", /internal address/],
      [{ ...ok, url: "http://hooks.example.com/x" }, "url", /https/],
      [{ ...ok, url: "https://hooks.example.com/x" }, "url", /WEBHOOK_ALLOWED_HOSTS/],
      [{ ...ok, url: "http://user:pw@127.0.0.1/x" }, "url", /credentials/],
      [{ ...ok, url: "not a url" }, "url", /./],
      [{ ...ok, events: ["deployment.started"] }, "events[0]", /./],
      [{ ...ok, events: [] }, "events", /./],
      [{ ...ok, secretSetting: "my secret" }, "secretSetting", /./],
      [{ ...ok, secret: "s3cret" }, "secret", /./],
    ] as const)
      assert.match(await expectProblem(await post(body), 400, field), reason);
  });

  test("created, listed, read and deleted (audited); the secret's value is never answered", async () => {
    const id = await subscribe("/crud", ["rollout.halted"]);
    const listed = await (await api("subscriptions")).text();
    assert.ok(listed.includes(id));
    assert.ok(!listed.includes(SECRET), "only the setting's name is answered");
    const one = (await (await api(`subscriptions/${id}`)).json()) as Record<string, unknown>;
    assert.equal(one.secretSetting, "WEBHOOK_SECRET_TEST");
    assert.equal((await api(`subscriptions/${id}`, { method: "DELETE" })).status, 204);
    await expectProblem(await api(`subscriptions/${id}`), 404);
    await expectProblem(await api(`subscriptions/${id}`, { method: "DELETE" }), 404);
    await expectProblem(await api("subscriptions/nope"), 400, "id");
    const audit = (await (await api(`audit?target=subscription:${id}`)).json()) as {
      items: { action: string; status: number }[];
    };
    assert.deepEqual(
      audit.items.map((a) => `${a.action} ${a.status}`).sort(),
      ["subscription.create 201", "subscription.delete 204", "subscription.delete 404"].sort(),
    );
    assert.ok(!hostLog.some((l) => l.includes(SECRET)), "no log line holds the secret");
  });
});

describe("delivery", () => {
  test("a finished deployment is delivered as a signed CloudEvent, and the delivery log says so", async () => {
    const id = await subscribe("/deployments", ["deployment.finished"]);
    const res = await api("tenants/contoso/deployments", {
      method: "POST",
      body: { spec: { demo: { steps: 1 } } },
    });
    const deployment = ((await res.json()) as { id: string }).id;
    const hit = await until("the webhook", async () =>
      received.find((r) => r.path === "/deployments" && r.body.includes(deployment)),
    );
    assert.match(String(hit.headers["content-type"]), /^application\/cloudevents\+json/);
    const event = JSON.parse(hit.body) as Record<string, unknown>;
    assert.equal(event.specversion, "1.0");
    assert.equal(event.type, "deployment.finished");
    assert.equal(event.source, `/deployments/${deployment}`);
    assert.equal(event.id, `deployment.finished:contoso:${deployment}:1`);
    assert.deepEqual(
      { ...(event.data as Record<string, unknown>), message: undefined },
      { tenant: "contoso", deploymentId: deployment, attempt: 1, outcome: "Succeeded", message: undefined },
    );
    // Standard Webhooks: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>"> with the setting's secret.
    const signed = `${String(hit.headers["webhook-id"])}.${String(hit.headers["webhook-timestamp"])}.${hit.body}`;
    const expected = createHmac("sha256", SECRET).update(signed).digest("base64");
    assert.equal(hit.headers["webhook-signature"], `v1,${expected}`);
    assert.equal(hit.headers["webhook-id"], event.id);
    const log = await until("the delivery log", async () => {
      const rows = await deliveries(id);
      return rows.length > 0 ? rows : undefined;
    });
    assert.deepEqual(
      log.map((d) => [d.eventId, d.attempt, d.result, d.status]),
      [[event.id, 1, "Delivered", 200]],
    );
    await assertOneTruth(host!.url, deployment);
  });

  test("a receiver that refuses (HTTP 400) is not tried again; one that fails (503) is", async () => {
    answers.set("/refuses", 400);
    answers.set("/flaky", 503);
    const refuses = await subscribe("/refuses", ["deployment.finished"]);
    const flaky = await subscribe("/flaky", ["deployment.finished"]);
    const res = await api("tenants/contoso/deployments", {
      method: "POST",
      body: { spec: { demo: { steps: 1, outcome: "fail" } } },
    });
    const deployment = ((await res.json()) as { id: string }).id;
    const gaveUp = await until("the refused delivery", async () => {
      const rows = await deliveries(refuses);
      return rows.find((r) => r.eventId.endsWith(`${deployment}:1`));
    });
    assert.deepEqual([gaveUp.attempt, gaveUp.result, gaveUp.status], [1, "GaveUp", 400]);
    const failed = await until("the failed delivery", async () => {
      const rows = await deliveries(flaky);
      return rows.find((r) => r.eventId.endsWith(`${deployment}:1`));
    });
    assert.deepEqual([failed.attempt, failed.result, failed.status], [1, "Failed", 503]);
    // Its next attempt waits on a durable timer (10 s); once the receiver answers, it is delivered.
    answers.set("/flaky", 200);
    const delivered = await until(
      "the retried delivery",
      async () =>
        (await deliveries(flaky)).find(
          (r) => r.eventId.endsWith(`${deployment}:1`) && r.result === "Delivered",
        ),
      40_000,
    );
    assert.equal(delivered.attempt, 2);
    assert.equal(
      received.filter((r) => r.path === "/refuses" && r.body.includes(deployment)).length,
      1,
      "the refusing receiver got it once",
    );
    await assertOneTruth(host!.url, deployment);
  });

  test("a finished rollout is delivered as rollout.finished", async () => {
    await subscribe("/rollouts", ["rollout.finished"]);
    const res = await api("rollouts", {
      method: "POST",
      body: { spec: { demo: { steps: 1 } }, targets: { selector: "ring=all" }, bakeSeconds: 0 },
    });
    assert.equal(res.status, 202, await res.clone().text());
    const rollout = ((await res.json()) as { id: string }).id;
    const hit = await until("the rollout webhook", async () =>
      received.find((r) => r.path === "/rollouts" && r.body.includes(rollout)),
    );
    const event = JSON.parse(hit.body) as { type: string; data: { rolloutId: string; state: string } };
    assert.equal(event.type, "rollout.finished");
    assert.deepEqual([event.data.rolloutId, event.data.state], [rollout, "Succeeded"]);
    await assertRolloutTruth(host!.url, rollout);
  });

  test("a scheduled rollout aborted before it starts is delivered as rollout.finished, Aborted", async () => {
    await subscribe("/scheduled", ["rollout.finished"]);
    const notBefore = new Date(Date.now() + 7 * 86_400_000).toISOString();
    const res = await api("rollouts", {
      method: "POST",
      body: { spec: { demo: { steps: 1 } }, targets: { selector: "ring=all" }, notBefore },
    });
    assert.equal(res.status, 202, await res.clone().text());
    const rollout = ((await res.json()) as { id: string }).id;
    assert.equal((await api(`rollouts/${rollout}/abort`, { method: "POST" })).status, 202);
    const hit = await until("the aborted rollout's webhook", async () =>
      received.find((r) => r.path === "/scheduled" && r.body.includes(rollout)),
    );
    const event = JSON.parse(hit.body) as { type: string; data: { rolloutId: string; state: string } };
    assert.equal(event.type, "rollout.finished");
    assert.deepEqual([event.data.rolloutId, event.data.state], [rollout, "Aborted"]);
    await assertRolloutTruth(host!.url, rollout);
  });
});
