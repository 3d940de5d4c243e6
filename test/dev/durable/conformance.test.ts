/**
 * The engine behaves as the Durable extension's Azure Storage backend where the product depends on it
 * (docs/durable-engine.md, "Conformance with the Azure Storage backend"): long timers split into pieces,
 * cancelled timers still fire, a retry timeout stops retrying without a timer (and so hangs the SDK),
 * raiseEvent answers. Real SDK replay, Azurite, the time-skipping clock; each test names the extension's
 * (or DTFx's) behaviour it reproduces.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { startHarness, waitFor, type Harness } from "./harness";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Event {
  EventType: string;
  Timestamp: string;
  FireAt?: string;
  TimerId?: number;
  FunctionName?: string;
}

const failedOnce = new Set<string>();

/** The harness running now: the RaiseEvent activity raises through its client. */
let current: Harness | undefined;

function register(): void {
  df.app.activity("Echo", { handler: (x: unknown) => x });
  df.app.activity("RaiseEvent", {
    handler: async (input: { instanceId: string; name: string; value: unknown }) => {
      await current?.client.raiseEvent(input.instanceId, input.name, input.value);
    },
  });
  // Raises an event at a virtual time: time does not skip while the raising activity runs.
  df.app.orchestration("RaiseAt", function* (ctx: OrchestrationContext) {
    const input = ctx.df.getInput() as { at: number; instanceId: string; name: string; value: unknown };
    yield ctx.df.createTimer(new Date(input.at));
    yield ctx.df.callActivity("RaiseEvent", input);
  });
  df.app.activity("StartRaiser", {
    handler: async (input: { at: number; instanceId: string; name: string; value: unknown }) => {
      await current?.client.startNew("RaiseAt", { input });
    },
  });
  // A 7-day timer that an event "go", raised `raiseAfterMs` after the start, cancels. The raiser starts
  // from an activity before the wait begins, so the skipping clock cannot pass its time first.
  df.app.orchestration("LongTimerOrEvent", function* (ctx: OrchestrationContext) {
    const { raiseAfterMs } = ctx.df.getInput() as { raiseAfterMs: number };
    const at = ctx.df.currentUtcDateTime.getTime() + raiseAfterMs;
    yield ctx.df.callActivity("StartRaiser", { at, instanceId: ctx.df.instanceId, name: "go", value: null });
    const timer = ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 7 * DAY));
    const winner: unknown = yield ctx.df.Task.any([timer, ctx.df.waitForExternalEvent("go")]);
    if (winner === timer) return "timer";
    timer.cancel();
    const echoed: string = yield ctx.df.callActivity("Echo", "event");
    return echoed;
  });
  df.app.activity("Broken", {
    handler: () => {
      throw new Error("broken");
    },
  });
  // One 7-day timer: a LongTimerTask in the SDK, three pieces on the extension (3 d, 3 d, 1 d).
  df.app.orchestration("SevenDays", function* (ctx: OrchestrationContext) {
    const start = ctx.df.currentUtcDateTime.getTime();
    yield ctx.df.createTimer(new Date(start + 7 * DAY));
    return ctx.df.currentUtcDateTime.getTime() - start;
  });
  // A 7-day timer that loses a Task.any to an activity and is cancelled; the orchestration goes on.
  df.app.orchestration("CancelledLongTimer", function* (ctx: OrchestrationContext) {
    const now = ctx.df.currentUtcDateTime.getTime();
    const timer = ctx.df.createTimer(new Date(now + 7 * DAY));
    yield ctx.df.Task.any([timer, ctx.df.callActivity("Echo", "first")]);
    timer.cancel();
    yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 4 * DAY));
    const last: string = yield ctx.df.callActivity("Echo", "last");
    return last;
  });
  // The same with a 1-hour timer (a plain timer): its fire is delivered and ignored.
  df.app.orchestration("CancelledShortTimer", function* (ctx: OrchestrationContext) {
    const now = ctx.df.currentUtcDateTime.getTime();
    const timer = ctx.df.createTimer(new Date(now + HOUR));
    yield ctx.df.Task.any([timer, ctx.df.callActivity("Echo", "first")]);
    timer.cancel();
    yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 2 * HOUR));
    const last: string = yield ctx.df.callActivity("Echo", "last");
    return last;
  });
  // Retries every hour, for at most 90 minutes: the third failure comes after the timeout.
  df.app.orchestration("RetryTimeout", function* (ctx: OrchestrationContext) {
    const retry = Object.assign(new df.RetryOptions(HOUR, 5), { retryTimeoutInMilliseconds: 90 * 60_000 });
    try {
      yield ctx.df.callActivityWithRetry("Broken", retry, null);
    } catch (e) {
      return `gave up: ${(e as Error).message}`;
    }
    return "succeeded";
  });
  // Fails the first time for each key: an outage that a rewind outlives.
  df.app.activity("FailsFirst", {
    handler: (key: string) => {
      if (!failedOnce.has(key)) {
        failedOnce.add(key);
        throw new Error(`first run of ${key} fails`);
      }
      return `${key} ok`;
    },
  });
  df.app.orchestration("FailsOnce", function* (ctx: OrchestrationContext) {
    const before: string = yield ctx.df.callActivity("Echo", "before");
    const key: string = yield ctx.df.callActivity("FailsFirst", ctx.df.instanceId);
    return `${before}, ${key}`;
  });
  df.app.orchestration("ParentOfFailsOnce", function* (ctx: OrchestrationContext) {
    const child: string = yield ctx.df.callSubOrchestrator(
      "FailsOnce",
      undefined,
      `${ctx.df.instanceId}:child`,
    );
    return `child: ${child}`;
  });
  df.app.orchestration("WaitsForGo", function* (ctx: OrchestrationContext) {
    return (yield ctx.df.waitForExternalEvent("go")) as unknown;
  });
}

function historyOf(s: df.DurableOrchestrationStatus): Event[] {
  return s.history as Event[];
}

/**
 * Polls (real time) until the history holds `n` events of `type` and the episode that took the last one
 * has committed (the instance was updated after it); the status is the same read's.
 */
async function untilHistoryHas(
  h: Harness,
  id: string,
  type: string,
  n: number,
): Promise<df.DurableOrchestrationStatus> {
  return waitFor(h.client, id, (s) => {
    const events = historyOf(s).filter((e) => e.EventType === type);
    const last = events.at(-1);
    return (
      events.length >= n &&
      last !== undefined &&
      new Date(s.lastUpdatedTime).getTime() >= Date.parse(last.Timestamp)
    );
  });
}

describe("conformance with the Azure Storage backend (time skipping)", () => {
  let h: Harness;
  before(async () => {
    h = current = await startHarness(register, { timeSkipping: true });
  });
  after(async () => {
    await h.close();
  });

  test("a 7-day timer runs as the extension splits it: pieces of 3 days while more than 6 remain", async () => {
    // Extension: MaximumDelayTime 6 d, LongRunningTimerIntervalLength 3 d (AzureStorageDurabilityProvider);
    // DurableOrchestrationContext.CreateTimer loops: +3 d, then +3 d while 3 d or more remain, then the rest.
    const id = await h.client.startNew("SevenDays");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.output));
    const created = historyOf(s).filter((e) => e.EventType === "TimerCreated");
    const start = Date.parse(historyOf(s)[0].Timestamp);
    const offsets = created.map((e) => Math.round((Date.parse(String(e.FireAt)) - start) / HOUR));
    assert.deepEqual(offsets, [72, 144, 168]);
    assert.equal(historyOf(s).filter((e) => e.EventType === "TimerFired").length, 3);
    assert.ok((s.output as number) >= 7 * DAY);
  });

  test("a cancelled long timer hangs the orchestration as on Azure: the SDK adds a piece the extension does not", async () => {
    // The extension's long-timer loop ends when its token is cancelled; DTFx still delivers the pending
    // piece's TimerFired; the SDK's LongTimerTask then takes a new task id for a next piece, so the
    // "last" activity's completion reaches the wrong task and the instance never completes.
    const id = await h.client.startNew("CancelledLongTimer");
    const s = await untilHistoryHas(h, id, "TaskCompleted", 2);
    const events = historyOf(s);
    assert.equal(s.runtimeStatus, "Running");
    // The cancelled timer's first piece fired at 3 days and no other piece was created.
    const created = events.filter((e) => e.EventType === "TimerCreated");
    assert.equal(created.length, 2, "the 7-day timer's first piece and the 4-day timer");
    assert.ok(events.some((e) => e.EventType === "TimerFired" && e.TimerId === 0));
    assert.ok(h.logs.some((l) => l.includes("cancelled a timer longer than maximumShortTimerDuration")));
    await h.client.terminate(id, "test over");
  });

  test("a long timer cancelled after its second piece fails the instance as a non-deterministic replay", async () => {
    // The extension's replay creates the cancelled timer's first piece only (the token is cancelled right
    // after CreateTimer returns), so DTFx meets the recorded TimerCreated of the second piece with no
    // matching action: NonDeterministicOrchestrationException.
    const id = await h.client.startNew("LongTimerOrEvent", { input: { raiseAfterMs: 4 * DAY } });
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Failed", JSON.stringify(s.output));
    assert.match(String(s.output), /Non-Deterministic workflow detected/);
    const created = historyOf(s).filter((e) => e.EventType === "TimerCreated");
    assert.equal(created.length, 2, "pieces at 3 and 6 days");
  });

  test("a cancelled timer still fires; the orchestration goes on", async () => {
    // DTFx: CreateTimer with a cancelled token still schedules the timer message; its TimerFired is
    // appended to the history and ignored (no open task).
    const id = await h.client.startNew("CancelledShortTimer");
    const s = await waitFor(h.client, id);
    assert.equal(s.output, "last");
    const fired = historyOf(s).filter((e) => e.EventType === "TimerFired");
    assert.deepEqual(
      fired.map((e) => e.TimerId),
      [0, 2],
      "the cancelled timer (id 0) fired, then the 2-hour timer",
    );
  });

  test("a retry timeout stops retrying without a timer: the SDK waits for one and the instance hangs", async () => {
    // DTFx RetryInterceptor: after a failed attempt, ComputeNextDelay answers zero once currentUtcDateTime
    // reaches firstAttempt + RetryTimeout, and the loop ends with no timer; the SDK's RetryableTask waits
    // for a timer after every failure (azure-functions-durable-js#629).
    const id = await h.client.startNew("RetryTimeout");
    const s = await untilHistoryHas(h, id, "TaskFailed", 3);
    const events = historyOf(s);
    assert.equal(s.runtimeStatus, "Running");
    assert.equal(events.filter((e) => e.EventType === "TimerCreated").length, 2, "no timer after the third");
    assert.ok(h.logs.some((l) => l.includes("azure-functions-durable-js#629")));
    await h.client.terminate(id, "test over");
  });

  test("raiseEvent: 404 for an unknown instance, 410 for a finished one, 400 for a body that is not JSON", async () => {
    // HttpApiHandler.HandleRaiseEventRequestAsync: null status → 404; Failed, Canceled, Terminated,
    // Completed → 410; a content type other than application/json or invalid JSON → 400; else 202.
    const hook = (path: string) => `${h.baseUrl}/runtime/webhooks/durabletask/${path}`;
    const json = { "Content-Type": "application/json" };
    const raise = (id: string, body: string, headers: Record<string, string> = json) =>
      fetch(hook(`instances/${id}/raiseEvent/go`), { method: "POST", body, headers });
    assert.equal((await raise("nobody-here", '"x"')).status, 404);
    const id = await h.client.startNew("WaitsForGo");
    assert.equal((await raise(id, "{not json")).status, 400);
    assert.equal((await raise(id, '"x"', { "Content-Type": "text/plain" })).status, 400);
    assert.equal((await raise(id, '"x"')).status, 202);
    const s = await waitFor(h.client, id);
    assert.equal(s.output, "x");
    assert.equal((await raise(id, '"again"')).status, 410);
  });
});

describe("rewind as the Azure Storage backend does it", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(register);
  });
  after(async () => {
    await h.close();
  });
  const hook = (path: string) => `${h.baseUrl}/runtime/webhooks/durabletask/${path}`;

  test("a Failed instance is rewound: its failed activity runs again under its id and it completes", async () => {
    // DTFx RewindHistoryAsync: TaskFailed, its TaskScheduled and the failed ExecutionCompleted become
    // GenericEvents, the instance goes back to Pending, and a GenericEvent revives it; the replay then
    // schedules the activity again.
    const id = await h.client.startNew("FailsOnce");
    const failed = await waitFor(h.client, id);
    assert.equal(failed.runtimeStatus, "Failed");
    await h.client.rewind(id, "storage is back");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.output));
    assert.equal(s.output, `before, ${id} ok`);
    const types = historyOf(s).map((e) => e.EventType);
    assert.ok(!types.includes("TaskFailed"), types.join(","));
    assert.equal(types.filter((t) => t === "GenericEvent").length, 4, types.join(","));
    assert.equal(types.filter((t) => t === "TaskScheduled").length, 2, "Echo, and FailsFirst again");
  });

  test("a failed sub-orchestration is rewound with its parent, which completes when the child does", async () => {
    const id = await h.client.startNew("ParentOfFailsOnce");
    assert.equal((await waitFor(h.client, id)).runtimeStatus, "Failed");
    assert.equal((await h.client.getStatus(`${id}:child`)).runtimeStatus, "Failed");
    await h.client.rewind(id, "fixed");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.output));
    assert.equal(s.output, `child: before, ${id}:child ok`);
    assert.equal((await h.client.getStatus(`${id}:child`)).runtimeStatus, "Completed");
  });

  test("rewind answers 404 unknown, 410 Completed/Terminated/Canceled, 500 running, as the extension's handler", async () => {
    // HttpApiHandler.HandleRewindInstanceRequestAsync; a running instance makes the client's RewindAsync
    // throw InvalidOperationException, which the handler answers 500.
    const rewind = (id: string) => fetch(hook(`instances/${id}/rewind?reason=x`), { method: "POST" });
    assert.equal((await rewind("nobody-here")).status, 404);
    const waiting = await h.client.startNew("WaitsForGo");
    await waitFor(h.client, waiting, (s) => s.runtimeStatus === "Running");
    assert.equal((await rewind(waiting)).status, 500);
    await h.client.raiseEvent(waiting, "go", 1);
    await waitFor(h.client, waiting);
    assert.equal((await rewind(waiting)).status, 410);
  });
});

describe("timer limits are engine settings (time skipping)", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(register, {
      timeSkipping: true,
      maximumShortTimerMs: 2 * DAY,
      longRunningTimerIntervalMs: DAY,
    });
  });
  after(async () => {
    await h.close();
  });

  test("with a 2-day maximum and 1-day pieces, a 7-day timer is seven pieces", async () => {
    const id = await h.client.startNew("SevenDays");
    const s = await waitFor(h.client, id);
    assert.equal(s.runtimeStatus, "Completed");
    const created = historyOf(s).filter((e) => e.EventType === "TimerCreated");
    const start = Date.parse(historyOf(s)[0].Timestamp);
    const offsets = created.map((e) => Math.round((Date.parse(String(e.FireAt)) - start) / HOUR));
    assert.deepEqual(offsets, [24, 48, 72, 96, 120, 144, 168]);
  });
});
