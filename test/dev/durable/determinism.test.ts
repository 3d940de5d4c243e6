/**
 * Non-determinism detection (dev/durable/determinism.ts): the pure comparison of a history with a
 * replay's actions, and the engine failing an instance whose code changed while it was in flight, as
 * the Durable Task Framework does on Azure.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { checkDeterminism } from "../../../dev/durable/determinism";
import { EventType, type HistoryEvent } from "../../../dev/durable/history";
import { ActionType, type SdkAction } from "../../../dev/durable/protocol";
import { startHarness, waitFor, type Harness } from "./harness";

const at = "2026-01-01T00:00:00.000Z";
const ev = (type: number, fields: Partial<HistoryEvent> = {}): HistoryEvent =>
  ({ EventType: type, EventId: -1, IsPlayed: false, Timestamp: at, ...fields }) as HistoryEvent;
const scheduled = (id: number, name: string, input = "null") =>
  ev(EventType.TaskScheduled, { EventId: id, Name: name, Input: input });
const activity = (name: string, input: unknown = null): SdkAction => ({
  actionType: ActionType.CallActivity,
  functionName: name,
  input,
});
const retried = (name: string, maxNumberOfAttempts: number): SdkAction => ({
  actionType: ActionType.CallActivityWithRetry,
  functionName: name,
  retryOptions: { firstRetryIntervalInMilliseconds: 1000, maxNumberOfAttempts },
});
const timer: SdkAction = { actionType: ActionType.CreateTimer, fireAt: at, isCanceled: false };
const wait: SdkAction = { actionType: ActionType.WaitForExternalEvent };

describe("checkDeterminism", () => {
  const start = [ev(EventType.OrchestratorStarted), ev(EventType.ExecutionStarted, { Name: "o" })];

  test("the same tasks in the same order are deterministic; inputs, event waits and new tasks do not count", () => {
    const history = [
      ...start,
      scheduled(0, "A", '"x"'),
      ev(EventType.TimerCreated, { EventId: 1, FireAt: at }),
    ];
    const actions = [wait, activity("a", "y"), timer, activity("B")];
    assert.equal(checkDeterminism(history, actions), undefined);
  });

  test("another name at a recorded id", () => {
    const d = checkDeterminism(
      [...start, scheduled(0, "A"), scheduled(1, "B")],
      [activity("A"), activity("C")],
    );
    assert.deepEqual(
      { taskId: d?.taskId, expected: d?.expected, actual: d?.actual },
      { taskId: 1, expected: "activity 'B'", actual: "activity 'C'" },
    );
  });

  test("another kind of task at a recorded id", () => {
    const d = checkDeterminism(
      [...start, ev(EventType.TimerCreated, { EventId: 0, FireAt: at })],
      [activity("A")],
    );
    assert.deepEqual([d?.taskId, d?.expected, d?.actual], [0, "timer", "activity 'A'"]);
    const sub = ev(EventType.SubOrchestrationInstanceCreated, { EventId: 0, Name: "child", InstanceId: "c" });
    assert.equal(
      checkDeterminism([...start, sub], [activity("child")])?.expected,
      "sub-orchestration 'child'",
    );
  });

  test("a recorded task the replay no longer schedules", () => {
    const d = checkDeterminism([...start, scheduled(0, "A"), scheduled(1, "B")], [activity("A")]);
    assert.deepEqual([d?.taskId, d?.actual], [1, "nothing"]);
    assert.match(d?.message ?? "", /Non-deterministic orchestration: .*activity 'B' at task id 1/);
  });

  test("a retried call's timers and further attempts take ids of their own, as the engine numbers them", () => {
    const failed = (id: number) =>
      ev(EventType.TaskFailed, { TaskScheduledId: id, Reason: "r", Details: "d" });
    const retryTimer = (id: number) => ev(EventType.TimerCreated, { EventId: id, FireAt: at });
    const fired = (id: number) => ev(EventType.TimerFired, { TimerId: id, FireAt: at });
    // Two attempts allowed: A fails, timer, A again, fails, last timer (no third attempt), then B.
    const history = [
      ...start,
      scheduled(0, "A"),
      failed(0),
      retryTimer(1),
      fired(1),
      scheduled(2, "A"),
      failed(2),
      retryTimer(3),
      fired(3),
      scheduled(4, "B"),
    ];
    assert.equal(checkDeterminism(history, [retried("A", 2), activity("B")]), undefined);
    assert.deepEqual(checkDeterminism(history, [retried("A", 2), activity("C")])?.taskId, 4);
    // Without the retry the ids would be the next actions': the replay's plain call is caught at once.
    assert.equal(checkDeterminism(history, [activity("A"), activity("B")])?.taskId, 1);
  });
});

describe("the engine fails an instance whose code changed in flight", () => {
  let h: Harness;
  let version = 1;
  let release: () => void = () => {};
  const gate = () => new Promise<void>((resolve) => (release = resolve));
  let entered: Promise<void>;
  let signalEntered: () => void = () => {};

  before(async () => {
    h = await startHarness(() => {
      df.app.activity("SlowStep", {
        handler: async () => {
          const g = gate();
          signalEntered();
          await g;
          return "ok";
        },
      });
      df.app.activity("Step", { handler: () => "ok" });
      df.app.activity("StepV4", { handler: () => "ok" });
      // Version 1 runs SlowStep then Step; version 2 renamed SlowStep, version 3 dropped
      // it, version 4 renamed Step.
      df.app.orchestration("Changing", function* (ctx: OrchestrationContext) {
        if (version !== 3) yield ctx.df.callActivity(version === 2 ? "SlowStepV2" : "SlowStep");
        yield ctx.df.callActivity(version === 4 ? "StepV4" : "Step");
        return "done";
      });
    });
  });
  after(async () => {
    await h.close();
  });

  const runWithChange = async (id: string, change: () => void) => {
    version = 1;
    entered = new Promise((resolve) => (signalEntered = resolve));
    await h.client.startNew("Changing", { instanceId: id });
    await entered;
    change();
    release();
    return waitFor(h.client, id);
  };

  test("unchanged code completes", async () => {
    const s = await runWithChange("unchanged", () => {});
    assert.equal(s.runtimeStatus, "Completed");
  });

  test("a changed yield is the instance's failure, naming the task id", async () => {
    const s = await runWithChange("renamed", () => (version = 2));
    assert.equal(s.runtimeStatus, "Failed");
    assert.match(
      String(s.output),
      /^Non-deterministic orchestration: the history recorded activity 'SlowStep' at task id 0, but the replay scheduled activity 'SlowStepV2' there instead/,
    );
  });

  test("a change past the recorded tasks is new work, not a difference", async () => {
    // Step is renamed while SlowStep runs: its id was never recorded, so the new name simply runs.
    let s = await runWithChange("ahead", () => (version = 4));
    assert.equal(s.runtimeStatus, "Completed");
    s = await h.client.getStatus("ahead", { showHistory: true });
    const names = (s.history as { EventType: string; FunctionName?: string }[])
      .filter((e) => e.EventType === "TaskScheduled")
      .map((e) => e.FunctionName);
    assert.deepEqual(names, ["SlowStep", "StepV4"]);
  });

  test("a recorded task the new code no longer schedules", async () => {
    const s = await runWithChange("dropped", () => (version = 3));
    assert.equal(s.runtimeStatus, "Failed");
    assert.match(String(s.output), /activity 'SlowStep' at task id 0.*replay scheduled activity 'Step'/);
  });
});
