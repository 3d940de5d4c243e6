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

describe("path-traversal shapes and bad escapes are client errors", () => {
  const paths = [
    "/api/deployments/..%2f..%2ftenants",
    "/api/deployments/..%2F..%2Ftenants",
    "/api/deployments/%2e%2e",
    "/api/deployments/%2E%2E/cancel",
    "/api/deployments/..",
    "/api/deployments/.%2e/retry",
    "/api/deployments/a%2fb",
    "/api/deployments/%2e%2e%2f%2e%2e%2ftenants",
    "/api/deployments/%zz",
    "/api/deployments/%ff",
    "/api/deployments/%E0%A4%A",
    "/api/deployments/x%00",
    "/api/tenants/..%2f..%2fx",
    "/api/tenants/%zz",
    "/api/tenants/contoso/deployments/..%2f",
    "/api/%zz",
  ];
  for (const p of paths) {
    test(`GET ${p} → 400 naming the parameter, or 404`, async () => {
      const res = await send("GET", p);
      const body = problem(res, res.status);
      assert.ok(res.status === 400 || res.status === 404, `${res.status} ${res.text}`);
      if (res.status === 400)
        assert.ok(
          body.errors?.some((e) => e.field === "id" || e.field === "tenant"),
          res.text,
        );
    });
  }
});
