/**
 * Reading and validating request bodies: content type, size limit, JSON syntax, then a strict schema.
 * Every failure is a ProblemError (415, 413, 400) naming what was wrong; nothing here can produce a 500.
 */
import type { HttpRequest } from "@azure/functions";
import type { z } from "zod";
import { ProblemError, validationProblem } from "./problem";
import { fieldErrors } from "./validation";

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
/** Deeper bodies are refused before parsing, so validators never recurse without bound. */
const MAX_JSON_DEPTH = 32;

function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") max = Math.max(max, ++depth);
    else if (c === "}" || c === "]") depth--;
  }
  return max;
}

interface ReadJsonOptions {
  maxBytes?: number;
}

function isJsonContentType(value: string | null): boolean {
  if (!value) return false;
  const mediaType = value.split(";")[0]?.trim().toLowerCase() ?? "";
  return mediaType === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
}

/** Reads the body as JSON, enforcing `content-type` and the size limit. */
export async function readJson(request: HttpRequest, options: ReadJsonOptions = {}): Promise<unknown> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new ProblemError(413, `The request body exceeds the limit of ${maxBytes} bytes.`);
  }
  const raw = Buffer.from(await request.arrayBuffer());
  if (raw.length > maxBytes) {
    throw new ProblemError(413, `The request body exceeds the limit of ${maxBytes} bytes.`);
  }
  if (raw.length === 0) {
    throw validationProblem(
      [{ field: "", message: "a JSON body is required" }],
      "The request body is empty.",
    );
  }
  if (!isJsonContentType(request.headers.get("content-type"))) {
    throw new ProblemError(415, "The request body must be JSON (content-type: application/json).");
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    throw validationProblem(
      [{ field: "", message: "the body is not valid UTF-8" }],
      "The body is not valid UTF-8.",
    );
  }
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw validationProblem(
      [{ field: "", message: `nesting deeper than ${MAX_JSON_DEPTH} levels` }],
      "The request body is nested too deeply.",
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : "invalid JSON";
    throw validationProblem([{ field: "", message: reason }], "The request body is not valid JSON.");
  }
}

/** Validates a value against a schema; the 400 names every offending field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, detail?: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationProblem(fieldErrors(result.error), detail);
  return result.data;
}
