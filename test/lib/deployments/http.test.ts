import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { localProviderSettings } from "../../helpers/provider";
import { namespaceConfig, startEmulator } from "../../helpers/servicebus";

// The deployments API's answers to bad client input, through the Provider app on the dev host (its
// durable client is real, so a start really records and starts an attempt).
const root = path.join(__dirname, "..", "..", "..", "..");
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
const hostLog: { level: string; message: string; props?: Record<string, unknown> }[] = [];

before(async () => {
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
    settings: localProviderSettings(azurite.connectionString, emulator.namespaces),
    log: (level, message, props) => hostLog.push({ level, message, props }),
  });
  const res = await fetch(`${host.url}/api/tenants/contoso`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      directoryId: "c0000000-0000-4000-8000-000000000001",
      serviceBus: { namespace: "contoso.servicebus.localhost" },
      auth: { mode: "sas", sasSetting: "CONTOSO_SAS" },
    }),
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
});

interface Problem {
  status: number;
  detail?: string;
  errors?: { field: string; message: string }[];
}

async function expectProblem(res: Response, status: number, field?: string): Promise<Problem> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = JSON.parse(text) as Problem;
  assert.equal(body.status, status);
  if (field !== undefined)
    assert.ok(
      body.errors?.some((e) => e.field === field),
      `expected an error on "${field}", got ${JSON.stringify(body.errors)}`,
    );
  return body;
}

describe("listing a tenant's deployments", () => {
  test("a continuation token the API did not hand out is 400 naming it, and the host logs no 5xx", async () => {
    const json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64");
    for (const token of ["garbage", json(null), json({ nextPartitionKey: ["contoso"] }), "%%%"]) {
      const before = hostLog.length;
      const res = await fetch(
        `${host!.url}/api/tenants/contoso/deployments?continuationToken=${encodeURIComponent(token)}`,
      );
      await expectProblem(res, 400, "continuationToken");
      const executed = hostLog.slice(before).find((l) => l.message.startsWith("Executed 'deploymentsList'"));
      assert.equal(executed?.props?.status, 400, JSON.stringify(executed));
    }
  });
});
