import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startAzurite, RunningAzurite } from "../../../dev/azurite";
import { DeploymentExistsError, DeploymentLedger } from "../../../lib/deployments/ledger";
import { deploymentInstanceId } from "../../../lib/deployments/contract";
import { DeploymentRecord, HEALTH_REPORT_GRACE_MS, TIMELINE_LIMITS } from "../../../lib/deployments/model";
import type { Status } from "../../../lib/messaging/contracts";
import { StoredRowError } from "../../../lib/storage/rows";
import { createTableClient } from "../../../lib/storage/tables";
import { oldDeploymentRecord, writeOldDeployment } from "../../helpers/rows-0.1.0";

let azurite: RunningAzurite;
let n = 0;

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

function ledger(): DeploymentLedger {
  return new DeploymentLedger(rawClient());
}

/** A fresh table; the ledger and a raw client (writing rows as another release would) share it. */
function rawClient(table = `deployments${++n}`) {
  return createTableClient(azurite.connectionString, table);
}

function record(tenant: string, id: string, attempt = 1): DeploymentRecord {
  const now = new Date().toISOString();
  return {
    id,
    tenant,
    attempt,
    instanceId: deploymentInstanceId(tenant, id, attempt),
    phase: "Requested",
    progress: 0,
    specDigest: "sha256:abc",
    requestedAt: now,
    updatedAt: now,
  };
}

const status = (id: string, state: Status["state"], sequence: number, progress = 0, attempt = 1): Status => ({
  schemaVersion: 1,
  deploymentId: id,
  attempt,
  state,
  progress,
  sequence,
  reportedAt: new Date().toISOString(),
});

test("an attempt round-trips, is found by id alone, and cannot be created twice", async () => {
  const l = ledger();
  const created = await l.create(record("contoso", "d1"));
  assert.ok(created.etag);
  assert.equal((await l.find("d1"))?.tenant, "contoso");
  assert.equal(await l.find("missing"), undefined);
  await assert.rejects(l.create(record("contoso", "d1")), DeploymentExistsError);
  await l.create({ ...record("contoso", "d1", 2), previousAttempt: 1 });
  const latest = await l.find("d1");
  assert.equal(latest?.attempt, 2);
  assert.equal(latest?.previousAttempt, 1);
  assert.deepEqual(
    (await l.attempts("contoso", "d1")).map((r) => r.attempt),
    [1, 2],
  );
});

test("statuses advance the phase and progress but never decide the outcome; stale, duplicate and post-terminal statuses change nothing", async () => {
  const l = ledger();
  await l.create(record("contoso", "d2"));
  assert.equal((await l.advance("contoso", "d2", 1, "Sent"))?.phase, "Sent");
  const report = async (...args: Parameters<typeof status>) =>
    (await l.reportStatus("contoso", status(...args)))?.record;
  assert.equal((await report("d2", "Accepted", 1))?.phase, "Accepted");
  const progressed = await report("d2", "InProgress", 3, 60);
  assert.equal(progressed?.progress, 60);
  // A report that changes nothing answers the record as it stands, unwritten (same ETag).
  assert.equal((await report("d2", "InProgress", 2, 30))?.etag, progressed?.etag, "stale sequence");
  assert.equal((await report("d2", "InProgress", 3, 60))?.etag, progressed?.etag, "duplicate");
  assert.equal(await l.advance("contoso", "d2", 1, "Sent"), undefined, "never backwards");
  // The agent's terminal report is recorded (last status, timeline); the outcome is the orchestration's.
  const reported = await report("d2", "Succeeded", 4, 100);
  assert.equal(reported?.phase, "InProgress");
  assert.equal(reported?.outcome, undefined);
  assert.equal(reported?.lastStatus?.state, "Succeeded");
  assert.equal(reported?.timeline?.at(-1)?.event, "Succeeded");
  const done = await l.complete("contoso", "d2", 1, "Succeeded");
  assert.equal(done.phase, "Completed");
  assert.equal(done.outcome, "Succeeded");
  assert.ok(done.completedAt);
  // After the outcome the agent's own end is kept in the timeline; the outcome never changes.
  const late = await report("d2", "Failed", 5);
  assert.equal(late?.outcome, "Succeeded", "terminal is final");
  assert.equal(late?.timeline?.at(-1)?.event, "Failed");
  assert.equal((await report("d2", "InProgress", 6, 10))?.etag, late?.etag, "nothing else after it");
  assert.equal(
    await l.reportStatus("contoso", status("no-such", "Accepted", 1)),
    undefined,
    "no such attempt",
  );
  const again = await l.complete("contoso", "d2", 1, "TimedOut");
  assert.equal(again.outcome, "Succeeded", "first outcome wins, and the answer says which one");
  assert.equal((await l.find("d2"))?.outcome, "Succeeded");
});

test("a timed-out deployment whose agent then acknowledges the Cancel stays TimedOut", async () => {
  const l = ledger();
  await l.create(record("contoso", "d-timeout"));
  await l.reportStatus("contoso", status("d-timeout", "Accepted", 1));
  const timedOut = await l.complete("contoso", "d-timeout", 1, "TimedOut");
  assert.equal(timedOut.outcome, "TimedOut");
  const after = (await l.reportStatus("contoso", status("d-timeout", "Cancelled", 2)))?.record;
  assert.equal(after?.outcome, "TimedOut");
  assert.equal(after?.timeline?.at(-1)?.event, "Cancelled", "the agent's end is still shown");
  // Even in the other order: the agent's Cancelled lands first, the orchestration's TimedOut still decides.
  await l.create(record("contoso", "d-timeout2"));
  await l.reportStatus("contoso", status("d-timeout2", "Cancelled", 1));
  assert.equal((await l.complete("contoso", "d-timeout2", 1, "TimedOut")).outcome, "TimedOut");
});

test("a success with a health check owes a verdict until its window and grace end; the verdict settles it", async () => {
  const l = ledger();
  await l.create({ ...record("contoso", "d-health"), healthWindowSeconds: 60 });
  await l.create(record("contoso", "d-plain"));
  for (const id of ["d-health", "d-plain"]) {
    await l.reportStatus("contoso", status(id, "Succeeded", 1, 100));
    await l.complete("contoso", id, 1, "Succeeded");
  }
  const owed = async (at: Date) => (await l.awaitingHealth("contoso", at)).map((r) => r.id);
  assert.deepEqual(await owed(new Date()), ["d-health"], "only the attempt with a health check owes one");
  assert.deepEqual(
    await owed(new Date(Date.now() + 60_000 + HEALTH_REPORT_GRACE_MS + 5_000)),
    [],
    "not after its due time",
  );
  await l.reportStatus("contoso", { ...status("d-health", "Healthy", 2, 100), message: "5 probes passed" });
  const kept = await l.get("contoso", "d-health", 1);
  assert.deepEqual(
    { state: kept?.health?.state, message: kept?.health?.message, event: kept?.timeline?.at(-1)?.event },
    { state: "Healthy", message: "5 probes passed", event: "Healthy" },
  );
  assert.equal(kept?.outcome, "Succeeded");
  assert.deepEqual(await owed(new Date()), [], "a recorded verdict owes nothing more");
});

test("concurrent writers do not lose updates", async () => {
  const l = ledger();
  await l.create(record("contoso", "d3"));
  await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      l.reportStatus("contoso", status("d3", "InProgress", i + 1, (i + 1) * 10)),
    ),
  );
  const r = await l.find("d3");
  assert.equal(r?.lastStatus?.sequence, 8, "the highest sequence is kept whatever the arrival order");
  assert.equal(r?.progress, 80);
});

test("list by tenant filters by status and pages; active attempts are counted", async () => {
  const l = ledger();
  for (let i = 0; i < 5; i++) await l.create(record("fabrikam", `f${i}`));
  await l.create(record("other", "o1"));
  await l.complete("fabrikam", "f0", 1, "Failed", "boom");
  await l.complete("fabrikam", "f1", 1, "Succeeded");
  assert.equal(await l.countActive("fabrikam"), 3);
  assert.deepEqual(
    (await l.list("fabrikam", { status: "Failed" })).items.map((r) => r.id),
    ["f0"],
  );
  assert.deepEqual(
    (await l.list("fabrikam", { status: "active" })).items.map((r) => r.id),
    ["f2", "f3", "f4"],
  );
  assert.deepEqual((await l.list("fabrikam", { status: "Requested" })).items.length, 3);
  const seen: string[] = [];
  let token: string | undefined;
  do {
    const page = await l.list("fabrikam", { top: 2, continuationToken: token });
    assert.ok(page.items.length <= 2);
    seen.push(...page.items.map((r) => r.id));
    token = page.continuationToken;
  } while (token);
  assert.deepEqual(seen, ["f0", "f1", "f2", "f3", "f4"]);
});

test("the timeline records phases, agent reports and the outcome, capped in entries and message length", async () => {
  const l = ledger();
  await l.create(record("contoso", "t1"));
  await l.advance("contoso", "t1", 1, "Sent");
  await l.reportStatus("contoso", status("t1", "Accepted", 1));
  for (let seq = 2; seq <= 60; seq++) {
    await l.reportStatus("contoso", { ...status("t1", "InProgress", seq, seq), message: "x".repeat(1000) });
  }
  const done = await l.complete("contoso", "t1", 1, "Failed", "gave up");
  const timeline = done!.timeline!;
  assert.equal(timeline.length, TIMELINE_LIMITS.entries, "the oldest entries make room");
  assert.deepEqual(
    timeline.slice(-2).map((e) => [e.source, e.event, e.sequence]),
    [
      ["agent", "InProgress", 60],
      ["provider", "Failed", undefined],
    ],
  );
  assert.ok(timeline.every((e) => (e.message ?? "").length <= TIMELINE_LIMITS.messageChars));

  await l.create(record("contoso", "t2"));
  await l.advance("contoso", "t2", 1, "Sent");
  const accepted = (await l.reportStatus("contoso", status("t2", "Accepted", 1)))?.record;
  assert.deepEqual(
    accepted!.timeline!.map((e) => [e.source, e.event]),
    [
      ["provider", "Requested"],
      ["provider", "Sent"],
      ["agent", "Accepted"],
    ],
  );
  const duplicate = await l.reportStatus("contoso", status("t2", "Accepted", 1));
  assert.equal(duplicate?.record.timeline?.length, 3, "a duplicate adds nothing");
  assert.equal(duplicate?.record.etag, accepted?.etag, "and writes nothing");
  assert.equal(duplicate?.applied, false);
});

test("claim: the first execution claims its attempt, a rerun finds its claim, a Durable restart gets a new attempt", async () => {
  const l = ledger();
  const first = record("contoso", "d-claim");
  await l.create(first);
  const base = { tenant: "contoso", id: "d-claim", attempt: 1, specDigest: "sha256:abc" };
  const claimed = await l.claim({ ...base, instanceId: first.instanceId, executionKey: "x@1" });
  assert.equal(claimed.record.attempt, 1);
  assert.equal(claimed.restartOf, undefined);
  assert.equal(
    (await l.claim({ ...base, instanceId: first.instanceId, executionKey: "x@1" })).record.attempt,
    1,
  );
  // Restart with a new instance id: same input (attempt 1), new attempt 2 owned by the new instance.
  const restarted = await l.claim({ ...base, instanceId: "restarted-instance", executionKey: "r@2" });
  assert.equal(restarted.record.attempt, 2);
  assert.equal(restarted.record.instanceId, "restarted-instance");
  assert.equal(restarted.record.previousAttempt, 1);
  assert.equal(restarted.restartOf, 1);
  assert.equal((await l.find("d-claim"))?.attempt, 2, "the new attempt is the latest");
  // Restart in place (same instance id, a new execution): attempt 3.
  const inPlace = await l.claim({ ...base, instanceId: first.instanceId, executionKey: "x@3" });
  assert.equal(inPlace.record.attempt, 3);
  // Concurrent reruns of one claim agree.
  const racing = await Promise.all(
    [1, 2, 3].map(() => l.claim({ ...base, instanceId: "racer", executionKey: "racer@4" })),
  );
  assert.deepEqual(
    racing.map((c) => c.record.attempt),
    [4, 4, 4],
  );
});

test("claim: an orchestration started straight through the Durable API records its own attempt", async () => {
  const l = ledger();
  const c = await l.claim({
    tenant: "contoso",
    id: "d-direct",
    attempt: 1,
    instanceId: "direct",
    executionKey: "direct@1",
    specDigest: "sha256:abc",
  });
  assert.equal(c.record.attempt, 1);
  assert.equal(c.record.phase, "Requested");
  assert.equal(c.restartOf, undefined);
});

test("rows: new rows and the index row carry schemaVersion 1", async () => {
  const client = rawClient();
  const l = new DeploymentLedger(client);
  await l.create(record("contoso", "v1"));
  await l.advance("contoso", "v1", 1, "Sent");
  const row = await client.getEntity<{ schemaVersion?: number }>("contoso", "v1~0001");
  assert.equal(row.schemaVersion, 1);
  const index = await client.getEntity<{ schemaVersion?: number }>("~index", "v1");
  assert.equal(index.schemaVersion, 1);
});

test("rows: an attempt as release 0.1.0 wrote it reads back, lists and updates (and gains schemaVersion)", async () => {
  const client = rawClient();
  await writeOldDeployment(client, "contoso", "old1");
  const l = new DeploymentLedger(client);
  const { etag, ...found } = (await l.find("old1")) as DeploymentRecord;
  assert.ok(etag);
  assert.deepEqual(found, oldDeploymentRecord("contoso", "old1"));
  assert.deepEqual(
    (await l.list("contoso", { status: "Succeeded" })).items.map((r) => r.id),
    ["old1"],
  );
  assert.equal((await l.attempts("contoso", "old1")).length, 1);
  // A late agent end is kept on an old row too; the rewrite adds the version column, drops nothing.
  const report = await l.reportStatus("contoso", status("old1", "Succeeded", 9, 100));
  assert.equal(report?.applied, true);
  const row = await client.getEntity<Record<string, unknown>>("contoso", "old1~0001");
  assert.equal(row.schemaVersion, 1);
  assert.equal(row.phase, "Completed");
  assert.equal(row.outcome, "Succeeded");
});

test("rows: a corrupted or missing json column is a StoredRowError naming the row, not a SyntaxError", async () => {
  const client = rawClient();
  const l = new DeploymentLedger(client);
  await l.create(record("contoso", "bad1"));
  await l.create(record("contoso", "bad2"));
  await client.updateEntity({ partitionKey: "contoso", rowKey: "bad1~0001", json: "{trunc" }, "Merge");
  await client.updateEntity({ partitionKey: "contoso", rowKey: "bad2~0001", json: "undefined" }, "Merge");
  for (const id of ["bad1", "bad2"])
    await assert.rejects(l.find(id), (error: unknown) => {
      assert.ok(error instanceof StoredRowError, String(error));
      assert.equal(error.table, client.tableName);
      assert.equal(error.partitionKey, "contoso");
      assert.equal(error.rowKey, `${id}~0001`);
      assert.equal(error.column, "json");
      return true;
    });
  await client.upsertEntity({ partitionKey: "contoso", rowKey: "bad3~0001", phase: "Sent" }, "Replace");
  await assert.rejects(l.get("contoso", "bad3", 1), /column "json" is missing/);
});

test("a cancel request is recorded once, with who asked; after the outcome it changes nothing", async () => {
  const l = ledger();
  await l.create(record("contoso", "c1"));
  const first = await l.requestCancel("contoso", "c1", 1, { reason: "cancelled by user", by: "ada" });
  assert.equal(first?.cancelRequested?.by, "ada");
  assert.equal(first?.timeline?.at(-1)?.event, "CancelRequested");
  const again = await l.requestCancel("contoso", "c1", 1, { reason: "rollout aborted", by: "rollout:r1" });
  assert.deepEqual(again?.cancelRequested, first?.cancelRequested, "the first request wins");
  assert.equal(again?.timeline?.filter((e) => e.event === "CancelRequested").length, 1);

  await l.create(record("contoso", "c2"));
  await l.complete("contoso", "c2", 1, "Succeeded");
  const late = await l.requestCancel("contoso", "c2", 1, { reason: "cancelled by user", by: "ada" });
  assert.equal(late?.cancelRequested, undefined);
  assert.equal(await l.requestCancel("contoso", "missing", 1, { reason: "x", by: "ada" }), undefined);
});
