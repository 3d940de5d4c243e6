import { test } from "node:test";
import assert from "node:assert/strict";
import { TableClient } from "@azure/data-tables";
import { startAzurite } from "../../dev/azurite";

test("startAzurite serves an isolated in-memory table endpoint on a random port", async () => {
  const a = await startAzurite();
  const b = await startAzurite();
  try {
    assert.notEqual(a.tableEndpoint, b.tableEndpoint);
    const ta = TableClient.fromConnectionString(a.connectionString, "probe", {
      allowInsecureConnection: true,
    });
    await ta.createTable();
    await ta.createEntity({ partitionKey: "p", rowKey: "r", value: 42 });
    const got = await ta.getEntity<{ value: number }>("p", "r");
    assert.equal(got.value, 42);
    const tb = TableClient.fromConnectionString(b.connectionString, "probe", {
      allowInsecureConnection: true,
    });
    await assert.rejects(tb.getEntity("p", "r"), (e: { statusCode?: number }) => e.statusCode === 404);
  } finally {
    await a.stop();
    await b.stop();
  }
});
