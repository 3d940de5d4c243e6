import { test } from "node:test";
import assert from "node:assert/strict";
import { confirmedBy, type ConfirmEventsInput } from "../../../lib/deployments/confirm";
import type { DeploymentRecord } from "../../../lib/deployments/model";

const base = {
  id: "d1",
  tenant: "contoso",
  attempt: 1,
  instanceId: "deploy:contoso:d1:1",
  phase: "Sent",
  progress: 0,
  specDigest: "sha256:x",
  requestedAt: "2026-12-07T00:00:00.000Z",
  updatedAt: "2026-12-07T00:00:00.000Z",
} satisfies DeploymentRecord;

const ask = (over: Partial<ConfirmEventsInput>): ConfirmEventsInput => ({
  tenant: "contoso",
  id: "d1",
  attempt: 1,
  statuses: [],
  cancel: false,
  ...over,
});

test("a report is confirmed by the same sequence and state in the last status or the timeline", () => {
  const record: DeploymentRecord = {
    ...base,
    phase: "InProgress",
    lastStatus: { state: "Succeeded", progress: 100, sequence: 5, reportedAt: base.requestedAt },
    timeline: [{ at: base.requestedAt, source: "agent", event: "Accepted", sequence: 1 }],
  };
  const asked = ask({
    statuses: [
      { sequence: 1, state: "Accepted" },
      { sequence: 5, state: "Succeeded" },
      { sequence: 5, state: "Failed" }, // the right sequence, another state: forged
      { sequence: 9, state: "Succeeded" }, // never delivered
    ],
  });
  assert.deepEqual(confirmedBy(record, asked).statuses, [
    { sequence: 1, state: "Accepted" },
    { sequence: 5, state: "Succeeded", progress: 100 },
  ]);
});

test("an acceptance whose entry was capped away counts once the record was accepted by a later report", () => {
  const accepted: DeploymentRecord = {
    ...base,
    phase: "InProgress",
    lastStatus: { state: "InProgress", progress: 40, sequence: 60, reportedAt: base.requestedAt },
    timeline: [],
  };
  assert.deepEqual(confirmedBy(accepted, ask({ statuses: [{ sequence: 2, state: "Accepted" }] })).statuses, [
    { sequence: 2, state: "Accepted" },
  ]);
  // Not accepted in the ledger, or a later sequence than anything recorded: not confirmed.
  assert.deepEqual(
    confirmedBy({ ...accepted, phase: "Sent" }, ask({ statuses: [{ sequence: 2, state: "Accepted" }] }))
      .statuses,
    [],
  );
  assert.deepEqual(
    confirmedBy(accepted, ask({ statuses: [{ sequence: 61, state: "InProgress" }] })).statuses,
    [],
  );
});

test("a cancel is confirmed only by a recorded request, with the recorded reason", () => {
  assert.equal(confirmedBy(base, ask({ cancel: true })).cancel, undefined);
  const requested = {
    ...base,
    cancelRequested: { at: base.requestedAt, reason: "cancelled by user", by: "ada" },
  };
  assert.deepEqual(confirmedBy(requested, ask({ cancel: true })).cancel, {
    reason: "cancelled by user",
    by: "ada",
  });
  // Another attempt's record confirms nothing.
  assert.deepEqual(confirmedBy(requested, ask({ attempt: 2, cancel: true })), { statuses: [] });
  assert.deepEqual(confirmedBy(undefined, ask({ cancel: true })), { statuses: [] });
});
