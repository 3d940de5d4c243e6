import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { RunningHost, startHost } from "../../../dev/host";
import { clientFor, namespaceConfig, sleep, startEmulator } from "../../helpers/servicebus";

const appDir = path.join(__dirname, "..", "..", "..", "..", "test", "fixtures", "host-app");
let emulator: RunningEmulator;
let host: RunningHost;
const logs: { level: string; message: string; props?: Record<string, unknown> }[] = [];
const events = () =>
  (globalThis as unknown as { __hostAppEvents: Record<string, unknown>[] }).__hostAppEvents;

const hostNamespace = (extra: Record<string, unknown> = {}) =>
  namespaceConfig(
    "hostns",
    [{ name: "work", properties: { LockDuration: "PT5S", MaxDeliveryCount: 2 } }],
    extra,
  );

before(async () => {
  emulator = await startEmulator([hostNamespace()]);
  host = await startHost({
    appDir,
    port: 0,
    quiet: true,
    settings: {
      FIXTURE_SERVICEBUS: emulator.namespaces[0]!.connectionString,
      FUNCTIONS_FUNCTION_KEY: "fixture-key",
    },
    log: (level, message, props) => logs.push({ level, message, props }),
  });
});

after(async () => {
  await host?.stop();
  await emulator.stop();
});

const get = (p: string, init?: RequestInit) => fetch(`${host.url}${p}`, init);

describe("loading", () => {
  test("finds every function through the package.json main glob and lists HTTP URLs", () => {
    const names = host.functions.map((f) => f.name).sort();
    assert.deepEqual(names, [
      "boom",
      "cookie",
      "echo",
      "files",
      "greet",
      "items",
      "keyed",
      "nothing",
      "status",
      "tick",
      "work",
    ]);
    assert.equal(host.functions.find((f) => f.name === "greet")?.url, `${host.url}/api/greet/{name?}`);
  });

  test("local.settings.json Values reach the app", async () => {
    const body = (await (await get("/api/greet/ada?q=1")).json()) as Record<string, unknown>;
    assert.deepEqual(body, { greeting: "hello from local.settings.json", name: "ada", q: "1" });
  });
});

describe("HTTP triggers", () => {
  test("optional, constrained and catch-all route parameters", async () => {
    assert.equal(((await (await get("/api/greet")).json()) as { name: unknown }).name, null);
    assert.deepEqual(await (await get("/api/items/42")).json(), { id: 42 });
    assert.equal((await get("/api/items/abc")).status, 404, "int constraint");
    assert.equal(await (await get("/api/files/a/b/c.txt")).text(), "path=a/b/c.txt");
  });

  test("request bodies, status and headers round-trip", async () => {
    const res = await get("/api/items/7", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ a: 1 }),
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("x-item"), "7");
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    assert.deepEqual(await res.json(), { id: 7, body: { a: 1 } });
  });

  test("cookies, empty results and the invocation context", async () => {
    const cookie = await get("/api/cookie");
    assert.match(cookie.headers.get("set-cookie") ?? "", /session=abc; Path=\/; HttpOnly/);
    assert.equal((await get("/api/nothing", { method: "POST" })).status, 204);
    const echo = (await (await get("/api/echo", { method: "POST", body: "12345" })).json()) as Record<
      string,
      unknown
    >;
    assert.equal(echo.length, 5);
    assert.equal(echo.function, "echo");
    assert.match(String(echo.invocationId), /^[0-9a-f-]{36}$/);
    const structured = logs.find((l) => l.message === "echoing");
    assert.equal(
      structured?.props?.length,
      5,
      "JSON log lines from the app are merged into the host's entry",
    );
    assert.equal(structured?.props?.invocationId, echo.invocationId);
  });

  test("unknown route 404, wrong method 405, handler error 500 without internals", async () => {
    assert.equal((await get("/api/nope")).status, 404);
    assert.equal((await get("/nope")).status, 404);
    assert.equal((await get("/api/greet/x", { method: "DELETE" })).status, 405);
    const boom = await get("/api/boom");
    assert.equal(boom.status, 500);
    assert.doesNotMatch(await boom.text(), /secret internal detail/);
    const failed = logs.find((l) => l.message.includes("'boom' (Failed)"));
    assert.ok(failed, "the failure is logged with the invocation");
    assert.equal(failed.props?.error, "secret internal detail");
  });

  test("function keys are enforced when configured", async () => {
    assert.equal((await get("/api/keyed")).status, 401);
    assert.equal((await get("/api/keyed?code=wrong")).status, 401);
    assert.equal(await (await get("/api/keyed?code=fixture-key")).text(), "keyed ok");
    assert.equal((await get("/api/keyed", { headers: { "x-functions-key": "fixture-key" } })).status, 200);
  });

  test("each invocation is logged once with function, id, duration, outcome and HTTP status", async () => {
    await get("/api/items/1");
    const line = logs.filter((l) => l.message === "Executed 'items' (Succeeded, status 200)").at(-1);
    assert.ok(line);
    assert.equal(line.level, "debug", "routine: a console at the default LOG_LEVEL (info) leaves it out");
    assert.equal(line.props?.function, "items");
    assert.equal(line.props?.status, 200);
    assert.match(String(line.props?.invocationId), /^[0-9a-f-]{36}$/);
    assert.equal(typeof line.props?.durationMs, "number");
  });

  test("a returned 5xx is logged as an error with its status, a 4xx as debug", async () => {
    assert.equal((await get("/api/status/503")).status, 503);
    assert.equal((await get("/api/status/404")).status, 404);
    const lines = logs.filter((l) => l.props?.function === "status");
    assert.deepEqual(
      lines.map((l) => [l.level, l.message, l.props?.status]),
      [
        ["error", "Executed 'status' (Succeeded, status 503)", 503],
        ["debug", "Executed 'status' (Succeeded, status 404)", 404],
      ],
    );
  });
});

describe("timer and Service Bus triggers", () => {
  test("the timer runs on startup and then on its six-field schedule", async () => {
    const deadline = Date.now() + 5000;
    while (events().filter((e) => e.kind === "timer").length < 2 && Date.now() < deadline) await sleep(100);
    const ticks = events().filter((e) => e.kind === "timer");
    assert.ok(ticks.length >= 2, `ticks: ${ticks.length}`);
    assert.equal(ticks[0]?.fn, "tick");
    assert.ok(typeof ticks[0]?.next === "string");
  });

  test("messages are delivered with metadata, completed on success, dead-lettered after repeated failure", async () => {
    const client = clientFor(emulator);
    const sender = client.createSender("work");
    await sender.sendMessages([
      { body: { n: 1 }, messageId: "ok-1" },
      { body: { fail: true }, messageId: "bad-1" },
    ]);
    const deadline = Date.now() + 8000;
    while (
      events().filter((e) => e.kind === "servicebus" && e.messageId === "bad-1").length < 2 &&
      Date.now() < deadline
    )
      await sleep(100);
    const seen = events().filter((e) => e.kind === "servicebus");
    assert.deepEqual(seen.find((e) => e.messageId === "ok-1")?.message, { n: 1 });
    assert.deepEqual(
      seen.filter((e) => e.messageId === "bad-1").map((e) => e.deliveryCount),
      [0, 1],
    );
    const dlq = client.createReceiver("work", {
      subQueueType: "deadLetter",
      receiveMode: "receiveAndDelete",
    });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    assert.equal(dead?.messageId, "bad-1");
    assert.equal(dead?.deadLetterReason, "MaxDeliveryCountExceeded");
    const main = client.createReceiver("work");
    assert.deepEqual(await main.peekMessages(5), [], "the good message was completed");
    await client.close();
  });
});

describe("broker outage", () => {
  test("a Service Bus trigger resumes by itself when the broker comes back on its address", async () => {
    const port = emulator.namespaces[0]!.port;
    await emulator.stop();
    await sleep(300);
    emulator = await startEmulator([hostNamespace({ Port: port })]);
    const client = clientFor(emulator);
    await client.createSender("work").sendMessages({ body: { n: 2 }, messageId: "after-restart" });
    const deadline = Date.now() + 15_000;
    while (!events().some((e) => e.messageId === "after-restart") && Date.now() < deadline) await sleep(100);
    assert.ok(
      events().some((e) => e.messageId === "after-restart"),
      "delivered after the restart",
    );
    await client.close();
  });
});

describe("app lifecycle hooks", () => {
  test("appStart runs before any function, appTerminate on stop with the same hookData; stop is idempotent", async () => {
    assert.equal(events().filter((e) => e.kind === "appStart").length, 1);
    assert.equal(events().filter((e) => e.kind === "appTerminate").length, 0);
    await host.stop();
    await host.stop();
    assert.deepEqual(
      events().filter((e) => e.kind === "appTerminate"),
      [{ kind: "appTerminate", sawStart: true }],
    );
  });
});
