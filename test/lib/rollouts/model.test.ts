import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MAX_NOT_BEFORE_DAYS,
  notBeforeError,
  planRollout,
  resolveBudget,
  rollbackCounts,
  rollbackDeploymentId,
  rolloutDeploymentId,
  startRolloutSchema,
  waveCounts,
  type CandidateTenant,
} from "../../../lib/rollouts/model";
import { deploymentId } from "../../../lib/messaging/contracts";

const fleet = (n: number, labels: (i: number) => Record<string, string> = () => ({})): CandidateTenant[] =>
  Array.from({ length: n }, (_, i) => ({
    name: `t${String(i).padStart(4, "0")}`,
    labels: labels(i),
    state: "active",
  }));

test("percent waves take their share of all targets, rounded up, and the rest goes last", () => {
  const plan = planRollout(
    {
      targets: { selector: "ring" },
      waves: [{ name: "one", percent: 1 }, { name: "ten", percent: 10 }, { name: "rest" }],
    },
    fleet(1000, () => ({ ring: "x" })),
  );
  assert.ok("waves" in plan);
  assert.deepEqual(
    plan.waves.map((w) => [w.name, w.tenants.length]),
    [
      ["one", 10],
      ["ten", 100],
      ["rest", 890],
    ],
  );
  assert.equal(new Set(plan.waves.flatMap((w) => w.tenants)).size, 1000, "each tenant in one wave");
  const small = planRollout(
    { targets: { selector: "ring" }, waves: [{ name: "one", percent: 1 }] },
    fleet(3, () => ({ ring: "x" })),
  );
  assert.ok("waves" in small);
  assert.deepEqual(
    small.waves.map((w) => [w.name, w.tenants.length]),
    [
      ["one", 1],
      ["rest", 2],
    ],
    "at least one, and what no wave took forms a last wave",
  );
});

test("selector and list waves take what earlier waves left, in tenant-name order", () => {
  const rings = ["canary", "early", "broad", "broad"];
  const plan = planRollout(
    {
      targets: { tenants: ["t0003", "t0001", "t0000", "t0002"] },
      waves: [
        { name: "canary", selector: "ring=canary" },
        { name: "named", tenants: ["t0002"] },
        { name: "left", selector: "ring in (early,broad)" },
      ],
    },
    fleet(4, (i) => ({ ring: rings[i]! })),
  );
  assert.ok("waves" in plan);
  assert.deepEqual(
    plan.waves.map((w) => w.tenants),
    [["t0000"], ["t0002"], ["t0001", "t0003"]],
  );
});

test("bad plans name the field", () => {
  const tenants = fleet(2, () => ({ ring: "a" }));
  const unknown = planRollout({ targets: { tenants: ["t0000", "nope"] } }, tenants);
  assert.deepEqual("errors" in unknown && unknown.errors.map((e) => e.field), ["targets.tenants[1]"]);
  const none = planRollout({ targets: { selector: "ring=b" } }, tenants);
  assert.deepEqual("errors" in none && none.errors.map((e) => e.field), ["targets"]);
  const notTarget = planRollout(
    { targets: { tenants: ["t0000"] }, waves: [{ name: "w", tenants: ["t0001"] }] },
    tenants,
  );
  assert.deepEqual("errors" in notTarget && notTarget.errors.map((e) => e.field), ["waves[0].tenants[0]"]);
});

test("budgets: counts as given, percentages of the targets (concurrency rounds up, errors down)", () => {
  assert.equal(resolveBudget(undefined, 50, 10, "concurrency"), 10);
  assert.equal(resolveBudget(7, 50, 10, "concurrency"), 7);
  assert.equal(resolveBudget("10%", 55, 10, "concurrency"), 6);
  assert.equal(resolveBudget("1%", 5, 10, "concurrency"), 1);
  assert.equal(resolveBudget("10%", 55, 0, "errors"), 5);
  assert.equal(resolveBudget("1%", 5, 0, "errors"), 0);
});

test("the request schema refuses zero concurrency, percentages over 100 and a wave with two criteria", () => {
  const base = { spec: {}, targets: { selector: "ring" } };
  const fields = (body: unknown) =>
    startRolloutSchema.safeParse(body).error?.issues.map((i) => i.path.join(".")) ?? [];
  assert.deepEqual(fields({ ...base, maxConcurrency: 0 }), ["maxConcurrency"]);
  assert.deepEqual(fields({ ...base, maxConcurrency: "101%" }), ["maxConcurrency"]);
  assert.deepEqual(fields({ ...base, maxErrors: "150%" }), ["maxErrors"]);
  assert.deepEqual(fields({ ...base, maxErrors: -1 }), ["maxErrors"]);
  assert.deepEqual(fields({ ...base, waves: [{ name: "a", percent: 5, selector: "x" }] }), ["waves.0"]);
  assert.deepEqual(fields({ ...base, waves: [{ name: "a" }, { name: "a" }] }), ["waves.1.name"]);
  assert.deepEqual(fields({ spec: {}, targets: { selector: "a in (" } }), ["targets.selector"]);
  assert.deepEqual(fields({ ...base, maxConcurrency: "25%", maxErrors: 0 }), []);
});

test("a rollout's deployment ids are valid deployment ids, readable when they fit, and stable", () => {
  assert.equal(rolloutDeploymentId("r-1", "contoso"), "r-1.contoso");
  const long = rolloutDeploymentId("a".repeat(40), "b".repeat(63));
  assert.ok(deploymentId.safeParse(long).success, long);
  assert.equal(long, rolloutDeploymentId("a".repeat(40), "b".repeat(63)));
  assert.notEqual(long, rolloutDeploymentId("a".repeat(40), `${"b".repeat(62)}c`));
});

test("wave counts sort each tenant into one bucket", () => {
  assert.deepEqual(
    waveCounts([
      { tenant: "a", wave: 0, phase: "Completed", outcome: "Succeeded" },
      { tenant: "b", wave: 0, phase: "Completed", outcome: "TimedOut" },
      { tenant: "c", wave: 0, phase: "Completed", outcome: "Cancelled" },
      { tenant: "d", wave: 0, phase: "Running" },
      { tenant: "e", wave: 0, phase: "Pending" },
      { tenant: "f", wave: 0, phase: "Skipped" },
      { tenant: "g", wave: 0, phase: "Completed", outcome: "Succeeded", health: "Unhealthy" },
    ]),
    { total: 7, succeeded: 2, failed: 1, cancelled: 1, running: 1, pending: 1, skipped: 1, unhealthy: 1 },
  );
});

test("notBefore: an ISO 8601 timestamp with a zone, after now and at most 90 days ahead", () => {
  const body = { spec: { a: 1 }, targets: { selector: "ring" } };
  for (const notBefore of ["2026-12-24T08:00:00Z", "2026-12-24T08:00:00.5+01:00"])
    assert.ok(startRolloutSchema.safeParse({ ...body, notBefore }).success, notBefore);
  for (const notBefore of ["tomorrow", "2026-12-24", "2026-12-24T08:00:00", 1_800_000_000_000]) {
    const parsed = startRolloutSchema.safeParse({ ...body, notBefore });
    assert.ok(!parsed.success, String(notBefore));
    assert.deepEqual(parsed.error.issues[0]?.path, ["notBefore"]);
  }
  const now = Date.parse("2026-12-08T00:00:00Z");
  const day = 86_400_000;
  assert.equal(notBeforeError(undefined, now), undefined);
  assert.equal(notBeforeError(new Date(now + 60_000).toISOString(), now), undefined);
  assert.equal(notBeforeError(new Date(now + MAX_NOT_BEFORE_DAYS * day).toISOString(), now), undefined);
  assert.deepEqual(notBeforeError(new Date(now).toISOString(), now), {
    field: "notBefore",
    message: "must be in the future",
  });
  assert.deepEqual(notBeforeError(new Date(now + MAX_NOT_BEFORE_DAYS * day + 1).toISOString(), now), {
    field: "notBefore",
    message: "must be at most 90 days ahead",
  });
});

test("onHalt: stop or rollback; rollback needs a release (a raw spec has no previous release)", () => {
  const fields = (body: unknown) =>
    startRolloutSchema.safeParse(body).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];
  const targets = { selector: "ring" };
  assert.deepEqual(fields({ release: "1.0.0", targets, onHalt: "rollback" }), []);
  assert.deepEqual(fields({ spec: {}, targets, onHalt: "stop" }), []);
  const [raw] = fields({ spec: {}, targets, onHalt: "rollback" });
  assert.match(raw ?? "", /^onHalt: .*needs the rollout to name a release/);
  assert.match(fields({ release: "1.0.0", targets, onHalt: "undo" })[0] ?? "", /^onHalt: /);
});

test("rollback deployment ids are valid, stable, and never a forward id", () => {
  assert.equal(rollbackDeploymentId("r-1", "contoso"), "r-1.contoso.rollback");
  const long = rollbackDeploymentId("a".repeat(40), "b".repeat(63));
  assert.ok(deploymentId.safeParse(long).success, long);
  assert.equal(long, rollbackDeploymentId("a".repeat(40), "b".repeat(63)));
  assert.notEqual(long, rolloutDeploymentId("a".repeat(40), "b".repeat(63)));
  assert.ok(deploymentId.safeParse(rollbackDeploymentId("a".repeat(40), "b".repeat(10))).success);
});

test("rollback counts: tenants with a rollback, by how it went", () => {
  const row = (tenant: string, more: object) => ({ tenant, wave: 0, phase: "Completed" as const, ...more });
  assert.deepEqual(
    rollbackCounts([
      row("a", { rollback: "Completed", rollbackOutcome: "Succeeded" }),
      row("b", { rollback: "Completed", rollbackOutcome: "Failed" }),
      row("c", { rollback: "NotPossible" }),
      row("d", { rollback: "Running" }),
      row("e", {}),
    ]),
    { tenants: 4, succeeded: 1, failed: 1, notPossible: 1 },
  );
});
