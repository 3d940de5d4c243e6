import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CURRENT_SCHEMA_VERSION,
  isJsonObject,
  readJsonColumn,
  schemaVersionColumn,
  schemaVersionOf,
  StoredRowError,
} from "../../../lib/storage/rows";

const row = (json: unknown) => ({ partitionKey: "p1", rowKey: "r1", json });

test("a row without schemaVersion is version 1; written rows carry the current version", () => {
  assert.equal(schemaVersionOf({ partitionKey: "p", rowKey: "r" }), 1);
  assert.equal(schemaVersionOf({ schemaVersion: 1 }), 1);
  assert.equal(schemaVersionOf({ schemaVersion: 3 }), 3, "a newer row is read as far as we understand it");
  assert.equal(schemaVersionOf({ schemaVersion: "x" }), 1);
  assert.deepEqual(schemaVersionColumn(), { schemaVersion: CURRENT_SCHEMA_VERSION });
  assert.equal(CURRENT_SCHEMA_VERSION, 1);
});

test("a JSON column parses; missing, unparsable or misshapen is a StoredRowError naming table, partition, row and column", () => {
  assert.deepEqual(readJsonColumn("t", row('{"a":1}'), "json", { valid: isJsonObject }), { a: 1 });
  for (const [value, reason] of [
    [undefined, /is missing/],
    [null, /is missing/],
    ["", /is missing/],
    ["undefined", /is not valid JSON/],
    ["{trunc", /is not valid JSON/],
    [42, /is not a string/],
    ["[1]", /expected shape/],
  ] as const) {
    assert.throws(
      () => readJsonColumn("deployments", row(value), "json", { valid: isJsonObject }),
      (error: unknown) => {
        assert.ok(error instanceof StoredRowError, String(error));
        assert.equal(error.table, "deployments");
        assert.equal(error.partitionKey, "p1");
        assert.equal(error.rowKey, "r1");
        assert.equal(error.column, "json");
        assert.match(error.message, /Table "deployments", partition "p1", row "r1": column "json"/);
        assert.match(error.message, reason);
        return true;
      },
    );
  }
});

test("with a default, a missing or unparsable column reads as the default", () => {
  const opts = { default: () => [] as number[], valid: Array.isArray };
  assert.deepEqual(readJsonColumn("t", row(undefined), "json", opts), []);
  assert.deepEqual(readJsonColumn("t", row("nope"), "json", opts), []);
  assert.deepEqual(readJsonColumn("t", row("{}"), "json", opts), []);
  assert.deepEqual(readJsonColumn("t", row("[1,2]"), "json", opts), [1, 2]);
});
