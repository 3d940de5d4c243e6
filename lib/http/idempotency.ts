/**
 * The `Idempotency-Key` request header, the same for every start-like request (deployments start,
 * rollouts start and retry): the key is 1-128 characters; a key names the new resource's id, so a repeat
 * of the request finds what the first one made; a key reused for a different request is a 422.
 */
import { createHash, randomUUID } from "node:crypto";
import type { HttpRequest } from "@azure/functions";
import { ProblemError, validationProblem } from "./problem";

/** The request's Idempotency-Key, or undefined when it has none; a 400 when it is empty or too long. */
export function idempotencyKeyOf(request: HttpRequest): string | undefined {
  const key = request.headers.get("idempotency-key") ?? undefined;
  if (key !== undefined && (key.length === 0 || key.length > 128))
    throw validationProblem([{ field: "Idempotency-Key", message: "must be 1-128 characters" }]);
  return key;
}

/**
 * The id of a new resource: `<prefix>-` and 24 hex digits. With a key they are the SHA-256 of
 * `<scope>\n<key>` (of the key alone without a scope), so the same key in the same scope names the same
 * resource; without a key they are random. The derivation is stored in ids (and the instance ids made of
 * them): it never changes.
 */
export function resourceId(prefix: string, key: string | undefined, scope?: string): string {
  if (key === undefined || key === "") return `${prefix}-${randomUUID().replace(/-/g, "").slice(0, 24)}`;
  const material = scope === undefined ? key : `${scope}\n${key}`;
  return `${prefix}-${createHash("sha256").update(material).digest("hex").slice(0, 24)}`;
}

/** The 422 for a key that was already used with a different request. */
export function keyReusedProblem(): ProblemError {
  return new ProblemError(
    422,
    "The Idempotency-Key was already used with a different request; use a new key for a new request.",
    [{ field: "Idempotency-Key", message: "was already used with a different request body" }],
  );
}
