import { test } from "node:test";
import assert from "node:assert/strict";
import { forEachLimited } from "../../../lib/concurrency/limited";

test("every item runs once, never more than the limit at a time, started in list order", async () => {
  const started: number[] = [];
  let running = 0;
  let peak = 0;
  await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    started.push(n);
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5 * (n % 3)));
    running--;
  });
  assert.deepEqual(started, [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(peak, 3);
  await forEachLimited([], 3, async () => assert.fail("no items, no work"));
});
