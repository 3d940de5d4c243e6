import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { HttpRequest, InvocationContext } from "@azure/functions";
import { apiHandler } from "../../../lib/http/handler";
import { platformAuthProblem, reportPlatformAuthAtStart } from "../../../lib/http/platform-auth";
import { createLogger } from "../../../lib/logging/logger";

// Role checks on without App Service Authentication in front: the principal header is
// forgeable, so the API refuses to serve. Every setting is given here explicitly (process.env included),
// so no variable from the machine decides an outcome.
const saved = { roles: process.env.AUTH_REQUIRE_ROLES, auth: process.env.WEBSITE_AUTH_ENABLED };
afterEach(() => {
  for (const [name, value] of [
    ["AUTH_REQUIRE_ROLES", saved.roles],
    ["WEBSITE_AUTH_ENABLED", saved.auth],
  ] as const)
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
});

const context = () => new InvocationContext({ invocationId: "inv-1", functionName: "t" });
const request = () =>
  new HttpRequest({
    url: "http://localhost/api/tenants",
    method: "GET",
    headers: {
      "x-ms-client-principal": Buffer.from(
        JSON.stringify({ claims: [{ typ: "roles", val: "Tenants.Admin" }] }),
      ).toString("base64"),
    },
  });

async function run(settings?: { requireRoles: boolean; platformAuthEnabled: boolean }) {
  let ran = false;
  const handler = apiHandler(
    async () => {
      ran = true;
      return { status: 200 };
    },
    ...(settings ? [() => settings] : []),
  );
  const res = await handler(request(), context());
  return { ran, status: res.status, headers: res.headers as Record<string, string>, body: res.body };
}

test("role checks on and App Service Authentication off: 503 problem naming both settings, handler never runs", async () => {
  const res = await run({ requireRoles: true, platformAuthEnabled: false });
  assert.equal(res.ran, false);
  assert.equal(res.status, 503);
  assert.equal(res.headers["content-type"], "application/problem+json");
  const body = JSON.parse(String(res.body)) as Record<string, unknown>;
  assert.equal(body.status, 503);
  assert.match(String(body.title), /role checks are on but App Service Authentication is not enabled/i);
  assert.match(String(body.detail), /AUTH_REQUIRE_ROLES/);
  assert.match(String(body.detail), /WEBSITE_AUTH_ENABLED/);
  assert.deepEqual(body.settings, ["AUTH_REQUIRE_ROLES", "WEBSITE_AUTH_ENABLED"]);
});

test("role checks on behind App Service Authentication, or role checks off: the handler runs", async () => {
  assert.deepEqual(
    [
      await run({ requireRoles: true, platformAuthEnabled: true }),
      await run({ requireRoles: false, platformAuthEnabled: false }),
      await run({ requireRoles: false, platformAuthEnabled: true }),
    ].map((r) => [r.ran, r.status]),
    [
      [true, 200],
      [true, 200],
      [true, 200],
    ],
  );
});

test("without injected settings the check reads the process's app settings (WEBSITE_AUTH_ENABLED=True as App Service sets it)", async () => {
  process.env.AUTH_REQUIRE_ROLES = "true";
  delete process.env.WEBSITE_AUTH_ENABLED;
  assert.equal((await run()).status, 503);
  process.env.WEBSITE_AUTH_ENABLED = "True";
  assert.equal((await run()).status, 200);
  process.env.WEBSITE_AUTH_ENABLED = "False";
  assert.equal((await run()).status, 503);
  process.env.AUTH_REQUIRE_ROLES = "false";
  delete process.env.WEBSITE_AUTH_ENABLED;
  assert.equal((await run()).status, 200);
});

test("the start-up error is logged once per process, naming the settings; nothing when all is well", () => {
  const entries: Record<string, unknown>[] = [];
  const log = createLogger((_level, entry) => entries.push(entry));
  assert.equal(reportPlatformAuthAtStart({ requireRoles: true, platformAuthEnabled: true }, log), false);
  assert.equal(reportPlatformAuthAtStart({ requireRoles: false, platformAuthEnabled: false }, log), false);
  assert.equal(entries.length, 0);
  assert.equal(reportPlatformAuthAtStart({ requireRoles: true, platformAuthEnabled: false }, log), true);
  assert.equal(reportPlatformAuthAtStart({ requireRoles: true, platformAuthEnabled: false }, log), false);
  assert.equal(entries.length, 1);
  assert.equal(entries[0]?.level, "error");
  assert.match(String(entries[0]?.message), /App Service Authentication is not enabled/);
  assert.match(JSON.stringify(entries[0]), /AUTH_REQUIRE_ROLES[\s\S]*WEBSITE_AUTH_ENABLED/);
  assert.equal(platformAuthProblem({ requireRoles: true, platformAuthEnabled: true }), undefined);
});
