/**
 * EventInbox's waits beside a task and without a deadline (lib/durable/events.ts), on the real SDK replay
 * of the dev host's durable engine: an event that comes while an activity runs wins the race against it;
 * one that came earlier and was not taken wins again at once, yielding nothing; a wait without a deadline
 * creates no timer.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { startHarness, waitFor, type Harness } from "../../dev/durable/harness";
import { activity, call, resultOf, schedule } from "../../../lib/durable/activities";
import { EventInbox } from "../../../lib/durable/events";

interface Events {
  go: string;
}
const HOLD = activity<string, string>("InboxTestHold");
const ECHO = activity<string, string>("InboxTestEcho");

let release: () => void = () => {};
const released = new Promise<void>((resolve) => (release = resolve));

function register(): void {
  df.app.activity(HOLD.name, { handler: async (s: string) => (await released, `held ${s}`) });
  df.app.activity(ECHO.name, { handler: (s: string) => `echo ${s}` });

  df.app.orchestration("InboxBefore", function* (ctx: OrchestrationContext): Generator<
    Task,
    unknown,
    unknown
  > {
    const inbox = new EventInbox<Events>(ctx.df, ["go"]);
    const hold = schedule(ctx.df, HOLD, "x");
    const won = yield* inbox.before(hold);
    const held = yield* resultOf(hold);
    // Not taken yet: it wins again at once, and the echo is never scheduled.
    const again = yield* inbox.before(schedule(ctx.df, ECHO, "never"));
    const got = yield* inbox.next();
    const echo = yield* call(ctx.df, ECHO, "after");
    return { won, held, again, got: got.map((e) => e.value), echo };
  });

  df.app.orchestration("InboxNoDeadline", function* (ctx: OrchestrationContext): Generator<
    Task,
    unknown,
    unknown
  > {
    const got = yield* new EventInbox<Events>(ctx.df, ["go"]).next();
    return got.map((e) => e.value);
  });
}

let h: Harness;
before(async () => {
  h = await startHarness(register);
});
after(async () => {
  await h.close();
});

const count = (s: df.DurableOrchestrationStatus, type: string) =>
  ((s.history ?? []) as { EventType: string }[]).filter((e) => e.EventType === type).length;

test("an event during a task wins the race; untaken, it wins again without a yield", async () => {
  const id = await h.client.startNew("InboxBefore");
  await waitFor(h.client, id, (s) => count(s, "TaskScheduled") >= 1);
  await h.client.raiseEvent(id, "go", "first");
  await waitFor(h.client, id, (s) => count(s, "EventRaised") >= 1);
  release();
  const s = await waitFor(h.client, id);
  assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.history));
  assert.deepEqual(s.output, { won: true, held: "held x", again: true, got: ["first"], echo: "echo after" });
  // The hold and the final echo: the echo raced by `again` was never scheduled.
  assert.equal(count(s, "TaskScheduled"), 2);
});

test("a wait without a deadline creates no timer", async () => {
  const id = await h.client.startNew("InboxNoDeadline");
  await waitFor(h.client, id, (s) => String(s.runtimeStatus) === "Running");
  await h.client.raiseEvent(id, "go", "late");
  const s = await waitFor(h.client, id);
  assert.deepEqual(s.output, ["late"]);
  assert.equal(count(s, "TimerCreated"), 0);
});
