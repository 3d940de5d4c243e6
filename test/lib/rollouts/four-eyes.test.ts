import { test } from "node:test";
import assert from "node:assert/strict";
import { loadSettings } from "../../../lib/config/settings";
import { sameActor, selfApprovalRefusal } from "../../../lib/rollouts/four-eyes";

// Four eyes on rollout approvals, the rule alone (through the API: test/lib/audit/audit*.test.ts).
const alice = { name: "alice", objectId: "oid-a" };

test("actors are the same by object id when both have one, else by name", () => {
  assert.ok(sameActor(alice, { name: "Alice Renamed", objectId: "oid-a" }));
  assert.ok(!sameActor(alice, { name: "alice", objectId: "oid-other" }));
  assert.ok(sameActor(alice, { name: "alice" }));
  assert.ok(!sameActor({ name: "alice" }, { name: "bob" }));
});

test("the starter is refused with a 403 saying why; others, or the allow setting, pass", () => {
  const refusal = selfApprovalRefusal("r1", alice, { name: "alice", objectId: "oid-a" }, false);
  assert.equal(refusal?.status, 403);
  assert.match(refusal?.message ?? "", /started by alice.*four eyes.*ROLLOUTS_ALLOW_SELF_APPROVAL/);
  assert.equal(selfApprovalRefusal("r1", alice, { name: "bob", objectId: "oid-b" }, false), undefined);
  assert.equal(selfApprovalRefusal("r1", alice, alice, true), undefined);
});

test("local: a rollout started by local (no principal), or before starters were recorded, is not refused", () => {
  assert.equal(selfApprovalRefusal("r1", { name: "local" }, { name: "local" }, false), undefined);
  assert.equal(selfApprovalRefusal("r1", undefined, alice, false), undefined);
});

test("ROLLOUTS_ALLOW_SELF_APPROVAL is off unless set true", () => {
  const storage = { AzureWebJobsStorage: "UseDevelopmentStorage=true" };
  assert.equal(loadSettings(storage).allowSelfApproval, false);
  assert.equal(loadSettings({ ...storage, ROLLOUTS_ALLOW_SELF_APPROVAL: "true" }).allowSelfApproval, true);
  assert.equal(loadSettings({ ...storage, ROLLOUTS_ALLOW_SELF_APPROVAL: "false" }).allowSelfApproval, false);
});
