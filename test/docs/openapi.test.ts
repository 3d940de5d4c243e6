import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { captureRegistrations, FunctionRegistry } from "../../dev/host/functions-core";

const root = path.join(__dirname, "..", "..", "..");

test("docs/openapi.yaml documents exactly the HTTP routes and methods the Provider registers", () => {
  const registry = new FunctionRegistry();
  captureRegistrations(registry, () => {
    for (const file of fs.readdirSync(path.join(root, "dist", "triggers"))) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      if (file.endsWith(".js")) require(path.join(root, "dist", "triggers", file));
    }
  });
  const registered = new Set<string>();
  for (const fn of registry.byTriggerType("httpTrigger")) {
    for (const method of fn.trigger.methods as string[]) {
      registered.add(
        `${method.toUpperCase()} /${String(fn.trigger.route).replace(/\{(\w+)\??(:[^}]*)?\}/g, "{$1}")}`,
      );
    }
  }
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
