import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TableClient } from "@azure/data-tables";
import { startAzurite } from "../../dev/azurite";
import { kill9, startPart } from "../helpers/part";

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

/** Azurite persisted in a process of its own (as `npm start` runs it), so it can be killed for real. */
async function startChild(location: string): Promise<{ child: ChildProcess; connectionString: string }> {
  const { child, ready } = await startPart<{ connectionString: string }>("azurite-cli.js", [
    "--location",
    location,
    "--port",
    "0",
  ]);
  return { child, connectionString: ready.connectionString };
}

test("persisted Azurite keeps every acknowledged write through kill -9 (write-through)", async () => {
  const location = fs.mkdtempSync(path.join(os.tmpdir(), "azurite-crash-"));
  let child: ChildProcess | undefined;
  try {
    const first = await startChild(location);
    child = first.child;
    const table = TableClient.fromConnectionString(first.connectionString, "crash", {
      allowInsecureConnection: true,
    });
    await table.createTable();
    // Concurrent writes, as the durable engine makes them: single upserts, a transaction, an update, a delete.
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => table.upsertEntity({ partitionKey: "p", rowKey: `r${i}`, n: i })),
    );
    await table.submitTransaction(
      Array.from({ length: 10 }, (_, i) => ["create", { partitionKey: "t", rowKey: `t${i}`, n: i }] as const),
    );
    await table.updateEntity({ partitionKey: "p", rowKey: "r0", n: 100 }, "Merge");
    await table.deleteEntity("p", "r1");
    await kill9(first.child);
    child = undefined;

    const second = await startChild(location);
    child = second.child;
    const again = TableClient.fromConnectionString(second.connectionString, "crash", {
      allowInsecureConnection: true,
    });
    const rows: { partitionKey?: string; rowKey?: string; n?: number }[] = [];
    for await (const e of again.listEntities<{ n: number }>()) rows.push(e);
    assert.equal(rows.length, 59);
    assert.equal(rows.find((r) => r.rowKey === "r0")?.n, 100);
    assert.equal(
      rows.some((r) => r.rowKey === "r1"),
      false,
    );
    assert.equal(rows.filter((r) => r.partitionKey === "t").length, 10);
  } finally {
    if (child) await kill9(child);
    fs.rmSync(location, { recursive: true, force: true });
  }
});
