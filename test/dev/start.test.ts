import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnStack } from "../../dev/stack-process";

test("npm start brings up the stack with the simulated customers registered, stops cleanly on Ctrl-C, and keeps state", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-"));
  try {
    const first = await spawnStack(dataDir);
    const api = first.api;
    const list = (await (await fetch(`${api}/tenants`)).json()) as {
      items: { name: string; serviceBus: { namespace: string } }[];
    };
    assert.deepEqual(
      list.items.map((t) => [t.name, t.serviceBus.namespace]),
      [
        ["contoso", "contoso.servicebus.localhost"],
        ["fabrikam", "fabrikam.servicebus.localhost"],
      ],
    );
    const onboarding = await fetch(`${api}/tenants/contoso/onboarding`);
    assert.equal(onboarding.status, 200);
    // A deployment runs end to end through the simulated customer's agent.
    const started = await fetch(`${api}/tenants/contoso/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ spec: { demo: { outcome: "succeed", steps: 2, stepMs: 50 } } }),
    });
    assert.equal(started.status, 202);
    const { id } = (await started.json()) as { id: string };
    const deadline = Date.now() + 20_000;
    let outcome: unknown;
    while (Date.now() < deadline && outcome === undefined) {
      outcome = ((await (await fetch(`${api}/deployments/${id}`)).json()) as { outcome?: string }).outcome;
      if (outcome === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(outcome, "Succeeded", first.output());
    const verify = (await (await fetch(`${api}/tenants/fabrikam/verify`, { method: "POST" })).json()) as {
      ok: boolean;
    };
    assert.equal(verify.ok, true);
    const created = await fetch(`${api}/tenants/northwind`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directoryId: "a0000000-0000-4000-8000-000000000003",
        serviceBus: { namespace: "northwind.servicebus.windows.net" },
      }),
    });
    assert.equal(created.status, 201);
    assert.equal(await first.stop(), 0);

    const second = await spawnStack(dataDir);
    const api2 = second.api;
    const again = (await (await fetch(`${api2}/tenants`)).json()) as { items: { name: string }[] };
    assert.deepEqual(
      again.items.map((t) => t.name),
      ["contoso", "fabrikam", "northwind"],
      "registrations survive a restart",
    );
    assert.equal(await second.stop(), 0);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
