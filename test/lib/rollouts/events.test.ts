import { test } from "node:test";
import assert from "node:assert/strict";
import { rolloutEvent } from "../../../lib/rollouts/events";
import type { RolloutRecord } from "../../../lib/rollouts/model";

const header = (over: Partial<RolloutRecord> = {}): RolloutRecord => ({
  id: "r-1",
  state: "Running",
  spec: {},
  release: "2.0.0",
  options: { maxConcurrency: 1, maxErrors: 0, bakeSeconds: 0, approval: "none", onHalt: "rollback" },
  waves: [{ name: "all", size: 2, state: "Completed" }],
  currentWave: 0,
  control: {},
  requestDigest: "sha256:x",
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  ...over,
});

test("a rollback: rollout.halted when the halt is decided (RollingBack), rollout.rolledBack at its end", () => {
  const halted = rolloutEvent(header({ state: "RollingBack" }), "RollingBack");
  assert.equal(halted?.type, "rollout.halted");
  assert.equal(halted?.id, "rollout.halted:r-1", "the same occurrence as a plain halt: delivered once");
  const rollback = { state: "Completed" as const, tenants: 2, succeeded: 1, failed: 0, notPossible: 1 };
  const done = rolloutEvent(header({ state: "Halted", rollback }), "Halted");
  assert.equal(done?.type, "rollout.rolledBack");
  assert.equal(done?.id, "rollout.rolledBack:r-1");
  assert.deepEqual(done?.data.rollback, rollback);
  // Without a rollback a halt is what it always was.
  assert.equal(rolloutEvent(header({ state: "Halted" }), "Halted")?.type, "rollout.halted");
  assert.equal(rolloutEvent(header({ state: "Aborted", rollback }), "Aborted")?.type, "rollout.finished");
});
