/**
 * Paging parameters shared by the list APIs. A continuation token is opaque to clients, so a token the
 * API did not hand out (edited, truncated, from another listing) is the client's mistake: a 400 naming
 * `continuationToken`, whether its shape is wrong or the storage service refuses it.
 */
import { z } from "zod";
import { InvalidContinuationTokenError, isContinuationToken } from "../storage/tables";
import { validationProblem } from "./problem";

const MESSAGE = "is not a continuation token this API handed out";

export const continuationTokenParam = z.string().min(1).max(4096).refine(isContinuationToken, MESSAGE);

/** For a list call's `.catch`: a token the store refused becomes the same 400 as a malformed one. */
export function rejectInvalidContinuationToken(error: unknown): never {
  if (error instanceof InvalidContinuationTokenError)
    throw validationProblem([{ field: "continuationToken", message: MESSAGE }]);
  throw error;
}
