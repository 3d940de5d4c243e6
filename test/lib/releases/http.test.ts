import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";
import { startInMemoryAgents } from "../../../dev/in-memory-agents";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { specDigest } from "../../../lib/deployments/model";
import { apiClient, expectProblem } from "../../helpers/api";
import { localProviderSettings } from "../../helpers/provider";
import { assertOneTruth, assertRolloutTruth } from "../../helpers/one-truth";
import { namespaceConfig, sleep, startEmulator } from "../../helpers/servicebus";
import { registerLocalTenant } from "../../helpers/tenants";

// Releases and per-tenant parameters through the Provider app on the dev host: a release is created once,
// a deployment or a rollout names it, and each tenant is sent the release's spec with its own parameters
// (the orchestration's input is what the Deploy carries). Two customers answer through in-memory agents.
const root = path.join(__dirname, "..", "..", "..", "..");
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
let agents: { close(): Promise<void> } | undefined;

const queues = [
  { name: "commands", properties: { LockDuration: "PT5S" } },
  { name: "status", properties: { LockDuration: "PT5S" } },
];

before(async () => {
  azurite = await startAzurite();
  emulator = await startEmulator([namespaceConfig("contoso", queues), namespaceConfig("fabrikam", queues)]);
  host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    log: () => {},
    settings: localProviderSettings(azurite.connectionString, emulator.namespaces),
  });
  await registerLocalTenant(host.url, "contoso", "c0000000-0000-4000-8000-000000000001", {
    parameters: { region: "westeurope", replicas: 3, dbPassword: { setting: "DB_PASSWORD" } },
    labels: { ring: "all" },
  });
  await registerLocalTenant(host.url, "fabrikam", "c0000000-0000-4000-8000-000000000002", {
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
});

const api = apiClient(() => host!.url);

const SPEC = { demo: { steps: 1 }, image: "app:2.4.0", parameters: { replicas: 1, tier: "standard" } };

/** The deployment once it has an outcome. */
async function finished(id: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await api(`deployments/${id}`);
    const body = (await res.json()) as Record<string, unknown>;
    if (body.outcome !== undefined) return body;
    if (Date.now() > deadline) assert.fail(`deployment ${id} did not finish: ${JSON.stringify(body)}`);
    await sleep(200);
  }
}

/** The spec the orchestration was started with, i.e. the one its Deploy carried. */
async function sentSpec(instanceId: string): Promise<unknown> {
  const res = await fetch(
    `${host!.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}?showInput=true`,
  );
  return ((await res.json()) as { input: { spec: unknown } }).input.spec;
}

describe("releases", () => {
  test("created once: a repeat answers the stored release, another spec under the version is 409; listed newest first", async () => {
    const created = await api("releases", {
      method: "POST",
      body: { version: "2.4.0", spec: SPEC, description: "spring release" },
    });
    assert.equal(created.status, 201, await created.clone().text());
    assert.match(String(created.headers.get("location")), /\/api\/releases\/2\.4\.0$/);
    const body = (await created.json()) as Record<string, unknown>;
    assert.deepEqual(body.spec, SPEC);
    assert.equal((body.createdBy as { name: string }).name, "local");

    const repeat = await api("releases", {
      method: "POST",
      body: { version: "2.4.0", spec: SPEC, description: "spring release" },
    });
    assert.equal(repeat.status, 200);
    await expectProblem(
      await api("releases", { method: "POST", body: { version: "2.4.0", spec: { other: true } } }),
      409,
      "version",
    );
    for (const version of ["2.10.0", "2.4.1-rc.1", "2.4.1"])
      assert.equal((await api("releases", { method: "POST", body: { version, spec: SPEC } })).status, 201);
    const list = (await (await api("releases")).json()) as { items: { version: string; spec?: unknown }[] };
    assert.deepEqual(
      list.items.map((r) => r.version),
      ["2.10.0", "2.4.1", "2.4.1-rc.1", "2.4.0"],
    );
    assert.ok(
      list.items.every((r) => r.spec === undefined),
      "lists leave the spec out",
    );
    const one = (await (await api("releases/2.4.0")).json()) as { spec: unknown };
    assert.deepEqual(one.spec, SPEC);
  });

  test("a health check is kept with its defaults and sent in the spec; a raw spec's must be valid", async () => {
    const res = await api("releases", {
      method: "POST",
      body: { version: "2.5.0", spec: SPEC, healthCheck: { probe: { path: "/healthz" } } },
    });
    assert.equal(res.status, 201, await res.clone().text());
    const check = { version: 1, probe: { path: "/healthz" }, windowSeconds: 300, intervalSeconds: 30 };
    assert.deepEqual(
      ((await (await api("releases/2.5.0")).json()) as { healthCheck: unknown }).healthCheck,
      check,
    );
    await expectProblem(
      await api("releases", { method: "POST", body: { version: "2.5.0", spec: SPEC } }),
      409,
      "version",
    );
    const started = await api("tenants/fabrikam/deployments", { method: "POST", body: { release: "2.5.0" } });
    const { id, instanceId } = (await started.json()) as { id: string; instanceId: string };
    assert.deepEqual(await sentSpec(instanceId), { ...SPEC, healthCheck: check });
    assert.equal((await finished(id)).outcome, "Succeeded");
    await expectProblem(
      await api("tenants/fabrikam/deployments", {
        method: "POST",
        body: { spec: { healthCheck: { ...check, windowSeconds: 1 } } },
      }),
      400,
      "spec.healthCheck.windowSeconds",
    );
  });

  test("bad input is a 400 naming the field; a missing release is 404", async () => {
    for (const [body, field] of [
      [{ version: "2.4", spec: SPEC }, "version"],
      [{ version: "01.2.3", spec: SPEC }, "version"],
      [{ version: "1.2.3+build.5", spec: SPEC }, "version"],
      [{ version: "1.2.3", spec: { parameters: ["a"] } }, "spec.parameters"],
      [{ version: "1.2.3" }, "spec"],
      [{ version: "1.2.3", spec: SPEC, healthCheck: { windowSeconds: 2 } }, "healthCheck.windowSeconds"],
      [
        { version: "1.2.3", spec: SPEC, healthCheck: { windowSeconds: 600, intervalSeconds: 1 } },
        "healthCheck.intervalSeconds",
      ],
      [{ version: "1.2.3", spec: SPEC, healthCheck: { url: "https://x" } }, "healthCheck.url"],
      [{ version: "1.2.3", spec: { ...SPEC, healthCheck: { version: 1 } } }, "spec.healthCheck"],
    ] as const)
      await expectProblem(await api("releases", { method: "POST", body }), 400, field);
    await expectProblem(await api("releases/not-a-version"), 400, "version");
    await expectProblem(await api("releases/9.9.9"), 404);
  });
});

describe("deploying a release", () => {
  test("each tenant gets the release's spec with its own parameters; the record keeps the release and the digest of what was sent", async () => {
    const started: Record<string, { id: string; instanceId: string }> = {};
    for (const tenant of ["contoso", "fabrikam"]) {
      const res = await api(`tenants/${tenant}/deployments`, { method: "POST", body: { release: "2.4.0" } });
      assert.equal(res.status, 202, await res.clone().text());
      started[tenant] = (await res.json()) as { id: string; instanceId: string };
    }
    const rendered = {
      ...SPEC,
      parameters: {
        replicas: 3,
        tier: "standard",
        region: "westeurope",
        dbPassword: { setting: "DB_PASSWORD" },
      },
    };
    assert.deepEqual(await sentSpec(started.contoso!.instanceId), rendered);
    assert.deepEqual(await sentSpec(started.fabrikam!.instanceId), SPEC, "no parameters: the release's spec");
    for (const [tenant, expected] of [
      ["contoso", rendered],
      ["fabrikam", SPEC],
    ] as const) {
      const record = await finished(started[tenant]!.id);
      assert.equal(record.outcome, "Succeeded");
      assert.equal(record.release, "2.4.0");
      assert.equal(record.specDigest, specDigest(expected));
      await assertOneTruth(host!.url, started[tenant]!.id);
    }
  });

  test("a retry deploys what the attempt sent, under the same release", async () => {
    const failing = { demo: { steps: 1, failTenants: ["contoso"] } };
    assert.equal(
      (await api("releases", { method: "POST", body: { version: "3.0.0-fail", spec: failing } })).status,
      201,
    );
    const res = await api("tenants/contoso/deployments", { method: "POST", body: { release: "3.0.0-fail" } });
    const { id, instanceId } = (await res.json()) as { id: string; instanceId: string };
    assert.equal((await finished(id)).outcome, "Failed");
    const retried = await api(`deployments/${id}/retry`, { method: "POST" });
    assert.equal(retried.status, 202, await retried.clone().text());
    const next = (await retried.json()) as { instanceId: string };
    const record = await finished(id);
    assert.equal(record.attempt, 2);
    assert.equal(record.release, "3.0.0-fail");
    const rendered = {
      ...failing,
      parameters: { region: "westeurope", replicas: 3, dbPassword: { setting: "DB_PASSWORD" } },
    };
    assert.deepEqual(await sentSpec(instanceId), rendered);
    assert.deepEqual(await sentSpec(next.instanceId), rendered, "the retry sends what attempt 1 sent");
    await assertOneTruth(host!.url, id);
  });

  test("spec and release together, neither, or a release that does not exist: 400 naming the field", async () => {
    await expectProblem(
      await api("tenants/contoso/deployments", { method: "POST", body: { spec: SPEC, release: "2.4.0" } }),
      400,
      "release",
    );
    await expectProblem(await api("tenants/contoso/deployments", { method: "POST", body: {} }), 400, "spec");
    await expectProblem(
      await api("tenants/contoso/deployments", { method: "POST", body: { release: "7.7.7" } }),
      400,
      "release",
    );
    await expectProblem(
      await api("rollouts", {
        method: "POST",
        body: { release: "7.7.7", targets: { selector: "ring=all" } },
      }),
      400,
      "release",
    );
  });

  test("a rollout of a release renders each tenant's spec at its start", async () => {
    const res = await api("rollouts", {
      method: "POST",
      body: { release: "2.10.0", targets: { selector: "ring=all" }, bakeSeconds: 0 },
    });
    assert.equal(res.status, 202, await res.clone().text());
    const { id } = (await res.json()) as { id: string };
    const deadline = Date.now() + 60_000;
    let rollout: { state: string; release?: string; tenants?: { tenant: string; deploymentId?: string }[] };
    for (;;) {
      rollout = (await (await api(`rollouts/${id}`)).json()) as typeof rollout;
      if (rollout.state === "Succeeded") break;
      if (Date.now() > deadline) assert.fail(`rollout did not finish: ${JSON.stringify(rollout)}`);
      await sleep(300);
    }
    assert.equal(rollout.release, "2.10.0");
    await assertRolloutTruth(host!.url, id);
    for (const t of rollout.tenants ?? []) {
      const record = await finished(t.deploymentId!);
      assert.equal(record.release, "2.10.0");
      const sent = (await sentSpec(String(record.instanceId))) as { parameters: Record<string, unknown> };
      assert.equal(sent.parameters.region, t.tenant === "contoso" ? "westeurope" : undefined);
    }
  });
});

describe("tenant parameters", () => {
  test("a secret value, a secret-looking name, a bad name or too many: 400 naming the field", async () => {
    const put = (parameters: unknown) =>
      fetch(`${host!.url}/api/tenants/wingtip`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          directoryId: "c0000000-0000-4000-8000-000000000009",
          serviceBus: { namespace: "wingtip.servicebus.localhost" },
          auth: { mode: "sas", sasSetting: "TENANT_WINGTIP_SAS" },
          parameters,
        }),
      });
    await expectProblem(
      await put({ db: "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=abc=" }),
      400,
      "parameters.db",
    );
    await expectProblem(await put({ password: "hunter2" }), 400, "parameters.password");
    for (const name of ["dbPassword", "api_token", "storage-key", "clientSecretValue", "sasUrl"])
      await expectProblem(await put({ [name]: "hunter2" }), 400, `parameters.${name}`);
    // The documented form of a secret: the name of a setting the agent resolves, under any name.
    const named = await put({ password: { setting: "DB_PASSWORD" }, bypassCache: true, region: "x" });
    assert.equal(named.status, 201, await named.text());
    assert.equal((await api("tenants/wingtip", { method: "DELETE" })).status, 204);
    await expectProblem(await put({ "9lives": 1 }), 400, "parameters.9lives");
    await expectProblem(await put({ nested: { a: 1 } }), 400, "parameters.nested");
    await expectProblem(
      await put(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`p${i}`, i]))),
      400,
      "parameters",
    );
  });
});

describe("inventory", () => {
  test("each tenant's current, previous and in-flight release, counts by version and label, drift and filters", async () => {
    await registerLocalTenant(host!.url, "northwind", "c0000000-0000-4000-8000-000000000003", {
      labels: { ring: "late" },
    });
    interface Item {
      tenant: string;
      current?: { release: string };
      previous?: { release: string };
      inFlight?: { release: string };
    }
    const inventory = (await (await api("inventory")).json()) as {
      items: Item[];
      counts: {
        byVersion: Record<string, number>;
        byLabel: Record<string, Record<string, Record<string, number>>>;
      };
    };
    const of = (tenant: string) => inventory.items.find((i) => i.tenant === tenant);
    // contoso: 2.4.0, then 3.0.0-fail failed twice (not installed), then 2.10.0 through the rollout.
    assert.equal(of("contoso")?.current?.release, "2.10.0");
    assert.equal(of("contoso")?.previous?.release, "2.4.0");
    assert.equal(of("fabrikam")?.current?.release, "2.10.0");
    assert.equal(of("northwind")?.current, undefined);
    assert.ok(
      inventory.items.every((i) => i.inFlight === undefined),
      "nothing in flight",
    );
    assert.deepEqual(inventory.counts.byVersion, { "2.10.0": 2, none: 1 });
    assert.deepEqual(inventory.counts.byLabel.ring, { all: { "2.10.0": 2 }, late: { none: 1 } });

    const names = async (p: string) =>
      ((await (await api(p)).json()) as { items: { tenant?: string; name?: string }[] }).items
        .map((i) => i.tenant ?? i.name)
        .sort();
    assert.deepEqual(await names("inventory?behind=2.10.0"), ["northwind"]);
    assert.deepEqual(await names("inventory?behind=3.0.0"), ["contoso", "fabrikam", "northwind"]);
    assert.deepEqual(await names("inventory?release=2.10.0&selector=ring%3Dall"), ["contoso", "fabrikam"]);
    assert.deepEqual(await names("tenants?release=2.10.0"), ["contoso", "fabrikam"]);
    await expectProblem(await api("inventory?behind=latest"), 400, "behind");
    await expectProblem(await api("inventory?selector=ring%20in"), 400, "selector");
    await expectProblem(await api("tenants?release=x"), 400, "release");
  });

  test("a deployment of a release in flight shows as inFlight until it ends; what failed is not installed", async () => {
    const stall = { demo: { outcome: "stall" } };
    await api("releases", { method: "POST", body: { version: "4.0.0-stall", spec: stall } });
    const res = await api("tenants/fabrikam/deployments", {
      method: "POST",
      body: { release: "4.0.0-stall" },
    });
    const { id } = (await res.json()) as { id: string };
    interface Item {
      current?: { release: string };
      inFlight?: { release: string };
    }
    const item = async () =>
      (
        (await (await api("inventory?selector=ring%3Dall")).json()) as {
          items: (Item & { tenant: string })[];
        }
      ).items.find((i) => i.tenant === "fabrikam");
    assert.equal((await item())?.inFlight?.release, "4.0.0-stall");
    assert.equal((await item())?.current?.release, "2.10.0");
    assert.equal((await api(`deployments/${id}/cancel`, { method: "POST" })).status, 202);
    assert.equal((await finished(id)).outcome, "Cancelled");
    assert.equal((await item())?.inFlight, undefined);
    assert.equal((await item())?.current?.release, "2.10.0", "a cancelled release is not installed");
    await assertOneTruth(host!.url, id);
  });
});

// Last: these releases (4.x) would change what the inventory above finds current.
interface HealthRollout {
  state: string;
  errors: number;
  message?: string;
  tenants: { tenant: string; phase: string; deploymentId?: string; outcome?: string; health?: string }[];
}

/** Starts a rollout of `release` over both tenants (contoso first) and answers it once it has ended. */
async function rolloutOf(
  release: string,
  extra: Record<string, unknown> = {},
): Promise<HealthRollout & { id: string }> {
  const res = await api("rollouts", {
    method: "POST",
    body: { release, targets: { selector: "ring=all" }, maxConcurrency: 1, ...extra },
  });
  assert.equal(res.status, 202, await res.clone().text());
  const { id } = (await res.json()) as { id: string };
  const deadline = Date.now() + 90_000;
  for (;;) {
    const r = (await (await api(`rollouts/${id}`)).json()) as HealthRollout;
    if (["Succeeded", "Halted", "Aborted"].includes(r.state)) return { ...r, id };
    if (Date.now() > deadline) assert.fail(`rollout did not end: ${JSON.stringify(r)}`);
    await sleep(300);
  }
}

describe("health-gated rollouts (a release's healthCheck)", () => {
  const health = { probe: { path: "/healthz" }, windowSeconds: 5, intervalSeconds: 1 };

  test("an unhealthy tenant spends the error budget: the rollout halts before the next wave", async () => {
    const spec = { demo: { steps: 1, stepMs: 50, unhealthyTenants: ["contoso"] } };
    const created = await api("releases", {
      method: "POST",
      body: { version: "4.0.0", spec, healthCheck: health },
    });
    assert.equal(created.status, 201, await created.clone().text());
    const r = await rolloutOf("4.0.0", {
      waves: [{ name: "first", tenants: ["contoso"] }, { name: "rest" }],
    });
    assert.equal(r.state, "Halted", JSON.stringify(r));
    assert.match(String(r.message), /unhealthy/);
    assert.equal(r.errors, 1);
    const byTenant = Object.fromEntries(r.tenants.map((t) => [t.tenant, t]));
    assert.equal(byTenant.contoso?.outcome, "Succeeded");
    assert.equal(byTenant.contoso?.health, "Unhealthy");
    assert.equal(byTenant.fabrikam?.phase, "Skipped");
    const record = (await finished(byTenant.contoso!.deploymentId!)) as {
      health?: { state: string; message?: string };
    };
    assert.equal(record.health?.state, "Unhealthy");
    assert.match(String(record.health?.message), /probe 1 of 5 failed/);
    await assertOneTruth(host!.url, byTenant.contoso!.deploymentId!);
    await assertRolloutTruth(host!.url, r.id);
  });

  test("healthy tenants pass the gate and the rollout succeeds, each verdict on its record", async () => {
    const spec = { demo: { steps: 1, stepMs: 50 } };
    const check = { ...health, intervalSeconds: 5 };
    const created = await api("releases", {
      method: "POST",
      body: { version: "4.1.0", spec, healthCheck: check },
    });
    assert.equal(created.status, 201, await created.clone().text());
    const r = await rolloutOf("4.1.0", { maxConcurrency: 2 });
    assert.equal(r.state, "Succeeded", JSON.stringify(r));
    assert.deepEqual(
      r.tenants.map((t) => [t.tenant, t.health]),
      [
        ["contoso", "Healthy"],
        ["fabrikam", "Healthy"],
      ],
    );
    for (const t of r.tenants) await assertOneTruth(host!.url, t.deploymentId!);
    await assertRolloutTruth(host!.url, r.id);
  });
});
