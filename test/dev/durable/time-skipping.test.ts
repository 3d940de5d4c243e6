/**
 * Time-skipping mode: on a virtual clock, timers fire as soon as nothing else can run, so waits of hours
 * and days finish in milliseconds; nothing skips while an activity runs.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { startHarness, waitFor, type Harness } from "./harness";

const DAY = 24 * 3600 * 1000;
let h: Harness;

before(async () => {
  h = await startHarness(
    () => {
      df.app.orchestration("TwoDayWait", function* (context: OrchestrationContext) {
        const started = context.df.currentUtcDateTime;
        yield context.df.createTimer(new Date(started.getTime() + 2 * DAY));
        return context.df.currentUtcDateTime.getTime() - started.getTime();
      });
      df.app.orchestration("HourlyRetries", function* (context: OrchestrationContext) {
        const started = context.df.currentUtcDateTime;
        const retry = new df.RetryOptions(3600_000, 3);
        const result: unknown = yield context.df.callActivityWithRetry(
          "FailTwice",
          retry,
          context.df.instanceId,
        );
        return { result, elapsed: context.df.currentUtcDateTime.getTime() - started.getTime() };
      });
      df.app.orchestration("EventBeforeTimer", function* (context: OrchestrationContext) {
        yield context.df.callActivity("RaiseGo", context.df.instanceId);
        const go = context.df.waitForExternalEvent("go");
        const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + DAY));
        const winner: unknown = yield context.df.Task.any([go, timer]);
        if (winner === go) timer.cancel();
        return winner === go ? "event" : "timer";
      });
      df.app.orchestration("ActivityBeforeTimer", function* (context: OrchestrationContext) {
        const slow = context.df.callActivity("Slow", 300);
        const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 3600_000));
        const winner: unknown = yield context.df.Task.any([slow, timer]);
        if (winner === slow) timer.cancel();
        return winner === slow ? "activity" : "timer";
      });
      const attempts = new Map<string, number>();
      df.app.activity("FailTwice", {
        handler: (id: string) => {
          const n = (attempts.get(id) ?? 0) + 1;
          attempts.set(id, n);
          if (n < 3) throw new Error(`attempt ${n} failed`);
          return `ok after ${n}`;
        },
      });
      df.app.activity("RaiseGo", {
        handler: async (id: string) => {
          await h.client.raiseEvent(id, "go", true);
          return true;
        },
      });
      df.app.activity("Slow", {
        handler: async (ms: number) => {
          await new Promise((r) => setTimeout(r, ms));
          return ms;
        },
      });
    },
    { timeSkipping: true },
  );
});

after(async () => {
  await h.close();
});

test("a two-day timer fires at once on the virtual clock, and the orchestration sees two days pass", async () => {
  const began = Date.now();
  const id = await h.client.startNew("TwoDayWait");
  const s = await waitFor(h.client, id);
  assert.equal(s.runtimeStatus, "Completed");
  assert.ok((s.output as number) >= 2 * DAY, `virtual elapsed ${String(s.output)}`);
  assert.ok(Date.now() - began < 5000, "real time stays small");
  const types = (s.history as { EventType: string }[]).map((e) => e.EventType);
  assert.deepEqual(types, ["ExecutionStarted", "TimerCreated", "TimerFired", "ExecutionCompleted"]);
});

test("hour-long retry intervals are skipped too", async () => {
  const id = await h.client.startNew("HourlyRetries");
  const s = await waitFor(h.client, id);
  assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.output));
  const out = s.output as { result: string; elapsed: number };
  assert.equal(out.result, "ok after 3");
  assert.ok(out.elapsed >= 2 * 3600_000, `virtual elapsed ${out.elapsed}`);
});

test("an event raised before the wait (here by an activity) wins over a one-day timer", async () => {
  const id = await h.client.startNew("EventBeforeTimer");
  const s = await waitFor(h.client, id);
  assert.equal(s.output, "event");
});

test("time does not skip while an activity runs", async () => {
  const id = await h.client.startNew("ActivityBeforeTimer");
  const s = await waitFor(h.client, id);
  assert.equal(s.output, "activity");
});
