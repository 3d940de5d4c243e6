import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  formatSelector,
  matchesSelector,
  MAX_SELECTOR_LENGTH,
  parseSelector,
  SelectorError,
} from "../../../lib/tenants/selector";
import { isLabelKey, isLabelValue, labelsSchema, MAX_LABELS } from "../../../lib/tenants/labels";

const canaryEu = { ring: "canary", region: "eu" };
const prodUs = { ring: "prod", region: "us", "example.com/tier": "gold" };
const bare = {};

function matches(selector: string, labels: Record<string, string>): boolean {
  return matchesSelector(parseSelector(selector), labels);
}

describe("parseSelector", () => {
  test("every form parses into its requirement", () => {
    assert.deepEqual(parseSelector("ring=canary").requirements, [{ key: "ring", op: "=", value: "canary" }]);
    assert.deepEqual(parseSelector("ring==canary").requirements, [{ key: "ring", op: "=", value: "canary" }]);
    assert.deepEqual(parseSelector("ring!=canary").requirements, [
      { key: "ring", op: "!=", value: "canary" },
    ]);
    assert.deepEqual(parseSelector("region in (eu,us)").requirements, [
      { key: "region", op: "in", values: ["eu", "us"] },
    ]);
    assert.deepEqual(parseSelector("region notin (eu)").requirements, [
      { key: "region", op: "notin", values: ["eu"] },
    ]);
    assert.deepEqual(parseSelector("ring").requirements, [{ key: "ring", op: "exists" }]);
    assert.deepEqual(parseSelector("!ring").requirements, [{ key: "ring", op: "!exists" }]);
  });

  test("whitespace is ignored around tokens; comma is AND", () => {
    const s = parseSelector("  ring = canary ,  region in ( eu , us ) , !legacy , example.com/tier ");
    assert.equal(s.requirements.length, 4);
    assert.equal(formatSelector(s), "ring=canary,region in (eu,us),!legacy,example.com/tier");
  });

  test("an empty selector has no requirements and matches everything", () => {
    assert.deepEqual(parseSelector("").requirements, []);
    assert.deepEqual(parseSelector("   ").requirements, []);
    assert.ok(matches("", bare));
  });

  test("an empty value is allowed (as in Kubernetes)", () => {
    assert.deepEqual(parseSelector("ring=").requirements, [{ key: "ring", op: "=", value: "" }]);
    assert.ok(matches("ring=", { ring: "" }));
    assert.ok(!matches("ring=", bare));
  });

  const bad: [string, RegExp][] = [
    ["ring=canary,", /expected a label key at position 12/],
    [",ring", /expected a label key at position 0/],
    ["ring canary", /unknown operator "canary"/],
    ["ring=can ary", /expected "," between requirements at position 9/],
    ["ring in eu", /expected "\(" after in \/ notin/],
    ["ring in (eu", /expected "," or "\)" in the value list/],
    ["ring in (eu,)", /expected a value in the list at position 12/],
    ["-ring=x", /"-ring" is not a valid label key/],
    ["ring=-x", /"-x" is not a valid label value/],
    ["ring>1", /expected "=", "==", "!=", "in", "notin", "," or the end at position 4/],
    ["!", /expected a label key/],
    ["Bad_Prefix/ring=x", /is not a valid label key/],
    [`ring=${"a".repeat(64)}`, /is not a valid label value/],
    ["ring=a;drop", /expected "," between requirements/],
  ];
  for (const [text, message] of bad) {
    test(`"${text.length > 30 ? text.slice(0, 30) + "…" : text}" is a SelectorError saying where`, () => {
      assert.throws(
        () => parseSelector(text),
        (e: unknown) => e instanceof SelectorError && message.test(e.message) && e.selector === text,
      );
    });
  }

  test("a selector over the length limit is refused before parsing", () => {
    assert.throws(() => parseSelector("a,".repeat(MAX_SELECTOR_LENGTH)), SelectorError);
  });
});

describe("matchesSelector", () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ["ring=canary", canaryEu, true],
    ["ring=canary", prodUs, false],
    ["ring=canary", bare, false],
    ["ring==prod", prodUs, true],
    ["ring!=canary", prodUs, true],
    ["ring!=canary", canaryEu, false],
    ["ring!=canary", bare, true], // as in Kubernetes: a missing label is not equal
    ["region in (eu,us)", canaryEu, true],
    ["region in (eu,us)", prodUs, true],
    ["region in (eu,us)", bare, false],
    ["region notin (eu)", prodUs, true],
    ["region notin (eu)", canaryEu, false],
    ["region notin (eu)", bare, true],
    ["ring", canaryEu, true],
    ["ring", bare, false],
    ["!ring", bare, true],
    ["!ring", canaryEu, false],
    ["ring=canary,region=eu", canaryEu, true],
    ["ring=canary,region=us", canaryEu, false],
    ["example.com/tier=gold,ring notin (canary)", prodUs, true],
    ["example.com/tier", canaryEu, false],
  ];
  for (const [selector, labels, expected] of cases) {
    test(`${selector} on ${JSON.stringify(labels)} → ${expected}`, () => {
      assert.equal(matches(selector, labels), expected);
    });
  }

  test("inherited object properties are not labels", () => {
    assert.ok(!matches("constructor", bare));
    assert.ok(matches("!toString", bare));
  });
});

describe("label syntax", () => {
  test("keys: optional DNS subdomain prefix and a name of at most 63", () => {
    for (const k of ["ring", "a", "a.b_c-d", "example.com/ring", "k8s.io/x", "A1"])
      assert.ok(isLabelKey(k), k);
    for (const k of ["", "-a", "a-", "a b", "/ring", "Example.com/ring", "ex/", "a/b/c", "a".repeat(64)])
      assert.ok(!isLabelKey(k), k);
    assert.ok(isLabelKey(`${"a".repeat(63)}`));
    assert.ok(!isLabelKey(`${"a".repeat(254)}/x`));
  });

  test("values: empty or a name of at most 63", () => {
    for (const v of ["", "canary", "v1.2.3", "a_b"]) assert.ok(isLabelValue(v), v);
    for (const v of ["-x", "x-", "a b", "a/b", "a".repeat(64)]) assert.ok(!isLabelValue(v), v);
  });

  test("the schema names the offending key and bounds the count", () => {
    const r = labelsSchema.safeParse({ ring: "canary", "bad key": "x", region: "-eu" });
    assert.ok(!r.success);
    assert.deepEqual(r.error.issues.map((i) => i.path.join(".")).sort(), ["bad key", "region"]);
    const many = Object.fromEntries(Array.from({ length: MAX_LABELS + 1 }, (_, i) => [`k${i}`, "v"]));
    assert.ok(!labelsSchema.safeParse(many).success);
    assert.ok(!labelsSchema.safeParse({ ring: 1 }).success);
  });
});
