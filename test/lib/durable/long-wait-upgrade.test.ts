/**
 * A wait longer than the Azure Storage backend's 6-day timer, started by release 0.1.0 (one createTimer,
 * recorded by the backend as pieces at day 3, day 6 and the end, each with a task id of its own), must
 * replay on today's EventInbox, which waits in timers of at most MAX_TIMER_MS: at every point an upgrade
 * can happen the replay schedules what the history recorded, and the wait ends when the recorded one did
 * (by the clock, not by which of its own timers fired).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { checkDeterminism } from "../../../dev/durable/determinism";
import { EventType, type HistoryEvent } from "../../../dev/durable/history";
import { AZURE_STORAGE_TIMER_LIMITS, flatten, invokeOrchestrator } from "../../../dev/durable/protocol";
import { EVENTS, type EventPayloads } from "../../../lib/deployments/contract";
import { EventInbox } from "../../../lib/durable/events";
import { startHarness, waitFor } from "../../dev/durable/harness";

const DAY_MS = 24 * 3_600_000;

function register(): void {
  df.app.activity("afterWait", { handler: (n: number) => `done after ${n} events` });
  // 0.1.0's shape: one timer to the end of the wait.
  df.app.orchestration("longWaitOld", function* (ctx: OrchestrationContext) {
    const until = new Date(ctx.df.currentUtcDateTime.getTime() + 7 * DAY_MS);
    yield ctx.df.createTimer(until);
    return (yield ctx.df.callActivity("afterWait", 0)) as string;
  });
  // Today's shape: the same wait through EventInbox.
  df.app.orchestration("longWaitNew", function* (ctx: OrchestrationContext) {
    const until = new Date(ctx.df.currentUtcDateTime.getTime() + 7 * DAY_MS);
    const got = yield* new EventInbox<EventPayloads, "cancel">(ctx.df, [EVENTS.cancel]).next(until);
    return (yield ctx.df.callActivity("afterWait", got.length)) as string;
  });
}

test("a 7-day wait that 0.1.0 started replays on today's EventInbox at every point of an upgrade", async () => {
  const h = await startHarness(register, { timeSkipping: true });
  try {
    // Run the old shape to its end on the engine (Azure's 6 d / 3 d limits), capturing its history.
    const old = h.registry.get("longWaitOld")!;
    const original = old.handler;
    let history: HistoryEvent[] = [];
    old.handler = (trigger: unknown, context: unknown) => {
      history = (trigger as { history: HistoryEvent[] }).history;
      return original(trigger as never, context as never);
    };
    const id = await h.client.startNew("longWaitOld");
    const s = await waitFor(h.client, id);
    assert.equal(s.output, "done after 0 events");
    const created = history.filter((e) => e.EventType === EventType.TimerCreated);
    assert.equal(created.length, 3, "recorded as three pieces: day 3, day 6, day 7");

    // Replay today's code on the history as it stood at each episode an upgrade could fall before.
    const fresh = h.registry.get("longWaitNew")!;
    const starts = history.flatMap((e, i) => (e.EventType === EventType.OrchestratorStarted ? [i] : []));
    for (const [k, from] of starts.entries()) {
      const prefix = history.slice(0, starts[k + 1] ?? history.length);
      const state = await invokeOrchestrator(
        fresh,
        {
          instanceId: id,
          input: undefined,
          parentInstanceId: undefined,
          history: prefix,
          newFrom: from,
          timerLimits: AZURE_STORAGE_TIMER_LIMITS,
        },
        () => {},
      );
      const difference = checkDeterminism(prefix, flatten(state.actions ?? []));
      assert.equal(difference, undefined, `episode ${k}: ${difference?.message}`);
      if (k < starts.length - 1) assert.notEqual(state.isDone, true, `episode ${k}: ended early`);
      else assert.equal(state.output, "done after 0 events", "ends when the recorded wait ended");
    }
  } finally {
    await h.close();
  }
});
