/**
 * A Durable app exercising every action type the engine supports; registered through the real
 * `df.app.*` API, as a user's app would be.
 */
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";

const attempts = new Map<string, number>();

export function registerFixtureApp(): void {
  df.app.activity("Say", { handler: (name: string) => `Hello ${name}!` });
  df.app.activity("Double", { handler: (n: number) => n * 2 });
  df.app.activity("Flaky", {
    handler: (key: string) => {
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (n < 3) throw new Error(`attempt ${n} of ${key} failed`);
      return `${key} ok after ${n}`;
    },
  });
  df.app.activity("AlwaysFails", {
    handler: () => {
      throw new Error("always broken");
    },
  });

  df.app.orchestration("HelloSequence", function* (ctx: OrchestrationContext) {
    const out: string[] = [];
    out.push(yield ctx.df.callActivity("Say", "Tokyo"));
    out.push(yield ctx.df.callActivity("Say", "Seattle"));
    out.push(yield ctx.df.callActivity("Say", ctx.df.getInput<string>() ?? "London"));
    return out;
  });

  df.app.orchestration("Retries", function* (ctx: OrchestrationContext) {
    const ok: string = yield ctx.df.callActivityWithRetry(
      "Flaky",
      new df.RetryOptions(30, 3),
      ctx.df.instanceId,
    );
    try {
      yield ctx.df.callActivityWithRetry("AlwaysFails", new df.RetryOptions(20, 2));
    } catch (e) {
      return { ok, failure: (e as Error).message };
    }
    return { ok, failure: null };
  });

  // Hundreds of retried calls that succeed at once: the retry state of each must go when it completes.
  df.app.orchestration("ManyRetriedCalls", function* (ctx: OrchestrationContext) {
    let n = 0;
    for (let i = 0; i < 300; i++) {
      yield ctx.df.callActivityWithRetry("Say", new df.RetryOptions(10, 2), `${i}-${"x".repeat(200)}`);
      n++;
    }
    return n;
  });

  // Retries interleaved with plain tasks in one fan-out: the engine's task numbering must stay in step.
  df.app.orchestration("MixedRetries", function* (ctx: OrchestrationContext) {
    const id = ctx.df.instanceId;
    const results: unknown[] = yield ctx.df.Task.all([
      ctx.df.callActivityWithRetry("Flaky", new df.RetryOptions(15, 3), `${id}-a`),
      ctx.df.callActivity("Double", 1),
      ctx.df.callActivityWithRetry("Flaky", new df.RetryOptions(25, 4), `${id}-b`),
      ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 30)),
      ctx.df.callSubOrchestrator("HelloSequence", "Rome"),
    ]);
    const after: number = yield ctx.df.callActivity("Double", 21);
    return [...results.slice(0, 3), results[4], after];
  });

  df.app.orchestration("FlakyChild", function* (ctx: OrchestrationContext) {
    const key = `child-${ctx.df.getInput<string>()}`;
    const n = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, n);
    if (!ctx.df.isReplaying && n === 1) throw new Error("child first run fails");
    const r: number = yield ctx.df.callActivity("Double", 21);
    return r;
  });

  df.app.orchestration("Parent", function* (ctx: OrchestrationContext) {
    const greetings: string[] = yield ctx.df.callSubOrchestrator("HelloSequence", "Paris");
    const child: number = yield ctx.df.callSubOrchestratorWithRetry(
      "FlakyChild",
      new df.RetryOptions(20, 3),
      ctx.df.instanceId,
    );
    return { greetings, child };
  });

  df.app.orchestration("ChildAlwaysFails", function* (ctx: OrchestrationContext) {
    yield ctx.df.callActivity("Double", 1);
    throw new Error("child does what it says");
  });

  // The official sample's shape: a fixed child id reused by every attempt, the failure caught.
  df.app.orchestration("RetryChildSameId", function* (ctx: OrchestrationContext) {
    try {
      yield ctx.df.callSubOrchestratorWithRetry("ChildAlwaysFails", new df.RetryOptions(20, 2), {
        input: "Input",
        instanceId: `${ctx.df.instanceId}:0`,
      });
    } catch (e) {
      return `caught: ${(e as Error).message}`;
    }
    return "unreachable";
  });

  df.app.orchestration("Approval", function* (ctx: OrchestrationContext) {
    ctx.df.setCustomStatus("waiting for approval");
    const deadline = new Date(ctx.df.currentUtcDateTime.getTime() + ctx.df.getInput<number>());
    const timer = ctx.df.createTimer(deadline);
    const approval = ctx.df.waitForExternalEvent("approve");
    const winner: df.Task = yield ctx.df.Task.any([timer, approval]);
    if (winner === approval) {
      timer.cancel();
      return `approved by ${approval.result}`;
    }
    return "timed out";
  });

  df.app.orchestration("CancelThenWait", function* (ctx: OrchestrationContext) {
    const timer = ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 60_000));
    const first = ctx.df.waitForExternalEvent("a");
    yield ctx.df.Task.any([timer, first]);
    timer.cancel();
    const second: string = yield ctx.df.waitForExternalEvent("b");
    return `${first.result}${second}`;
  });

  df.app.orchestration("EarlyEvent", function* (ctx: OrchestrationContext) {
    const first: number = yield ctx.df.callActivity("Double", 1);
    const go: string = yield ctx.df.waitForExternalEvent("go");
    return `${first}:${go}`;
  });

  df.app.orchestration("Counter", function* (ctx: OrchestrationContext) {
    const n = ctx.df.getInput<number>();
    const doubled: number = yield ctx.df.callActivity("Double", n);
    if (n < 3) {
      ctx.df.continueAsNew(n + 1);
      return;
    }
    const extra: string = yield ctx.df.waitForExternalEvent("last");
    return { n, doubled, extra };
  });

  df.app.orchestration("FanOut", function* (ctx: OrchestrationContext) {
    const all: number[] = yield ctx.df.Task.all([1, 2, 3].map((n) => ctx.df.callActivity("Double", n)));
    const first: df.Task = yield ctx.df.Task.any([ctx.df.callActivity("Say", "any")]);
    return { sum: all.reduce((a, b) => a + b, 0), any: first.result };
  });

  df.app.orchestration("Throws", function* (ctx: OrchestrationContext) {
    yield ctx.df.callActivity("Double", 2);
    throw new Error("boom");
  });

  df.app.orchestration("CallsUnknown", function* (ctx: OrchestrationContext) {
    try {
      yield ctx.df.callActivity("NoSuchActivity", 1);
    } catch (e) {
      return `caught: ${(e as Error).message}`;
    }
    return "unreachable";
  });

  df.app.orchestration("CallsUnknownChild", function* (ctx: OrchestrationContext) {
    yield ctx.df.callSubOrchestrator("NoSuchOrchestrator");
  });

  // Hangs in a process started with DURABLE_TEST_HANG=1, so that process can be killed mid-activity.
  df.app.activity("Slow", {
    handler: async (input: string) => {
      if (process.env.DURABLE_TEST_HANG === "1") {
        process.stdout.write("SLOW_STARTED\n");
        await new Promise((resolve) => setTimeout(resolve, 60_000));
      }
      return `slow ${input}`;
    },
  });

  df.app.orchestration("Crashable", function* (ctx: OrchestrationContext) {
    const a: string = yield ctx.df.callActivity("Slow", "x");
    yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 100));
    const b: number = yield ctx.df.callActivity("Double", 5);
    return [a, b];
  });

  df.app.orchestration("CrashParent", function* (ctx: OrchestrationContext) {
    const child: unknown = yield ctx.df.callSubOrchestrator("Crashable");
    return { child };
  });

  df.app.orchestration("TimerOnly", function* (ctx: OrchestrationContext) {
    yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + ctx.df.getInput<number>()));
    return "fired";
  });

  df.app.orchestration("Waits", function* (ctx: OrchestrationContext) {
    const v: unknown = yield ctx.df.waitForExternalEvent("never");
    return v;
  });
}
