import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../dev/azurite";
import { RunningHost, startHost } from "../../dev/host";
import { rawRequest } from "../helpers/http";
import { localProviderSettings } from "../helpers/provider";

// The Provider app on the dev host: what no route takes is answered by the app's catch-all in
// problem+json, and odd paths (traversal shapes, bad escapes) are client errors, never a 5xx.
const root = path.join(__dirname, "..", "..", "..");
let azurite: RunningAzurite;
let host: RunningHost | undefined;

before(async () => {
  azurite = await startAzurite();
  host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    settings: localProviderSettings(azurite.connectionString, []),
    log: () => {},
  });
});

after(async () => {
  await host?.stop();
  await azurite.stop();
});

const send = (method: string, p: string) => rawRequest(host!.url, method, p);

function problem(res: { status: number; headers: Record<string, unknown>; text: string }, status: number) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers["content-type"], "application/problem+json", res.text);
  const body = JSON.parse(res.text) as { status: number; title: string; errors?: { field: string }[] };
  assert.equal(body.status, status);
  return body;
}

describe("the catch-all", () => {
  test("an unknown path is 404 problem+json, whatever the method", async () => {
    for (const [method, p] of [
      ["GET", "/api/nope"],
      ["POST", "/api/nope/deeper"],
      ["GET", "/api"],
      ["GET", "/api/"],
      ["DELETE", "/api/deployments"],
      ["GET", "/api/tenants/contoso/deployments/extra"],
    ] as const) {
      const body = problem(await send(method, p), 404);
      assert.equal(body.title, "Not Found");
    }
  });

  test("a known path with another method is 405 problem+json with Allow", async () => {
    const cases: [string, string, string][] = [
      ["DELETE", "/api/deployments/d-1/cancel", "POST"],
      ["PUT", "/api/deployments/x", "GET"],
      ["PATCH", "/api/tenants/contoso", "GET, PUT, DELETE"],
      ["DELETE", "/api/tenants/contoso/deployments", "POST, GET"],
      ["POST", "/api/dashboard", "GET"],
      ["HEAD", "/api/tenants", "GET"],
    ];
    for (const [method, p, allow] of cases) {
      const res = await send(method, p);
      assert.equal(res.status, 405, `${method} ${p}`);
      assert.equal(res.headers.allow, allow, `${method} ${p}`);
      if (method !== "HEAD") problem(res, 405);
    }
  });

  test("specific routes, the dashboard and the Durable webhooks are not swallowed", async () => {
    assert.equal((await send("GET", "/api/tenants")).status, 200);
    assert.equal((await send("GET", "/api/TENANTS")).status, 200, "routes are case-insensitive");
    const dashboard = await send("GET", "/api/dashboard");
    assert.equal(dashboard.status, 200);
    assert.match(String(dashboard.headers["content-type"]), /text\/html/);
    problem(await send("GET", "/api/deployments/unknown-id"), 404);
    const webhooks = await send("GET", "/runtime/webhooks/durabletask/instances/nope");
    assert.equal(webhooks.status, 404);
    assert.match(webhooks.text, /No instance with ID 'nope'/, "the Durable management API answered");
  });
});
