import { test } from "node:test";
import assert from "node:assert/strict";
import { compareVersions, releaseVersion, renderSpec } from "../../../lib/releases/model";

test("SemVer precedence: numbers numerically, a pre-release before its release, identifiers field by field", () => {
  const sorted = [
    "1.0.0",
    "1.0.0-rc.1",
    "1.0.0-beta.11",
    "1.0.0-beta.2",
    "1.0.0-alpha",
    "0.9.10",
    "0.9.9",
    "10.0.0",
  ]
    .slice()
    .sort(compareVersions);
  assert.deepEqual(sorted, [
    "0.9.9",
    "0.9.10",
    "1.0.0-alpha",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "10.0.0",
  ]);
  assert.equal(compareVersions("1.2.3", "1.2.3"), 0);
  for (const good of ["0.0.0", "1.2.3-rc.1", "2.4.0-x-y.0"])
    assert.ok(releaseVersion.safeParse(good).success, good);
  for (const bad of ["1.2", "01.2.3", "1.2.3+b", "1.2.3-01", "v1.2.3", "1.2.3-"])
    assert.ok(!releaseVersion.safeParse(bad).success, bad);
});

test("rendering: the tenant's parameters overlay the release's, one level; none leaves the spec as it is", () => {
  const spec = { image: "a", parameters: { replicas: 1, db: { tier: "s" } } };
  assert.equal(renderSpec(spec, undefined), spec);
  assert.equal(renderSpec(spec, {}), spec);
  assert.deepEqual(renderSpec(spec, { replicas: 3, db: { setting: "DB" } }), {
    image: "a",
    parameters: { replicas: 3, db: { setting: "DB" } },
  });
  assert.deepEqual(renderSpec({ image: "a" }, { region: "eu" }), {
    image: "a",
    parameters: { region: "eu" },
  });
  assert.deepEqual(spec.parameters, { replicas: 1, db: { tier: "s" } }, "the release's spec is not changed");
});
