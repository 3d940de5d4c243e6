/**
 * The audit wrapper on its own, with a sink standing in for the table: every state-changing route is
 * declared, the answer passes through unchanged (also when the write fails, which is logged with the
 * record's fields), and a record holds neither the body nor the query string nor other headers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { HttpHandler, HttpResponseInit } from "@azure/functions";
import { AUDITED_ROUTES, auditRoutes } from "../../../lib/audit/routes";
import type { AuditEntry } from "../../../lib/audit/store";
import { json } from "../../../lib/http/handler";
import { API_ROUTES, type ApiRoute } from "../../../lib/http/routes";
import { makeContext, makeRequest } from "../../helpers/http";

test("every route with a method other than GET declares its audit action and target", () => {
  const mutating = Object.entries(API_ROUTES as Record<string, ApiRoute>)
    .filter(([, r]) => r.methods.some((m) => m !== "GET"))
    .map(([name]) => name)
    .sort();
  assert.deepEqual(Object.keys(AUDITED_ROUTES).sort(), mutating);
});

const handler: HttpHandler = async () => json(202, { id: "d-1", tenant: "contoso" });

test("the record names action, target from the answer, status, actor, invocation and request ids", async () => {
  const written: AuditEntry[] = [];
  const wrapped = auditRoutes(() => ({ append: async (e) => void written.push(e) })).http(
    "deploymentsStart",
    handler,
  );
  const context = makeContext("deploymentsStart");
  const request = makeRequest({
    method: "POST",
    url: "http://localhost:7071/api/tenants/contoso/deployments?code=SECRET-FUNCTION-KEY",
    params: { tenant: "contoso" },
    headers: { "x-ms-request-id": "r-1", authorization: "Bearer SECRET-TOKEN", "x-extra": "nope" },
    body: { spec: { password: "SECRET-IN-BODY" } },
  });
  const answer = (await wrapped(request, context)) as HttpResponseInit;
  assert.equal(answer.status, 202);
  assert.equal(written.length, 1);
  const { at, invocationId, ...rest } = written[0]!;
  assert.ok(!Number.isNaN(Date.parse(at)));
  assert.equal(invocationId, context.invocationId);
  assert.deepEqual(rest, {
    actor: { name: "local" },
    action: "deployment.start",
    target: "deployment:d-1",
    status: 202,
    requestId: "r-1",
  });
  assert.doesNotMatch(JSON.stringify(written), /SECRET|nope/);
});

test("a failed audit write still answers, and logs the record's fields as an error", async () => {
  const wrapped = auditRoutes(() => ({
    append: async () => {
      throw new Error("Table Storage unavailable (ECONNREFUSED)");
    },
  })).http("deploymentsStart", handler);
  const context = makeContext("deploymentsStart");
  const answer = (await wrapped(
    makeRequest({ method: "POST", params: { tenant: "contoso" }, body: { spec: {} } }),
    context,
  )) as HttpResponseInit;
  assert.equal(answer.status, 202);
  const line = context.logs.find((l) => l.includes("audit record not written"));
  assert.ok(line, context.logs.join("\n"));
  assert.match(line, /"level":"error"/);
  assert.match(line, /deployment\.start/);
  assert.match(line, /deployment:d-1/);
  assert.match(line, /ECONNREFUSED/);
});

test("a handler that throws is recorded as 500 and the error goes on", async () => {
  const written: AuditEntry[] = [];
  const wrapped = auditRoutes(() => ({ append: async (e) => void written.push(e) })).http(
    "tenantsDelete",
    async () => {
      throw new Error("bug");
    },
  );
  await assert.rejects(
    async () => wrapped(makeRequest({ method: "DELETE", params: { tenant: "contoso" } }), makeContext()),
    /bug/,
  );
  assert.deepEqual(
    written.map((e) => [e.action, e.target, e.status]),
    [["tenant.delete", "tenant:contoso", 500]],
  );
});

test("a route that changes nothing is not wrapped", () => {
  const audit = auditRoutes(() => ({ append: async () => undefined }));
  assert.equal(audit.http("deploymentsGet", handler), handler);
});
