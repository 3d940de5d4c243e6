import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TableServiceClient } from "@azure/data-tables";
import { tableConnectionString } from "../../dev/azurite";
import { assertRolloutTruth } from "../helpers/one-truth";
import { spawnStack, type StackProcess } from "../../dev/stack-process";
import { assertOneTruth } from "../helpers/one-truth";

interface Deployment {
  phase: string;
  outcome?: string;
}

interface RolloutView {
  state: string;
  tenants: { tenant: string; wave: string; deploymentId?: string; outcome?: string }[];
}

async function waitForRollout(
  api: string,
  id: string,
  done: (r: RolloutView) => boolean,
): Promise<RolloutView> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = (await (await fetch(`${api}/rollouts/${id}`)).json()) as RolloutView;
    if (done(r)) return r;
    if (Date.now() > deadline) throw new Error(`rollout ${id} is still ${JSON.stringify(r)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitFor(api: string, id: string, done: (d: Deployment) => boolean): Promise<Deployment> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const d = (await (await fetch(`${api}/deployments/${id}`)).json()) as Deployment;
    if (done(d)) return d;
    if (Date.now() > deadline) throw new Error(`deployment ${id} is still ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("npm start brings up six customers (SAS, Entra, four agents in one process), stops cleanly on Ctrl-C, keeps state and resumes every in-flight deployment and rollout", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-"));
  let running: StackProcess | undefined;
  try {
    const first = (running = await spawnStack(dataDir));
    const api = first.api;
    assert.match(first.output(), new RegExp(`${api}/dashboard`), "the dashboard URL is printed");
    assert.equal((await fetch(`${api}/dashboard`)).status, 200);
    // The shared agents' settings file holds each customer's own settings only, for this user's eyes.
    const agentHosts = path.join(dataDir, "parts", "agent-hosts.json");
    assert.equal(fs.statSync(agentHosts).mode & 0o777, 0o600);
    assert.doesNotMatch(fs.readFileSync(agentHosts, "utf8"), /IDENTITY_HEADER|IDENTITY_ENDPOINT/);
    const list = (await (await fetch(`${api}/tenants`)).json()) as {
      items: { name: string; state: string; serviceBus: { namespace: string }; auth: { mode: string } }[];
    };
    // Six customers, enough for a rollout's canary, early and broad rings; the four extra ones share
    // one agent process (a Durable agent host each) and the SAS path.
    assert.deepEqual(
      list.items.map((t) => [t.name, t.serviceBus.namespace, t.auth.mode, t.state]),
      [
        ["adatum", "adatum.servicebus.localhost", "sas", "active"],
        ["contoso", "contoso.servicebus.localhost", "sas", "active"],
        ["fabrikam", "fabrikam.servicebus.localhost", "federatedManagedIdentity", "active"],
        ["litware", "litware.servicebus.localhost", "sas", "active"],
        ["tailspin", "tailspin.servicebus.localhost", "sas", "active"],
        ["wingtip", "wingtip.servicebus.localhost", "sas", "active"],
      ],
    );
    const rollout = /curl -s -X POST (\S+)\/rollouts -H 'content-type: application\/json' -d '(.+)'$/m.exec(
      first.output(),
    );
    assert.ok(rollout, "a copy-paste rollout command is printed");
    assert.equal(rollout[1], api);
    const waves = (JSON.parse(rollout[2] as string) as { waves: { selector: string }[] }).waves;
    assert.deepEqual(
      waves.map((w) => w.selector),
      ["ring=canary", "ring=early", "ring=broad"],
    );
    // Labels select tenants, and the printed rollout runs as printed: three waves by ring, in order.
    const broad = (await (await fetch(`${api}/tenants?selector=ring%3Dbroad`)).json()) as {
      items: { name: string }[];
    };
    assert.deepEqual(
      broad.items.map((t) => t.name),
      ["litware", "tailspin", "wingtip"],
    );
    const started = await fetch(`${api}/rollouts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: rollout[2],
    });
    assert.equal(started.status, 202);
    const done = await assertRolloutTruth(
      api.replace(/\/api$/, ""),
      ((await started.json()) as { id: string }).id,
      60_000,
    );
    assert.equal(done.state, "Succeeded");
    assert.deepEqual(
      done.waves.map((w) => [w.name, w.total, w.succeeded]),
      [
        ["canary", 1, 1],
        ["early", 2, 2],
        ["broad", 3, 3],
      ],
    );
    const onboarding = await fetch(`${api}/tenants/contoso/onboarding`);
    assert.equal(onboarding.status, 200);
    // A deployment runs end to end through each simulated customer's agent: Contoso over SAS, Fabrikam
    // over the Entra path (federated managed identity, TLS, RBAC with local auth disabled).
    const start = async (tenant: string, steps: number, stepMs: number) => {
      const res = await fetch(`${api}/tenants/${tenant}/deployments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ spec: { demo: { outcome: "succeed", steps, stepMs } } }),
      });
      assert.equal(res.status, 202);
      const body = (await res.json()) as { id: string; statusQueryGetUri: string };
      // The stack's own port, not 7071 (another stack's, when one runs there).
      assert.equal(new URL(body.statusQueryGetUri).origin, new URL(api).origin);
      assert.equal((await fetch(body.statusQueryGetUri)).ok, true);
      return body.id;
    };
    const quick = await start("contoso", 2, 50);
    // Every customer's agent, the four that share the `agents` process included, answers on its own queues.
    const shared = await Promise.all(
      ["adatum", "litware", "tailspin", "wingtip"].map((t) => start(t, 2, 50)),
    );
    assert.equal((await waitFor(api, quick, (d) => d.outcome !== undefined)).outcome, "Succeeded");
    for (const id of shared)
      assert.equal((await waitFor(api, id, (d) => d.outcome !== undefined)).outcome, "Succeeded");
    // Each customer signs its outcomes with its own key, registered with the tenant: a verified receipt.
    const health = (await (await fetch(`${api}/tenants/contoso/health`)).json()) as { receipts: string };
    assert.equal(health.receipts, "verified");
    const receipt = await fetch(`${api}/deployments/${quick}/receipt`);
    assert.equal(receipt.status, 200);
    assert.match(((await receipt.json()) as { jws: string }).jws, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const verify = (await (await fetch(`${api}/tenants/fabrikam/verify`, { method: "POST" })).json()) as {
      ok: boolean;
    };
    assert.equal(verify.ok, true);

    // Work in flight at every customer when the stack stops: a long deployment to each of the six, and
    // the printed ring rollout (slower steps) in its early wave.
    const tenants = ["contoso", "fabrikam", "adatum", "litware", "tailspin", "wingtip"];
    const body = JSON.parse(rollout[2] as string) as { spec: { demo: { steps: number; stepMs: number } } };
    body.spec.demo = { ...body.spec.demo, steps: 8, stepMs: 1000 };
    const restarted = await fetch(`${api}/rollouts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    assert.equal(restarted.status, 202);
    const rolloutId = ((await restarted.json()) as { id: string }).id;
    const midway = await waitForRollout(api, rolloutId, (r) =>
      r.tenants.some((t) => t.wave === "early" && t.deploymentId !== undefined),
    );
    const early = midway.tenants.find((t) => t.wave === "early" && t.deploymentId !== undefined);
    await waitFor(api, early?.deploymentId as string, (d) => d.phase === "InProgress");
    const long = await Promise.all(tenants.map((t) => start(t, 6, 1000)));
    for (const id of long) await waitFor(api, id, (d) => d.phase === "InProgress");
    assert.equal(midway.state, "Running", "the rollout is still in flight when the stack stops");
    const created = await fetch(`${api}/tenants/northwind`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directoryId: "a0000000-0000-4000-8000-000000000003",
        serviceBus: { namespace: "northwind.servicebus.windows.net" },
      }),
    });
    assert.equal(created.status, 201);
    running = undefined;
    assert.equal(await first.stop(), 0);

    const second = (running = await spawnStack(dataDir));
    const api2 = second.api;
    for (const [i, id] of long.entries()) {
      const resumed = await waitFor(api2, id, (d) => d.outcome !== undefined);
      assert.equal(resumed.outcome, "Succeeded", `${tenants[i]}'s deployment finishes after the restart`);
    }
    const after = await assertRolloutTruth(api2.replace(/\/api$/, ""), rolloutId, 90_000);
    assert.equal(after.state, "Succeeded", "the rollout in flight finishes after the restart");
    assert.deepEqual(
      after.waves.map((w) => [w.name, w.total, w.succeeded]),
      [
        ["canary", 1, 1],
        ["early", 2, 2],
        ["broad", 3, 3],
      ],
    );
    const origin = new URL(api2).origin;
    for (const id of [quick, ...shared, ...long]) await assertOneTruth(origin, id);
    // Each customer's agent keeps its deployments in a task hub of its own, apart from the Provider's.
    const tableEndpoint = /Table Storage\s+(\S+)/.exec(second.output())?.[1] as string;
    const tables: string[] = [];
    for await (const t of TableServiceClient.fromConnectionString(tableConnectionString(tableEndpoint), {
      allowInsecureConnection: true,
    }).listTables())
      if (t.name?.startsWith("DurableDev")) tables.push(t.name);
    assert.deepEqual(tables.sort(), [
      "DurableDevAgentAdatum",
      "DurableDevAgentContoso",
      "DurableDevAgentFabrikam",
      "DurableDevAgentLitware",
      "DurableDevAgentTailspin",
      "DurableDevAgentWingtip",
      "DurableDevDeployOrchestrator",
    ]);
    const again = (await (await fetch(`${api2}/tenants`)).json()) as { items: { name: string }[] };
    assert.deepEqual(
      again.items.map((t) => t.name),
      ["adatum", "contoso", "fabrikam", "litware", "northwind", "tailspin", "wingtip"],
      "registrations survive a restart",
    );
    running = undefined;
    assert.equal(await second.stop(), 0);
  } finally {
    // A failed assertion must not leave the stack's processes holding the test run open.
    await running?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
