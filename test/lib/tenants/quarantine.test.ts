/**
 * The bad-message count behind a tenant's quarantine: a sliding window (ten buckets), stored in the
 * tenant health table so it survives a Provider restart, and lifted by resume.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startAzurite, RunningAzurite } from "../../../dev/azurite";
import { createTableClient } from "../../../lib/storage/tables";
import { TenantHealthStore } from "../../../lib/tenants/health";
import { badInWindow, countBadMessages, type QuarantinePolicy } from "../../../lib/tenants/quarantine";

const policy: QuarantinePolicy = { badMessages: 100, windowSeconds: 600 };
const T0 = Date.parse("2026-01-02T12:00:00.000Z");

test("bad messages are counted in a sliding window; the quarantine begins at the threshold", () => {
  let count = countBadMessages(undefined, 60, "InvalidJson", policy, T0);
  assert.equal(count.quarantine, undefined);
  // 11 minutes later the first 60 have left the window.
  count = countBadMessages(count, 60, "UnknownDeployment", policy, T0 + 11 * 60_000);
  assert.equal(badInWindow(count, policy, T0 + 11 * 60_000), 60);
  assert.equal(count.quarantine, undefined);
  count = countBadMessages(count, 40, "Oversized", policy, T0 + 12 * 60_000);
  assert.deepEqual(count.quarantine, {
    at: new Date(T0 + 12 * 60_000).toISOString(),
    badMessages: 100,
    windowSeconds: 600,
    lastReason: "Oversized",
  });
  assert.ok(count.buckets.length <= 11, "old buckets are dropped");
  assert.equal(
    countBadMessages(undefined, 1e6, "x", { ...policy, badMessages: 0 }, T0).quarantine,
    undefined,
  );
});

let azurite: RunningAzurite;
before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

test("the count and the quarantine survive a restart (a new store on the same table); resume lifts it", async () => {
  const table = () => createTableClient(azurite.connectionString, "tenanthealthq");
  const first = new TenantHealthStore(table());
  const small = { badMessages: 5, windowSeconds: 600 };
  assert.equal(await first.recordBadMessages("contoso", 3, "InvalidJson", small, new Date(T0)), undefined);
  await first.recordVerify("contoso", { at: new Date(T0).toISOString(), ok: true, latencyMs: 5 });
  const restarted = new TenantHealthStore(table());
  const q = await restarted.recordBadMessages("contoso", 2, "ForeignDeployment", small, new Date(T0 + 1000));
  assert.equal(q?.badMessages, 5);
  assert.equal(q?.lastReason, "ForeignDeployment");
  assert.deepEqual(await new TenantHealthStore(table()).quarantine("contoso"), q);
  assert.equal(await restarted.quarantine("fabrikam"), undefined);
  assert.equal((await restarted.lastVerify("contoso"))?.ok, true, "the verify row is untouched");
  assert.deepEqual(await restarted.resume("contoso"), q);
  assert.equal(await restarted.quarantine("contoso"), undefined);
  assert.equal(await restarted.recordBadMessages("contoso", 1, "x", small, new Date(T0 + 2000)), undefined);
});
