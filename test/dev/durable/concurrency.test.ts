import { test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { startHarness, waitFor } from "./harness";

test("activity concurrency is capped and one instance never replays concurrently", async () => {
  let activeActivities = 0;
  let maxActivities = 0;
  const replaying = new Set<string>();
  let overlaps = 0;
  const h = await startHarness(
    () => {
      df.app.activity("Tracked", {
        handler: async (n: number) => {
          maxActivities = Math.max(maxActivities, ++activeActivities);
          await new Promise((r) => setTimeout(r, 20));
          activeActivities--;
          return n;
        },
      });
      df.app.orchestration("Collector", function* (ctx: OrchestrationContext) {
        const got: number[] = yield ctx.df.Task.all(
          Array.from({ length: 10 }, (_, i) => ctx.df.waitForExternalEvent(`e${i}`)),
        );
        const echoed: number[] = yield ctx.df.Task.all(got.map((n) => ctx.df.callActivity("Tracked", n)));
        return echoed.reduce((a, b) => a + b, 0);
      });
    },
    { maxConcurrentActivities: 2, maxConcurrentOrchestrations: 4 },
  );
  try {
    // Watch the SDK-wrapped orchestrator: a second call for the same instance while one runs is an overlap.
    const engine = h.engine as unknown as {
      options: { registry: { get(n: string): { handler: (...a: unknown[]) => unknown } } };
    };
    const entry = engine.options.registry.get("Collector");
    const original = entry.handler;
    entry.handler = async (trigger: unknown, ctx: unknown) => {
      const id = (trigger as { instanceId: string }).instanceId;
      if (replaying.has(id)) overlaps++;
      replaying.add(id);
      try {
        return await original(trigger, ctx);
      } finally {
        replaying.delete(id);
      }
    };
    const ids = await Promise.all([0, 1, 2].map(() => h.client.startNew("Collector")));
    await Promise.all(
      ids.flatMap((id) => Array.from({ length: 10 }, (_, i) => h.client.raiseEvent(id, `e${i}`, i))),
    );
    for (const id of ids) {
      const s = await waitFor(h.client, id);
      assert.equal(s.output, 45);
    }
    assert.equal(overlaps, 0);
    assert.ok(maxActivities <= 2, `at most 2 activities at once, saw ${maxActivities}`);
    assert.equal(maxActivities, 2);
  } finally {
    await h.close();
  }
});
