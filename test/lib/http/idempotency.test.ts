/**
 * The Idempotency-Key contract of every start-like request (lib/http/idempotency.ts): 1-128 characters;
 * a key names the new resource's id, derived exactly as ids already stored were (a change would make a
 * repeat start a second deployment or rollout); a key reused for another request is a 422.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { idempotencyKeyOf, keyReusedProblem, resourceId } from "../../../lib/http/idempotency";
import { ProblemError } from "../../../lib/http/problem";
import { makeRequest } from "../../helpers/http";

const sha = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 24);

test("a key of 1-128 characters is read; none is undefined; an empty or longer one is a 400", () => {
  assert.equal(idempotencyKeyOf(makeRequest({ headers: { "Idempotency-Key": "release-42" } })), "release-42");
  assert.equal(idempotencyKeyOf(makeRequest({})), undefined);
  assert.equal(
    idempotencyKeyOf(makeRequest({ headers: { "idempotency-key": "k".repeat(128) } }))?.length,
    128,
  );
  for (const bad of ["", "k".repeat(129)]) {
    assert.throws(
      () => idempotencyKeyOf(makeRequest({ headers: { "idempotency-key": bad } })),
      (error: unknown) =>
        error instanceof ProblemError &&
        error.status === 400 &&
        JSON.stringify(error.errors).includes("Idempotency-Key"),
    );
  }
});

test("a key names the id as stored ids were named: scope, newline, key; the key alone without a scope", () => {
  // A deployment: scoped by its tenant; a rollout retry: by the retried rollout; a rollout start: unscoped.
  assert.equal(resourceId("d", "release-42", "contoso"), `d-${sha("contoso\nrelease-42")}`);
  assert.equal(resourceId("r", "release-42", "r-previous"), `r-${sha("r-previous\nrelease-42")}`);
  assert.equal(resourceId("r", "release-42"), `r-${sha("release-42")}`);
});

test("without a key the id is random, of the same form", () => {
  const a = resourceId("d", undefined, "contoso");
  const b = resourceId("d", undefined, "contoso");
  assert.match(a, /^d-[0-9a-f]{24}$/);
  assert.notEqual(a, b);
});

test("a reused key is a 422 naming the header", () => {
  const problem = keyReusedProblem();
  assert.equal(problem.status, 422);
  assert.deepEqual(problem.errors, [
    { field: "Idempotency-Key", message: "was already used with a different request body" },
  ]);
});
