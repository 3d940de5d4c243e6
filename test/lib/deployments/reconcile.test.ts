/**
 * What a finished deployment instance stands for, and whether the customer's agent is told to stop: a
 * person ending the instance (terminate, purge, restart) stops the agent; a failure of the Provider's own
 * (the instance Failed: a bug, a storage outage, a release that broke replay) never does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { InstanceState } from "../../../lib/durable/instances";
import { verdict } from "../../../lib/deployments/reconcile";

const record = { attempt: 1, executionKey: "k", requestedAt: new Date(0).toISOString() };
const found = (runtimeStatus: string, output: unknown = null): InstanceState => ({
  found: true,
  runtimeStatus,
  output,
  customStatus: null,
});

test("a Failed instance is recorded Failed with its cause and the agent is not asked to cancel", () => {
  const v = verdict(
    record,
    found("Failed", "Orchestrator function 'deployment' failed: Non-deterministic orchestration"),
    0,
  );
  assert.ok(typeof v === "object");
  assert.equal(v.outcome, "Failed");
  assert.equal(v.cancelAgent, false);
  assert.match(v.message, /not asked to cancel.*Non-deterministic/);
});

test("an instance a person ended stops the agent: terminated, purged, restarted as another attempt", () => {
  for (const [state, outcome] of [
    [found("Terminated", "terminated by user"), "Terminated"],
    [{ found: false } as InstanceState, "Failed"],
    [{ ...found("Running"), customStatus: { attempt: 2 } } as InstanceState, "Terminated"],
  ] as const) {
    const v = verdict(record, state, Date.now());
    assert.ok(typeof v === "object", JSON.stringify(state));
    assert.equal(v.outcome, outcome);
    assert.equal(v.cancelAgent, true, JSON.stringify(state));
  }
});

test("a running or suspended instance decides nothing yet", () => {
  assert.equal(verdict(record, found("Running"), 0), "running");
  assert.equal(verdict(record, found("Suspended"), 0), "suspended");
});
