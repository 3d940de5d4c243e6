import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { captureRegistrations, FunctionRegistry } from "../../dev/host/functions-core";
import { API_ROUTES, ApiRoute } from "../../lib/http/routes";

const root = path.join(__dirname, "..", "..", "..");

test("docs/openapi.yaml documents exactly the HTTP routes and methods the Provider registers, from one table", () => {
  const registry = new FunctionRegistry();
  captureRegistrations(registry, () => {
    for (const file of fs.readdirSync(path.join(root, "dist", "triggers"))) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      if (file.endsWith(".js")) require(path.join(root, "dist", "triggers", file));
    }
  });
  const operation = (method: string, route: string) =>
    `${method.toUpperCase()} /${route.replace(/\{(\w+)\??(:[^}]*)?\}/g, "{$1}")}`;
  const registered = new Set<string>();
  for (const fn of registry.byTriggerType("httpTrigger")) {
    // The catch-all is not an operation: it answers 404/405 for what no route below takes (the spec
    // describes those answers in its info section and the Problem response).
    if (fn.name === "notFound") {
      assert.equal(fn.trigger.route, "{*path}");
      continue;
    }
    for (const method of fn.trigger.methods as string[])
      registered.add(operation(method, String(fn.trigger.route)));
    const row = (API_ROUTES as Record<string, ApiRoute>)[fn.name];
    assert.deepEqual(
      row && { route: row.route, methods: [...row.methods] },
      { route: fn.trigger.route, methods: fn.trigger.methods },
      `function ${fn.name} is registered from its row of API_ROUTES (lib/http/routes.ts)`,
    );
  }
  const table = new Set(
    (Object.values(API_ROUTES) as ApiRoute[]).flatMap((r) => r.methods.map((m) => operation(m, r.route))),
  );
  assert.deepEqual([...table].sort(), [...registered].sort(), "API_ROUTES lists every registered route");
  const doc = parse(fs.readFileSync(path.join(root, "docs", "openapi.yaml"), "utf8")) as {
    paths: Record<string, Record<string, unknown>>;
  };
  const documented = new Set<string>();
  for (const [route, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item)) {
      if (["get", "put", "post", "delete", "patch"].includes(method))
        documented.add(`${method.toUpperCase()} ${route}`);
    }
  }
  assert.deepEqual([...documented].sort(), [...registered].sort());
});
