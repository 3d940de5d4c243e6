import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startHarness, waitFor, type Harness } from "./harness";
import { registerFixtureApp } from "./fixture-app";

describe("durable engine actions (real SDK replay, Azurite state, real DurableClient)", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(registerFixtureApp);
  });
  after(async () => {
    await h.close();
  });

  test("activity sequence completes with the activities' results and a history", async () => {
    const id = await h.client.startNew("HelloSequence", { input: "London" });
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed");
    assert.deepEqual(s.output, ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]);
    assert.equal(s.input, "London");
    const types = (s.history as { EventType: string }[]).map((e) => e.EventType);
    assert.deepEqual(types, [
      "ExecutionStarted",
      "TaskScheduled",
      "TaskCompleted",
      "TaskScheduled",
      "TaskCompleted",
      "TaskScheduled",
      "TaskCompleted",
      "ExecutionCompleted",
    ]);
  });

  test("activity retries run host-side with retry timers; exhausted retries surface the failure", async () => {
    const id = await h.client.startNew("Retries");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.output));
    const out = s.output as { ok: string; failure: string };
    assert.equal(out.ok, `${id} ok after 3`);
    assert.match(out.failure, /Activity function 'AlwaysFails' failed: always broken/);
    const types = (s.history as { EventType: string }[]).map((e) => e.EventType);
    assert.equal(types.filter((t) => t === "TimerFired").length, 4, types.join(","));
  });

  test("a retried call that succeeded leaves no retry state behind (300 of them fit the instance row)", async () => {
    const id = await h.client.startNew("ManyRetriedCalls");
    const s = await waitFor(h.client, id, undefined, 60_000);
    assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.output));
    assert.equal(s.output, 300);
  });

  test("retries interleaved with activities, a timer and a sub-orchestration in one Task.all", async () => {
    const id = await h.client.startNew("MixedRetries");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.output));
    assert.deepEqual(s.output, [
      `${id}-a ok after 3`,
      2,
      `${id}-b ok after 3`,
      ["Hello Tokyo!", "Hello Seattle!", "Hello Rome!"],
      42,
    ]);
  });

  test("sub-orchestrations, with retry, return their outputs to the parent", async () => {
    const id = await h.client.startNew("Parent");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.output));
    assert.deepEqual(s.output, { greetings: ["Hello Tokyo!", "Hello Seattle!", "Hello Paris!"], child: 42 });
  });

  test("a sub-orchestration retried under a fixed child id fails after its attempts, catchable", async () => {
    const id = await h.client.startNew("RetryChildSameId");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed");
    assert.match(String(s.output), /caught: .*child does what it says/);
    const child = await h.client.getStatus(`${id}:0`);
    assert.equal(child.runtimeStatus, "Failed");
    const created = (s.history as { EventType: string }[]).filter(
      (e) => e.EventType === "SubOrchestrationInstanceCreated",
    );
    assert.equal(created.length, 2);
  });

  test("Task.any of timer and event: the event wins, the timer is cancelled; custom status is visible", async () => {
    const id = await h.client.startNew("Approval", { input: 60_000 });
    const running = await waitFor(h.client, id, (s) => s.customStatus === "waiting for approval");
    assert.equal(running.runtimeStatus, "Running");
    await h.client.raiseEvent(id, "approve", "Ada");
    const s = await waitFor(h.client, id);
    assert.equal(s.output, "approved by Ada");
  });

  test("Task.any of timer and event: the timer fires first", async () => {
    const id = await h.client.startNew("Approval", { input: 50 });
    const s = await waitFor(h.client, id);
    assert.equal(s.output, "timed out");
  });

  test("an event raised before the orchestrator waits for it is buffered", async () => {
    const id = await h.client.startNew("EarlyEvent");
    await h.client.raiseEvent(id, "go", "now");
    const s = await waitFor(h.client, id);
    assert.equal(s.output, "2:now");
  });

  test("continueAsNew starts a new execution with a reset history and keeps queued events", async () => {
    const id = await h.client.startNew("Counter", { input: 0 });
    await h.client.raiseEvent(id, "last", "carried");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed");
    assert.deepEqual(s.output, { n: 3, doubled: 6, extra: "carried" });
    const history = s.history as { EventType: string; Input?: unknown }[];
    assert.equal(history[0].EventType, "ExecutionStarted");
    assert.equal(history[0].Input, 3);
    assert.equal(history.filter((e) => e.EventType === "TaskScheduled").length, 1);
  });

  test("Task.all and Task.any", async () => {
    const id = await h.client.startNew("FanOut");
    const s = await waitFor(h.client, id);
    assert.deepEqual(s.output, { sum: 12, any: "Hello any!" });
  });

  test("an orchestrator that throws ends Failed with its message", async () => {
    const id = await h.client.startNew("Throws");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Failed");
    assert.match(String(s.output), /Orchestrator function 'Throws' failed: boom/);
  });

  test("unknown activity and sub-orchestrator names fail clearly instead of hanging", async () => {
    const a = await h.client.startNew("CallsUnknown");
    const sa = await waitFor(h.client, a);
    assert.match(String(sa.output), /caught: .*'NoSuchActivity' doesn't exist/);
    const b = await h.client.startNew("CallsUnknownChild");
    const sb = await waitFor(h.client, b);
    assert.equal(sb.runtimeStatus, "Failed");
    assert.match(String(sb.output), /'NoSuchOrchestrator' doesn't exist/);
  });
});

test("start fails with a clear error naming the storage endpoint, not the key, when storage is unreachable", async () => {
  const { FunctionRegistry } = await import("../../../dev/host/functions-core");
  const { createDurableEngine } = await import("../../../dev/durable/engine");
  const { tableConnectionString, DEV_ACCOUNT_KEY } = await import("../../../dev/azurite");
  const engine = createDurableEngine({
    registry: new FunctionRegistry(),
    storageConnectionString: tableConnectionString("http://127.0.0.1:1"),
    hubName: "TestHubName",
    baseUrl: "http://127.0.0.1:7071",
  });
  await assert.rejects(engine.start(), (e: Error) => {
    assert.match(e.message, /cannot use Table Storage at http:\/\/127\.0\.0\.1:1/);
    assert.ok(!e.message.includes(DEV_ACCOUNT_KEY));
    return true;
  });
  assert.throws(
    () =>
      createDurableEngine({
        registry: new FunctionRegistry(),
        storageConnectionString: "UseDevelopmentStorage=true",
        hubName: "bad-hub!",
        baseUrl: "http://x",
      }),
    /Task hub name "bad-hub!" is invalid/,
  );
});
