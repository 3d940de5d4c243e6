import { test } from "node:test";
import assert from "node:assert/strict";
import { compareVersions, sinceVersion } from "../../../lib/durable/version";

test("versions compare as the Durable extension compares them", () => {
  assert.equal(compareVersions(undefined, undefined), 0);
  assert.equal(compareVersions("", undefined), 0, "empty and absent are the same");
  assert.equal(compareVersions(undefined, "0.0.1"), -1, "no version is older than any");
  assert.equal(compareVersions("0.2.0", undefined), 1);
  assert.equal(compareVersions("0.10.0", "0.9.0"), 1, "numeric parts, not text");
  assert.equal(compareVersions("1.0", "1.0.0"), -1, "System.Version: an absent part is older");
  assert.equal(compareVersions("2025-01-02", "2025-01-10"), -1, "other formats compare as text");
  assert.equal(compareVersions("V2", "v2"), 0, "case-insensitive");
  assert.equal(compareVersions("10", "9"), -1, "a single number is not a System.Version: text order");
  assert.equal(sinceVersion(undefined, "0.2.0"), false);
  assert.equal(sinceVersion("0.2.0", "0.2.0"), true);
  assert.equal(sinceVersion("0.3.1", "0.2.0"), true);
});
