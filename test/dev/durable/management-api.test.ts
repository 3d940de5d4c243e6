import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { HttpRequest } from "@azure/functions";
import { startHarness, waitFor, type Harness } from "./harness";
import { registerFixtureApp } from "./fixture-app";

describe("durable management HTTP API", () => {
  let h: Harness;
  const hook = (path: string) => `${h.baseUrl}/runtime/webhooks/durabletask/${path}`;
  before(async () => {
    h = await startHarness(registerFixtureApp);
  });
  after(async () => {
    await h.close();
  });

  test("createCheckStatusResponse links reach the public status route (202 running, 200 done)", async () => {
    const id = await h.client.startNew("Waits", { instanceId: "check-status-1" });
    assert.equal(id, "check-status-1");
    const response = h.client.createCheckStatusResponse(
      new HttpRequest({ method: "POST", url: `${h.baseUrl}/api/start` }),
      id,
    );
    assert.equal(response.status, 202);
    const links = (await response.json()) as Record<string, string>;
    assert.equal(response.headers.get("Location"), links.statusQueryGetUri);
    await waitFor(h.client, id, (s) => s.runtimeStatus === "Running");
    const running = await fetch(links.statusQueryGetUri);
    assert.equal(running.status, 202);
    const body = (await running.json()) as Record<string, unknown>;
    assert.equal(body.runtimeStatus, "Running");
    assert.equal(body.output, null);
    assert.equal(body.customStatus, null);

    const raise = await fetch(links.sendEventPostUri.replace("{eventName}", "never"), {
      method: "POST",
      body: JSON.stringify({ v: 1 }),
      headers: { "Content-Type": "application/json" },
    });
    assert.equal(raise.status, 202);
    const done = await waitFor(h.client, id);
    assert.deepEqual(done.output, { v: 1 });
    assert.equal((await fetch(links.statusQueryGetUri)).status, 200);
    const late = await fetch(links.sendEventPostUri.replace("{eventName}", "never"), {
      method: "POST",
      body: "1",
    });
    assert.equal(late.status, 410);
  });

  test("starting an id that is still running is refused; a finished one can be reused", async () => {
    await h.client.startNew("Waits", { instanceId: "dup-1" });
    const again = await fetch(hook("orchestrators/Waits/dup-1"), { method: "POST", body: "" });
    assert.equal(again.status, 500);
    assert.match(((await again.json()) as { message: string }).message, /already exists/);
    await h.client.terminate("dup-1", "enough");
    const t = await waitFor(h.client, "dup-1");
    assert.equal(t.runtimeStatus, "Terminated");
    assert.equal(t.output, "enough");
    await h.client.startNew("HelloSequence", { instanceId: "dup-1", input: "again" });
    const s = await waitFor(h.client, "dup-1");
    assert.equal(s.runtimeStatus, "Completed");
    assert.equal(s.name, "HelloSequence");
  });

  test("create-and-wait start returns the output when done in time, else the check-status response", async () => {
    const done = await fetch(hook("orchestrators/HelloSequence?timeout=5&pollingInterval=0.02"), {
      method: "POST",
      body: JSON.stringify("Oslo"),
    });
    assert.equal(done.status, 200);
    assert.deepEqual(await done.json(), ["Hello Tokyo!", "Hello Seattle!", "Hello Oslo!"]);
    const pending = await fetch(hook("orchestrators/Waits?timeout=0.05&pollingInterval=0.01"), {
      method: "POST",
    });
    assert.equal(pending.status, 202);
    const links = (await pending.json()) as { id: string; terminatePostUri: string };
    assert.equal(pending.headers.get("Retry-After"), "10");
    await h.client.terminate(links.id, "cleanup");
  });

  test("suspend holds events until resume", async () => {
    const id = await h.client.startNew("Waits");
    await waitFor(h.client, id, (s) => s.runtimeStatus === "Running");
    await h.client.suspend(id, "hold");
    await waitFor(h.client, id, (s) => s.runtimeStatus === "Suspended");
    await h.client.raiseEvent(id, "never", "held");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await h.client.getStatus(id)).runtimeStatus, "Suspended");
    await h.client.resume(id, "go");
    const s = await waitFor(h.client, id);
    assert.equal(s.output, "held");
  });

  test("status options, unknown instances and bad requests", async () => {
    const id = await h.client.startNew("HelloSequence", { input: "X" });
    await waitFor(h.client, id);
    const noInput = (await (await fetch(hook(`instances/${id}?showInput=false`))).json()) as Record<
      string,
      unknown
    >;
    assert.equal(noInput.input, null);
    assert.equal(noInput.historyEvents, undefined);
    const withHistory = (await (await fetch(hook(`instances/${id}?showHistory=true`))).json()) as {
      historyEvents: { Result?: unknown }[];
    };
    assert.ok(withHistory.historyEvents.length > 0);
    assert.ok(withHistory.historyEvents.every((e) => e.Result === undefined));

    assert.equal((await fetch(hook("instances/nope"))).status, 404);
    assert.equal((await fetch(hook("instances/nope/raiseEvent/x"), { method: "POST" })).status, 404);
    await assert.rejects(h.client.getStatus("nope"), /404/);
    const unknown = await fetch(hook("orchestrators/NoSuchThing"), { method: "POST", body: "" });
    assert.equal(unknown.status, 400);
    assert.match(((await unknown.json()) as { message: string }).message, /NoSuchThing/);
    assert.equal((await fetch(hook("orchestrators/Waits"), { method: "POST", body: "{bad" })).status, 400);
    assert.equal((await fetch(hook("instances/?runtimeStatus=Sleeping"))).status, 400);
    assert.equal((await fetch(hook("instances/?createdTimeFrom=yesterday"))).status, 400);
    assert.equal((await fetch(hook("instances/?top=0"))).status, 400);
    assert.equal((await fetch(hook(`instances/${id}?showHistory=maybe`))).status, 400);
    assert.equal((await fetch(hook("instances/%E0%A4%A"))).status, 400);
    // Ids no instance can have: they reached Table Storage as keys it refuses, and answered 500.
    for (const [method, path] of [
      ["GET", "instances/a%2fb"],
      ["GET", "instances/..%2f..%2fx"],
      ["GET", "instances/%zz"],
      ["GET", "instances/a%00"],
      ["DELETE", "instances/a%2fb"],
      ["POST", "instances/a%2fb/terminate"],
      ["POST", "instances/a%2Fb/raiseEvent/x"],
      ["POST", "instances/%zz/raiseEvent/x"],
      ["POST", "orchestrators/Waits/a%2fb"],
    ] as const) {
      const res = await fetch(hook(path), { method });
      assert.equal(res.status, 400, `${method} ${path}: ${await res.clone().text()}`);
      assert.ok(((await res.json()) as { message: string }).message.length > 0);
    }
    const badToken = await fetch(hook("instances/?top=1"), {
      headers: { "x-ms-continuation-token": "garbage" },
    });
    assert.equal(badToken.status, 400);
    assert.match(((await badToken.json()) as { message: string }).message, /x-ms-continuation-token/);
    const upper = (await (await fetch(hook(`instances/${id}?showInput=FALSE`))).json()) as { input: unknown };
    assert.equal(upper.input, null);
    assert.equal((await fetch(hook("elsewhere"))).status, 404);
  });

  test("list filters by status and created time, pages with continuation tokens", async () => {
    const from = new Date();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await h.client.startNew("HelloSequence", { input: `p${i}` }));
    for (const id of ids) await waitFor(h.client, id);
    const to = new Date();
    const listed = await h.client.getStatusBy({
      createdTimeFrom: from,
      createdTimeTo: to,
      runtimeStatus: ["Completed" as never],
    });
    assert.deepEqual(listed.map((s) => s.instanceId).sort(), [...ids].sort());

    const byPrefix = (await (await fetch(hook(`instances/?instanceIdPrefix=${ids[0]}`))).json()) as {
      instanceId: string;
    }[];
    assert.deepEqual(
      byPrefix.map((s) => s.instanceId),
      [ids[0]],
    );

    const seen: string[] = [];
    let token: string | null = null;
    do {
      const res: Response = await fetch(hook(`instances/?top=2&createdTimeFrom=${from.toISOString()}`), {
        headers: token ? { "x-ms-continuation-token": token } : {},
      });
      const page = (await res.json()) as { instanceId: string }[];
      assert.ok(page.length <= 2);
      seen.push(...page.map((s) => s.instanceId));
      token = res.headers.get("x-ms-continuation-token");
    } while (token);
    assert.deepEqual(seen.sort(), [...ids].sort());
  });

  test("purge one and by filter; restart with a new or the same id", async () => {
    const from = new Date();
    const a = await h.client.startNew("HelloSequence", { input: "a" });
    const b = await h.client.startNew("HelloSequence", { input: "b" });
    await waitFor(h.client, a);
    await waitFor(h.client, b);

    const restart = await fetch(hook(`instances/${a}/restart`), { method: "POST" });
    assert.equal(restart.status, 202);
    const newId = ((await restart.json()) as { id: string }).id;
    assert.notEqual(newId, a);
    assert.deepEqual((await waitFor(h.client, newId)).output, ["Hello Tokyo!", "Hello Seattle!", "Hello a!"]);
    const same = await fetch(hook(`instances/${b}/restart?restartWithNewInstanceId=false`), {
      method: "POST",
    });
    assert.equal(((await same.json()) as { id: string }).id, b);
    await waitFor(h.client, b);

    assert.equal((await h.client.purgeInstanceHistory(a)).instancesDeleted, 1);
    assert.equal((await h.client.purgeInstanceHistory(a)).instancesDeleted, 0);
    const purged = await h.client.purgeInstanceHistoryBy({
      createdTimeFrom: from,
      runtimeStatus: ["Completed" as never],
    });
    assert.equal(purged.instancesDeleted, 2);
    assert.equal((await fetch(hook(`instances/${b}`))).status, 404);
  });
});
