/**
 * The answer for a request no API function took: 405 with `Allow` when the path is one the API serves
 * with other methods, else 404, both problem+json. Without it the platform (or the dev host) answers
 * with its own body, which is not the API's error format.
 */
import { apiHandler } from "./handler";
import { ProblemError } from "./problem";
import { allowedMethods } from "./routes";

export const notFoundHandler = apiHandler(async (request) => {
  const method = request.method.toUpperCase();
  const allowed: string[] = allowedMethods(request.params.path ?? "");
  if (allowed.length > 0 && !allowed.includes(method)) {
    throw new ProblemError(
      405,
      `${method} is not allowed on this path; it accepts ${allowed.join(", ")}.`,
      undefined,
      {},
      { allow: allowed.join(", ") },
    );
  }
  throw new ProblemError(404, "No API route matches this path.");
});
