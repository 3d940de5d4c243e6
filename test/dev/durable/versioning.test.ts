/**
 * Orchestration versioning as the Durable extension does it: host.json `defaultVersion` is given to every
 * new orchestration (sub-orchestrations and continue-as-new too) and read by the SDK as
 * `context.df.version`; an explicit version on start wins; the status shows it; an instance whose version
 * the worker does not match is left for another worker (`Reject`) or failed (`Fail`); an instance started
 * before versioning (no version) is older than any version and runs on a `CurrentOrOlder` worker.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { startAzurite } from "../../../dev/azurite";
import type { DurableVersioning } from "../../../dev/host/durable-contract";
import { startHarness, waitFor, type Harness } from "./harness";

function registerVersionedApp(): void {
  df.app.orchestration("Child", function* (ctx: OrchestrationContext) {
    yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 1));
    return ctx.df.version ?? null;
  });
  df.app.orchestration("Parent", function* (ctx: OrchestrationContext) {
    const child: unknown = yield ctx.df.callSubOrchestrator("Child", null, `${ctx.df.instanceId}-child`);
    const pinned: unknown = yield ctx.df.callSubOrchestrator(
      "Child",
      null,
      `${ctx.df.instanceId}-pinned`,
      "0.9",
    );
    return { own: ctx.df.version ?? null, child, pinned };
  });
  df.app.orchestration("Twice", function* (ctx: OrchestrationContext) {
    const round = ctx.df.getInput<number>() ?? 0;
    yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 1));
    if (round === 0) {
      ctx.df.continueAsNew(1);
      return undefined;
    }
    return ctx.df.version ?? null;
  });
  df.app.orchestration("Waits", function* (ctx: OrchestrationContext) {
    const go: unknown = yield ctx.df.waitForExternalEvent("go");
    return { version: ctx.df.version ?? null, go };
  });
}

const current = (over: Partial<DurableVersioning> = {}): DurableVersioning => ({
  defaultVersion: "2.0",
  versionMatchStrategy: "CurrentOrOlder",
  versionFailureStrategy: "Reject",
  ...over,
});

test("new orchestrations, their sub-orchestrations and continue-as-new executions carry the default version", async () => {
  const h = await startHarness(registerVersionedApp, { versioning: current() });
  try {
    const id = await h.client.startNew("Parent");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.output));
    assert.deepEqual(s.output, { own: "2.0", child: "2.0", pinned: "0.9" });
    const status = (await (
      await fetch(`${h.baseUrl}/runtime/webhooks/durabletask/instances/${id}`)
    ).json()) as {
      version: string | null;
    };
    assert.equal(status.version, "2.0", "the management API shows the instance's version");

    const again = await h.client.startNew("Twice");
    assert.equal((await waitFor(h.client, again)).output, "2.0", "continue-as-new keeps the version");

    const explicit = await h.client.startNew("Waits", { version: "1.5" });
    await h.client.raiseEvent(explicit, "go", 1);
    assert.deepEqual((await waitFor(h.client, explicit)).output, { version: "1.5", go: 1 });
  } finally {
    await h.close();
  }
});

test("an instance started before versioning keeps no version and runs on a CurrentOrOlder worker", async () => {
  const azurite = await startAzurite();
  const before = await startHarness(registerVersionedApp, { azurite });
  try {
    const id = await before.client.startNew("Waits");
    await waitFor(before.client, id, (s) => s.runtimeStatus === "Running");
    await before.close();
    const after = await startHarness(registerVersionedApp, { azurite, versioning: current() });
    try {
      await after.client.raiseEvent(id, "go", "upgraded");
      assert.deepEqual((await waitFor(after.client, id)).output, { version: null, go: "upgraded" });
    } finally {
      await after.close();
    }
  } finally {
    await azurite.stop();
  }
});

test("a worker does not run an instance newer than its version: Reject leaves it waiting, Fail fails it", async () => {
  const azurite = await startAzurite();
  const open: Harness[] = [];
  const worker = async (versioning: DurableVersioning) => {
    const h = await startHarness(registerVersionedApp, { azurite, versioning });
    open.push(h);
    return h;
  };
  const stop = async (h: Harness) => {
    open.splice(open.indexOf(h), 1);
    await h.close();
  };
  try {
    const newer = await worker(current({ defaultVersion: "3.0" }));
    const rejected = await newer.client.startNew("Waits");
    const failed = await newer.client.startNew("Waits");
    await waitFor(newer.client, failed, (s) => s.runtimeStatus === "Running");
    await waitFor(newer.client, rejected, (s) => s.runtimeStatus === "Running");
    await stop(newer);

    // An older worker (a rollback, or a slot not yet upgraded) with the default Reject strategy.
    const older = await worker(current());
    await older.client.raiseEvent(rejected, "go", 1);
    await waitFor(older.client, rejected, () =>
      older.logs.some((l) => /does not match this worker's '2\.0'/.test(l)),
    );
    assert.equal(
      (await older.client.getStatus(rejected)).runtimeStatus,
      "Running",
      "left for a matching worker",
    );
    await stop(older);

    // Back on a worker of its version, the rejected instance takes its event and completes.
    const upgraded = await worker(current({ defaultVersion: "3.0" }));
    assert.deepEqual((await waitFor(upgraded.client, rejected)).output, { version: "3.0", go: 1 });
    await stop(upgraded);

    const failing = await worker(current({ versionFailureStrategy: "Fail" }));
    await failing.client.raiseEvent(failed, "go", 1);
    const s = await waitFor(failing.client, failed);
    assert.equal(s.runtimeStatus, "Failed");
    assert.match(String(s.output), /version '3\.0' does not match this worker's '2\.0'/);
  } finally {
    for (const h of [...open]) await h.close();
    await azurite.stop();
  }
});

test("Strict runs only its own version", async () => {
  const h = await startHarness(registerVersionedApp, {
    versioning: current({ versionMatchStrategy: "Strict", versionFailureStrategy: "Fail" }),
  });
  try {
    const same = await h.client.startNew("Waits");
    const older = await h.client.startNew("Waits", { version: "1.0" });
    await h.client.raiseEvent(same, "go", 1);
    assert.equal((await waitFor(h.client, same)).runtimeStatus, "Completed");
    const s = await waitFor(h.client, older);
    assert.equal(s.runtimeStatus, "Failed");
    assert.match(String(s.output), /versionMatchStrategy Strict/);
  } finally {
    await h.close();
  }
});
