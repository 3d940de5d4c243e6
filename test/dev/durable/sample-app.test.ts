import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { HttpRequest, HttpResponse, InvocationContext } from "@azure/functions";
import { startHarness, type Harness } from "./harness";

const appDir = path.join(__dirname, "..", "..", "..", "..", "test", "fixtures", "durable-app");

/** Calls one of the app's HTTP functions the way a host does, with the durableClient input filled. */
async function callHttp(h: Harness, name: string, url: string, params: Record<string, string>, body = "") {
  const f = h.registry.get(name);
  assert.ok(f, `${name} is registered`);
  const extraInputs = Object.entries(f.bindings)
    .filter(([, b]) => b.type === "durableClient")
    .map(([bindingName, b]) => ({ ...b, name: bindingName }));
  const context = new InvocationContext({
    functionName: f.name,
    invocationId: "sample",
    options: { trigger: f.trigger as never, extraInputs: extraInputs as never, extraOutputs: [] },
  });
  for (const input of extraInputs) context.extraInputs.set(input as never, h.engine.clientBindingData());
  const request = new HttpRequest({ method: "POST", url, params, body: { string: body } });
  return (await f.handler(request, context)) as HttpResponse;
}

async function pollStatus(url: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await fetch(url);
    if (res.status === 200) return (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 202);
    if (Date.now() > deadline) throw new Error(`still running: ${url}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("official-sample-shaped app (test/fixtures/durable-app) on the engine", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(() => {
      // The app's modules are loaded the way a host loads them: plain CommonJS requires.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(path.join(appDir, "src", "functions", "orchestrations.js"));
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(path.join(appDir, "src", "functions", "http.js"));
    });
  });
  after(async () => {
    await h.close();
  });

  const cases: [string, string, unknown][] = [
    ["helloSequence", "", ["Hello Tokyo", "Hello Seattle", "Hello Cairo"]],
    ["sayHelloWithSubOrchestrator", '"Ada"', "Hello Ada"],
    ["sayHelloWithCustomStatus", '"Bob"', "Hello Bob"],
    ["cancelTimer", "", "Hello from the other side"],
  ];
  for (const [orchestrator, body, expected] of cases) {
    test(`${orchestrator} through httpStart and the check-status links`, async () => {
      const url = `${h.baseUrl}/api/orchestrators/${orchestrator}`;
      const response = await callHttp(h, "httpStart", url, { orchestratorName: orchestrator }, body);
      assert.equal(response.status, 202);
      assert.equal(response.headers.get("Retry-After"), "10");
      const links = (await response.json()) as { statusQueryGetUri: string };
      assert.ok(links.statusQueryGetUri.startsWith(h.baseUrl));
      assert.equal(response.headers.get("Location"), links.statusQueryGetUri);
      const status = await pollStatus(links.statusQueryGetUri);
      assert.equal(status.runtimeStatus, "Completed");
      assert.deepEqual(status.output, expected);
      if (orchestrator === "sayHelloWithCustomStatus") assert.equal(status.customStatus, "Hello Bob");
      if (orchestrator === "helloSequence")
        assert.ok(
          h.logs.includes("info: Starting chain sample"),
          "the orchestrator's context.log reaches the log",
        );
    });
  }

  test("httpSyncStart waits for helloWithRetry (host-side retries) and returns its output", async () => {
    const url = `${h.baseUrl}/api/orchestrators/wait/helloWithRetry?timeout=10&retryInterval=0.05`;
    const response = await callHttp(h, "httpSyncStart", url, { orchestratorName: "helloWithRetry" });
    assert.equal(response.status, 200);
    assert.match(String(await response.json()), /^Hello .* after 2 attempts$/);
  });
});
