import { test } from "node:test";
import assert from "node:assert/strict";
import { app } from "@azure/functions";
import * as df from "durable-functions";
import {
  captureRegistrations,
  DuplicateFunctionError,
  FunctionRegistry,
} from "../../../dev/host/functions-core";

test("captures http, timer and durable registrations made through the real SDKs", () => {
  const registry = new FunctionRegistry();
  captureRegistrations(registry, () => {
    app.http("hello", { methods: ["GET"], route: "hello/{name?}", handler: async () => ({ body: "hi" }) });
    app.timer("tick", { schedule: "0 */5 * * * *", handler: async () => {} });
    df.app.orchestration("coreTestOrchestrator", function* (context) {
      return yield context.df.callActivity("coreTestActivity");
    });
    df.app.activity("coreTestActivity", { handler: async () => 2 });
  });
  const http = registry.get("HELLO");
  assert.ok(http);
  assert.equal(http.trigger.type, "httpTrigger");
  assert.equal(http.trigger.route, "hello/{name?}");
  assert.deepEqual(http.trigger.methods, ["GET"]);
  assert.equal(registry.get("tick")?.trigger.schedule, "0 */5 * * * *");
  assert.equal(registry.byTriggerType("orchestrationTrigger")[0]?.name, "coreTestOrchestrator");
  assert.equal(registry.byTriggerType("activityTrigger")[0]?.name, "coreTestActivity");
});

test("rejects a second function with the same name, case-insensitively", () => {
  const registry = new FunctionRegistry();
  assert.throws(
    () =>
      captureRegistrations(registry, () => {
        app.http("dup", { handler: async () => ({}) });
        app.http("DUP", { handler: async () => ({}) });
      }),
    DuplicateFunctionError,
  );
});

test("refuses registrations outside a capture", () => {
  assert.throws(
    () => app.http("late", { handler: async () => ({}) }),
    /outside the dev host's loading phase/,
  );
});
