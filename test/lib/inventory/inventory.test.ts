import { test } from "node:test";
import assert from "node:assert/strict";
import type { ReleaseAttempt } from "../../../lib/deployments/ledger";
import { countInventory, inventoryOf, isBehind, releaseBefore } from "../../../lib/inventory/inventory";

const attempt = (
  over: Partial<ReleaseAttempt> & Pick<ReleaseAttempt, "tenant" | "release">,
): ReleaseAttempt => ({
  id: `d-${over.release}`,
  attempt: 1,
  phase: "Completed",
  requestedAt: "2026-01-01T00:00:00.000Z",
  ...over,
});

test("current is the latest success, previous the latest success of another release, inFlight the newest open attempt", () => {
  const attempts = [
    attempt({ tenant: "a", release: "1.0.0", outcome: "Succeeded", completedAt: "2026-01-01T01:00:00Z" }),
    attempt({ tenant: "a", release: "1.1.0", outcome: "Succeeded", completedAt: "2026-01-02T01:00:00Z" }),
    // A redeploy of the same release: previous stays the release before it.
    attempt({
      tenant: "a",
      id: "again",
      release: "1.1.0",
      outcome: "Succeeded",
      completedAt: "2026-01-03T01:00:00Z",
    }),
    // Failed and cancelled releases are not installed.
    attempt({ tenant: "a", release: "2.0.0", outcome: "Failed", completedAt: "2026-01-04T01:00:00Z" }),
    attempt({
      tenant: "a",
      id: "open",
      release: "2.0.1",
      phase: "InProgress",
      requestedAt: "2026-01-05T00:00:00Z",
    }),
    attempt({ tenant: "b", release: "1.0.0", outcome: "Cancelled", completedAt: "2026-01-01T01:00:00Z" }),
  ];
  const [a, b, c] = inventoryOf(
    [
      { name: "a", labels: { ring: "canary" } },
      { name: "b", labels: { ring: "prod" } },
      { name: "c", labels: {} },
    ],
    attempts,
  );
  assert.equal(a?.current?.release, "1.1.0");
  assert.equal(a?.current?.deploymentId, "again");
  assert.equal(a?.previous?.release, "1.0.0");
  assert.equal(a?.inFlight?.release, "2.0.1");
  assert.equal(b?.current, undefined);
  assert.equal(c?.current, undefined);
  // As the API answers it (the counts are prototype-less records: label keys are user data).
  const counts = JSON.parse(JSON.stringify(countInventory([a!, b!, c!]))) as ReturnType<
    typeof countInventory
  >;
  assert.deepEqual(counts.byVersion, { "1.1.0": 1, none: 2 });
  assert.deepEqual(counts.byLabel, { ring: { canary: { "1.1.0": 1 }, prod: { none: 1 } } });
  assert.equal(isBehind(a!, "1.1.0"), false);
  assert.equal(isBehind(a!, "1.2.0-rc.1"), true);
  assert.equal(isBehind(c!, "0.0.1"), true, "no release is behind every version");
});

test("label keys and values that name Object's own members are counted, and pollute nothing", () => {
  const [t] = inventoryOf(
    [{ name: "t", labels: { constructor: "prototype", toString: "x", __proto__x: "y" } }],
    [attempt({ tenant: "t", release: "2.4.0", outcome: "Succeeded", completedAt: "2026-01-01T00:00:00Z" })],
  );
  const counts = countInventory([t!]);
  assert.equal(counts.byLabel.constructor?.prototype?.["2.4.0"], 1);
  assert.equal(counts.byLabel["toString"]?.["x"]?.["2.4.0"], 1);
  assert.equal(({} as Record<string, unknown>)["2.4.0"], undefined, "Object.prototype is untouched");
  assert.equal(typeof Object.prototype.toString, "function");
});

test("releaseBefore: the release a tenant ran before an attempt, by the inventory's own rule", () => {
  const one = attempt({
    tenant: "a",
    release: "1.0.0",
    outcome: "Succeeded",
    completedAt: "2026-01-01T01:00:00Z",
  });
  const two = attempt({
    tenant: "a",
    release: "2.0.0",
    outcome: "Succeeded",
    completedAt: "2026-01-02T01:00:00Z",
  });
  const failed = attempt({
    tenant: "a",
    id: "f",
    release: "1.5.0",
    outcome: "Failed",
    completedAt: "2026-01-01T05:00:00Z",
  });
  const three = attempt({
    tenant: "a",
    release: "3.0.0",
    outcome: "Succeeded",
    completedAt: "2026-01-03T01:00:00Z",
  });
  const own = [one, failed, two, three];
  assert.equal(releaseBefore(own, two)?.release, "1.0.0", "a failed attempt installed nothing");
  assert.equal(releaseBefore(own, three)?.release, "2.0.0");
  assert.equal(releaseBefore(own, one), undefined, "nothing before the first");
  const [inv] = inventoryOf([{ name: "a", labels: {} }], own);
  assert.equal(inv?.previous?.release, releaseBefore(own, three)?.release);
});
