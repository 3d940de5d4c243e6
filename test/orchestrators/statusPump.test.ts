/**
 * The statusPump orchestration on its own (real SDK replay on the dev host's durable engine, Azurite
 * state), with a scripted `pumpStatuses` activity standing in for the customer's queue: a failed cycle
 * is retried with backoff inside the pump, not left to a waiting deployment's re-ensure.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import { startHarness, waitFor, type Harness } from "../dev/durable/harness";
import { ACTIVITIES, ORCHESTRATIONS, PUMP_RETRY, type PumpResult } from "../../lib/deployments/contract";

/** Per tenant, what each successive cycle does: throw, or answer a result. */
const scripts = new Map<string, (Error | PumpResult)[]>();
const calls = new Map<string, number>();

let h: Harness;
before(async () => {
  h = await startHarness(() => {
    // The real module, loaded as the host loads it: it registers `statusPump` at module load.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- registration must happen inside the capture
    require("../../orchestrators/statusPump");
    df.app.activity(ACTIVITIES.pumpStatuses.name, {
      handler: (input: { tenant: string }) => {
        calls.set(input.tenant, (calls.get(input.tenant) ?? 0) + 1);
        const next = scripts.get(input.tenant)?.shift() ?? { received: 0, active: 0 };
        if (next instanceof Error) throw next;
        return next;
      },
    });
  });
});

after(async () => {
  await h.close();
});

test("a failing cycle is retried with backoff, and the pump goes on once the queue answers again", async () => {
  scripts.set("flaky", [
    new Error("broker unreachable"),
    new Error("broker unreachable"),
    { received: 2 },
    { received: 0, active: 0 },
  ]);
  const id = await h.client.startNew(ORCHESTRATIONS.statusPump, { input: { tenant: "flaky" } });
  const s = await waitFor(h.client, id, undefined, 15_000);
  assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s));
  assert.deepEqual(s.output, { received: 0, active: 0 }, "it ended idle, not failed");
  assert.equal(calls.get("flaky"), 4);
});

test("while it retries the pump is Running and says why in its custom status", async () => {
  scripts.set("down", [new Error("broker unreachable"), new Error("still down")]);
  const id = await h.client.startNew(ORCHESTRATIONS.statusPump, { input: { tenant: "down" } });
  const retrying = await waitFor(h.client, id, (s) => {
    const c = s.customStatus as { failures?: number } | null;
    return (c?.failures ?? 0) >= 1;
  });
  assert.equal(String(retrying.runtimeStatus), "Running");
  const custom = retrying.customStatus as { failures: number; lastError: string; retryAt: string };
  assert.match(custom.lastError, /broker unreachable/);
  assert.ok(Date.parse(custom.retryAt) > 0);
  const done = await waitFor(h.client, id, undefined, 15_000);
  assert.equal(done.runtimeStatus, "Completed");
});

test("after too many failures in a row the pump stops instead of retrying forever", async () => {
  assert.ok(PUMP_RETRY.maxFailures >= 5, "the cap leaves minutes for an outage to pass");
  // Drive the last failure directly: an execution that already counts maxFailures - 1 failures.
  scripts.set("gone", [new Error("namespace deleted")]);
  const id = await h.client.startNew(ORCHESTRATIONS.statusPump, {
    input: { tenant: "gone", failures: PUMP_RETRY.maxFailures - 1 },
  });
  const s = await waitFor(h.client, id);
  assert.equal(s.runtimeStatus, "Completed");
  assert.deepEqual(s.output, { received: 0 });
  assert.match((s.customStatus as { lastError: string }).lastError, /namespace deleted/);
});
