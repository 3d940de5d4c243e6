/**
 * A status's size is checked on the body as received, before any parsing: a huge body is refused
 * Oversized without JSON.parse, and a body the client already decoded (an AMQP value section) is measured
 * by a walk that stops at the limit instead of being re-serialised whole.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { bodySize, jsonBytesUpTo, LIMITS, parseStatus } from "../../../lib/messaging/contracts";

const status = {
  schemaVersion: 1,
  deploymentId: "d-1",
  attempt: 1,
  state: "Accepted",
  progress: 0,
  sequence: 1,
  reportedAt: "2026-01-02T12:00:00.000Z",
};

/** Runs `fn` with JSON.parse / JSON.stringify counting the characters they handle. */
function watchJson<T>(fn: () => T): { result: T; parsedChars: number; stringifiedChars: number } {
  const { parse, stringify } = JSON;
  let parsedChars = 0;
  let stringifiedChars = 0;
  JSON.parse = ((text: string, reviver?: never) => {
    parsedChars += String(text).length;
    return parse(text, reviver);
  }) as typeof JSON.parse;
  JSON.stringify = ((...args: Parameters<typeof JSON.stringify>) => {
    const out = stringify(...args);
    stringifiedChars += out?.length ?? 0;
    return out;
  }) as typeof JSON.stringify;
  try {
    return { result: fn(), parsedChars, stringifiedChars };
  } finally {
    JSON.parse = parse;
    JSON.stringify = stringify;
  }
}

test("a body of bytes over the limit is Oversized without being parsed, valid JSON or not", () => {
  const huge = Buffer.from(JSON.stringify({ ...status, message: "x".repeat(2 * 1024 * 1024) }));
  for (const body of [huge, Buffer.alloc(2 * 1024 * 1024, "{")]) {
    const { result, parsedChars } = watchJson(() => parseStatus({ body, contentType: "application/json" }));
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reason, "Oversized");
    assert.equal(parsedChars, 0, "nothing was parsed");
  }
});

test("text over the limit is Oversized without being parsed", () => {
  const { result, parsedChars } = watchJson(() =>
    parseStatus({ body: "[".repeat(LIMITS.bodyBytes + 1), contentType: "application/json" }),
  );
  assert.equal(!result.ok && result.reason, "Oversized");
  assert.equal(parsedChars, 0);
});

test("an already-decoded body over the limit is refused at a cost bounded by the limit, not its size", () => {
  const decoded = {
    ...status,
    detail: { items: Array.from({ length: 200_000 }, (_, i) => ({ i, s: "abc" })) },
  };
  const { result, stringifiedChars } = watchJson(() => parseStatus({ body: decoded }));
  assert.equal(!result.ok && result.reason, "Oversized");
  assert.ok(stringifiedChars < 2 * LIMITS.bodyBytes, `stringified ${stringifiedChars} characters`);
});

test("within the limit, the measure is exactly the UTF-8 size of the value's JSON", () => {
  const values: unknown[] = [
    status,
    { a: [1, undefined, () => 1, null, true, 'é\u2028"\\'], b: undefined, c: { d: [] }, "k\u00e9y": -1.5e-7 },
    [new Date(0), Buffer.from("hi"), "😀", NaN],
    "plain",
    42,
    null,
    [[[[[]]]]],
  ];
  for (const v of values)
    assert.equal(
      jsonBytesUpTo(v, LIMITS.bodyBytes),
      Buffer.byteLength(JSON.stringify(v), "utf8"),
      JSON.stringify(v),
    );
  const deep = JSON.parse(`${"[".repeat(20_000)}${"]".repeat(20_000)}`) as unknown;
  assert.equal(jsonBytesUpTo(deep, LIMITS.bodyBytes), 40_000, "deep nesting is walked without recursion");
  assert.ok(jsonBytesUpTo({ s: "x".repeat(100) }, 50) > 50);
});

test("bodySize counts bytes as received", () => {
  assert.equal(bodySize(Buffer.alloc(10)), 10);
  assert.equal(bodySize("é"), 2);
  assert.equal(bodySize({ a: 1 }), 7);
});
