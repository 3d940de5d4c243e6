/**
 * The cancel-hang root cause, shown on the real SDK replay: an orchestrator that yields an already
 * yielded timer inside a new Task.any gets it scheduled again. The Durable extension's out-of-proc shim
 * replays every action the SDK returns (CreateTimer for each one, in order), so Azure writes a second
 * TimerCreated with a new task id, exactly as this engine does; from there the SDK's task ids and the
 * host's disagree and results reach the wrong task. The fix is in the orchestrator: a fresh timer per
 * wait (lib/durable/timers.ts `waitUntil`).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { startHarness, waitFor, type Harness } from "./harness";

// Long enough never to fire during a test: every step below is driven by events, not by the clock.
const GRACE_MS = 60_000;

function register(): void {
  df.app.activity("EchoAfterGrace", { handler: (s: string) => `echo ${s}` });

  // The old cancel path: one grace timer, raced again against each new event wait.
  df.app.orchestration("ReyieldedTimer", function* (ctx: OrchestrationContext) {
    const grace = ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + GRACE_MS));
    const stop = ctx.df.waitForExternalEvent("stop");
    let ticks = 0;
    for (;;) {
      const tick = ctx.df.waitForExternalEvent("tick");
      const winner: Task = yield ctx.df.Task.any([tick, grace, stop]);
      if (winner !== tick) break;
      ticks++;
    }
    const echo: unknown = yield ctx.df.callActivity("EchoAfterGrace", "grace");
    return { ticks, echo };
  });

  // The fixed path: the same deadline, a fresh timer per wait, the loser cancelled.
  df.app.orchestration("FreshTimers", function* (ctx: OrchestrationContext) {
    const graceEnd = new Date(ctx.df.currentUtcDateTime.getTime() + GRACE_MS);
    const stop = ctx.df.waitForExternalEvent("stop");
    let ticks = 0;
    for (;;) {
      const tick = ctx.df.waitForExternalEvent("tick");
      const timer = ctx.df.createTimer(graceEnd);
      const winner: Task = yield ctx.df.Task.any([tick, timer, stop]);
      if (winner !== timer) timer.cancel();
      if (winner !== tick) break;
      ticks++;
    }
    const echo: unknown = yield ctx.df.callActivity("EchoAfterGrace", "grace");
    return { ticks, echo };
  });
}

interface Event {
  EventType: string;
  FireAt?: string;
}

const history = (s: df.DurableOrchestrationStatus) => (s.history ?? []) as Event[];
const count = (s: df.DurableOrchestrationStatus, type: string) =>
  history(s).filter((e) => e.EventType === type).length;

describe("yield each task once (real SDK replay, extension-shaped history)", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(register);
  });
  after(async () => {
    await h.close();
  });

  /** Two ticks, each waited for in the history, then stop: every step is ordered by events. */
  async function drive(name: string): Promise<string> {
    const id = await h.client.startNew(name);
    await waitFor(h.client, id, (s) => count(s, "TimerCreated") >= 1);
    for (let i = 1; i <= 2; i++) {
      await h.client.raiseEvent(id, "tick", i);
      // Each tick, once processed, makes the orchestrator race a timer again.
      await waitFor(h.client, id, (s) => count(s, "EventRaised") >= i && count(s, "TimerCreated") >= i + 1);
    }
    await h.client.raiseEvent(id, "stop", true);
    return id;
  }

  test("a re-yielded timer is scheduled again with a new id, and the task ids drift", async () => {
    const id = await drive("ReyieldedTimer");
    // The activity runs and its completion is recorded under the host's id, which is not the SDK's: once
    // the episode that consumed it has run, the orchestration is still waiting. It never completes.
    const s = await waitFor(h.client, id, (x) => count(x, "TaskCompleted") >= 1);
    assert.equal(String(s.runtimeStatus), "Running", JSON.stringify(history(s)));
    const timers = history(s).filter((e) => e.EventType === "TimerCreated");
    // One TimerCreated per Task.any that carried the timer, all with the same FireAt: what the shim writes.
    assert.equal(timers.length, 3, JSON.stringify(history(s)));
    assert.equal(new Set(timers.map((t) => t.FireAt)).size, 1);
    assert.ok(
      h.logs.some((l) => /ReyieldedTimer.*already yielded/.test(l)),
      h.logs.join("\n"),
    );
    await h.client.terminate(id, "test over");
  });

  test("a fresh timer per wait completes with the activity's own result and no warning", async () => {
    const before = h.logs.length;
    const id = await drive("FreshTimers");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed");
    assert.deepEqual(s.output, { ticks: 2, echo: "echo grace" });
    // One timer per wait: the two raced against a tick and the one raced against stop, all cancelled.
    assert.equal(count(s, "TimerCreated"), 3);
    assert.ok(!h.logs.slice(before).some((l) => /already yielded/.test(l)));
  });
});
