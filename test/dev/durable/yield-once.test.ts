/**
 * The cancel-hang root cause, shown on the real SDK replay: an orchestrator that yields an already
 * yielded timer inside a new Task.any gets it scheduled again. The Durable extension's out-of-proc shim
 * replays every action the SDK returns (CreateTimer for each one, in order), so Azure writes a second
 * TimerCreated with a new task id, exactly as this engine does; from there the SDK's task ids and the
 * host's disagree and results reach the wrong task. The fix is in the orchestrator: a fresh timer per
 * wait (lib/deployments/orchestration.ts `waitUntil`).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { startHarness, waitFor, type Harness } from "./harness";

const GRACE_MS = 400;

function register(): void {
  df.app.activity("EchoAfterGrace", { handler: (s: string) => `echo ${s}` });

  // The old cancel path: one grace timer, raced again against each new event wait.
  df.app.orchestration("ReyieldedTimer", function* (ctx: OrchestrationContext) {
    const grace = ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + GRACE_MS));
    let ticks = 0;
    for (;;) {
      const tick = ctx.df.waitForExternalEvent("tick");
      const winner: Task = yield ctx.df.Task.any([tick, grace]);
      if (winner === grace) break;
      ticks++;
    }
    const echo: unknown = yield ctx.df.callActivity("EchoAfterGrace", "grace");
    return { ticks, echo };
  });

  // The fixed path: the same deadline, a fresh timer per wait, the loser cancelled.
  df.app.orchestration("FreshTimers", function* (ctx: OrchestrationContext) {
    const graceEnd = new Date(ctx.df.currentUtcDateTime.getTime() + GRACE_MS);
    let ticks = 0;
    for (;;) {
      const tick = ctx.df.waitForExternalEvent("tick");
      const timer = ctx.df.createTimer(graceEnd);
      const winner: Task = yield ctx.df.Task.any([tick, timer]);
      if (winner === timer) break;
      timer.cancel();
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

describe("yield each task once (real SDK replay, extension-shaped history)", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(register);
  });
  after(async () => {
    await h.close();
  });

  async function runWithTicks(name: string): Promise<df.DurableOrchestrationStatus> {
    const id = await h.client.startNew(name);
    await waitFor(h.client, id, (s) => String(s.runtimeStatus) === "Running");
    for (let i = 0; i < 2; i++) await h.client.raiseEvent(id, "tick", i);
    return waitFor(h.client, id, undefined, 10_000).catch(() =>
      h.client.getStatus(id, { showHistory: true }),
    );
  }

  test("a re-yielded timer is scheduled again with a new id, and the task ids drift", async () => {
    const s = await runWithTicks("ReyieldedTimer");
    const history = s.history as Event[];
    const timers = history.filter((e) => e.EventType === "TimerCreated");
    // One TimerCreated per Task.any that carried the timer, all with the same FireAt: what the shim writes.
    assert.ok(timers.length >= 2, JSON.stringify(history));
    assert.equal(new Set(timers.map((t) => t.FireAt)).size, 1);
    // The activity runs under the host's id, which is not the SDK's: the orchestration never sees its result.
    const echo = (s.output as { echo?: unknown } | null)?.echo;
    assert.notEqual(echo, "echo grace", `the drifted ids happened to line up: ${JSON.stringify(s.output)}`);
    assert.ok(
      h.logs.some((l) => /ReyieldedTimer.*already yielded/.test(l)),
      h.logs.join("\n"),
    );
  });

  test("a fresh timer per wait completes with the activity's own result and no warning", async () => {
    const before = h.logs.length;
    const s = await runWithTicks("FreshTimers");
    assert.equal(s.runtimeStatus, "Completed");
    assert.deepEqual(s.output, { ticks: 2, echo: "echo grace" });
    // One timer per wait: the two raced against a tick (cancelled) and the one that fired.
    const timers = (s.history as Event[]).filter((e) => e.EventType === "TimerCreated");
    assert.equal(timers.length, 3);
    assert.ok(!h.logs.slice(before).some((l) => /already yielded/.test(l)));
  });
});
