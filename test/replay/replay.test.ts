/**
 * Replay tests (as Temporal's): every committed history (test/replay/histories/<version>/…, recorded by
 * `npm run histories:record` from the orchestration tests) is replayed on today's code through the real
 * SDK. A task the history recorded that today's code schedules differently (another activity, another
 * kind of task) or no longer schedules fails the test naming the file and the task id; a recorded
 * ending (output, continue-as-new input, failure message) must come out the same. A change that breaks
 * an instance in flight fails here before it ships (docs/replay-tests.md).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { captureRegistrations, FunctionRegistry } from "../../dev/host/functions-core";
import { committedHistories, UNVERSIONED, type RecordedHistory } from "./histories";
import { findOrchestrator, loadApps, replay } from "./replay";
import { ACTIVITIES, ORCHESTRATIONS } from "../../lib/deployments/contract";
import { ROLLOUT_ORCHESTRATIONS } from "../../lib/rollouts/contract";
import { AGENT_ORCHESTRATION } from "../../customer/agent/orchestration";
import type * as Deployment from "../../orchestrators/deployment";

const registries = loadApps();
// After the load, so the module comes from the cache: a registration outside the capture would switch
// @azure/functions to test mode.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { deploymentOrchestrator } = require("../../orchestrators/deployment") as typeof Deployment;
const histories = committedHistories();
const json = (v: unknown) => JSON.parse(JSON.stringify(v ?? null)) as unknown;

test("every orchestration of both apps has recorded histories of today's version", () => {
  const names = [
    ...Object.values(ORCHESTRATIONS),
    ...Object.values(ROLLOUT_ORCHESTRATIONS),
    AGENT_ORCHESTRATION,
  ];
  for (const name of names) {
    assert.ok(findOrchestrator(registries, name), `${name} is registered by the app`);
    assert.ok(
      histories.some((h) => h.version === UNVERSIONED && h.recorded.orchestrator === name),
      `no history of ${name} under ${UNVERSIONED}/: run npm run histories:record`,
    );
  }
});

describe("recorded histories replay on today's code", () => {
  for (const { file, recorded } of histories) {
    test(file, async () => {
      const f = findOrchestrator(registries, recorded.orchestrator);
      assert.ok(f, `${file}: no orchestrator '${recorded.orchestrator}' in today's apps`);
      const replayed = await replay(f, recorded);
      const d = replayed.difference;
      assert.equal(d, undefined, d && `${file}: task id ${d.taskId}: ${d.message}`);
      if (recorded.runtimeStatus === "Completed") {
        assert.ok(replayed.done, `${file}: recorded Completed, the replay did not finish`);
        assert.deepEqual(json(replayed.output), JSON.parse(recorded.output ?? "null"), `${file}: output`);
      }
      if (recorded.runtimeStatus === "ContinuedAsNew")
        assert.deepEqual(
          json(replayed.continuedWith),
          JSON.parse(recorded.output ?? "null"),
          `${file}: continue-as-new input`,
        );
      const thrown = `Orchestrator function '${recorded.orchestrator}' failed: `;
      const recordedFailure = recorded.output && (JSON.parse(recorded.output) as unknown);
      if (recorded.runtimeStatus === "Failed" && typeof recordedFailure === "string")
        if (recordedFailure.startsWith(thrown))
          assert.equal(`${thrown}${replayed.failure}`, recordedFailure, `${file}: failure`);
    });
  }
});

/** The deployment orchestrator with a change made to it, registered the way the SDK registers one. */
function changed(
  name: string,
  body: (context: OrchestrationContext) => Generator<df.Task, unknown, unknown>,
) {
  const registry = new FunctionRegistry();
  captureRegistrations(registry, () => df.app.orchestration(name, body));
  return registry.get(name)!;
}

/** Today's deployment, with every call of one activity renamed. */
function* renamedSend(context: OrchestrationContext): Generator<df.Task, unknown, unknown> {
  const rename = (n: string) => (n === ACTIVITIES.sendCommand.name ? "sendCommandV2" : n);
  const inner = context.df;
  const proxiedDf = new Proxy(inner, {
    get(target, p) {
      if (p === "callActivity") return (n: string, input?: unknown) => target.callActivity(rename(n), input);
      if (p === "callActivityWithRetry")
        return (n: string, retry: df.RetryOptions, input?: unknown) =>
          target.callActivityWithRetry(rename(n), retry, input);
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const proxied = new Proxy(context, {
    get: (target, p) => (p === "df" ? proxiedDf : Reflect.get(target, p, target)),
  });
  return yield* deploymentOrchestrator(proxied);
}

describe("a changed yield is caught by the replay", () => {
  const success = histories.find((h) => h.version === UNVERSIONED && h.file.includes("deployment/success-"))
    ?.recorded as RecordedHistory;

  test("the unchanged orchestrator replays the success history", async () => {
    assert.ok(success, "the deployment's success history is committed");
    const replayed = await replay(findOrchestrator(registries, ORCHESTRATIONS.deployment)!, success);
    assert.equal(replayed.difference, undefined);
  });

  test("an extra activity inserted before the others", async () => {
    const f = changed("deploymentWithExtraStep", function* (context) {
      yield context.df.callActivity("auditStart", null);
      return yield* deploymentOrchestrator(context);
    });
    const d = (await replay(f, success)).difference;
    assert.ok(d, "the extra activity is reported");
    assert.equal(d.taskId, 0);
    assert.equal(d.expected, `activity '${ACTIVITIES.beginAttempt.name}'`);
    assert.equal(d.actual, "activity 'auditStart'");
    assert.match(d.message, /Non-deterministic orchestration/);
  });

  test("an activity renamed", async () => {
    const d = (await replay(changed("deploymentRenamedSend", renamedSend), success)).difference;
    assert.ok(d, "the renamed activity is reported");
    assert.equal(d.expected, `activity '${ACTIVITIES.sendCommand.name}'`);
    assert.equal(d.actual, "activity 'sendCommandV2'");
    const recordedAt = success.history.find((e) => e.EventId === d.taskId);
    assert.equal(recordedAt?.Name, ACTIVITIES.sendCommand.name, "the task id is the recorded send's");
  });

  test("a recorded task no longer scheduled", async () => {
    const f = changed("deploymentThatStopsEarly", function* (context) {
      yield context.df.callActivity(ACTIVITIES.beginAttempt.name, context.df.getInput());
      return "done";
    });
    const d = (await replay(f, success)).difference;
    assert.ok(d, "the missing task is reported");
    assert.equal(d.taskId, 1);
    assert.equal(d.actual, "nothing");
  });
});
