/**
 * Turns zod validation failures into field-level errors (`{ field, message }`) for problem responses
 * and dead-letter reasons. One place decides how paths are spelt, so API and messages agree.
 */
import type { z } from "zod";
import type { FieldError } from "./problem";

function joinPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`))
    .join("");
}

export function fieldErrors(error: z.ZodError): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({ field: joinPath([...issue.path, key]), message: "unknown field" });
      }
      continue;
    }
    out.push({ field: joinPath(issue.path), message: issue.message });
  }
  return out;
}
