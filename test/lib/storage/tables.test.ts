import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startAzurite, RunningAzurite } from "../../../dev/azurite";
import {
  createTableClient,
  InvalidContinuationTokenError,
  isContinuationToken,
  queryPage,
} from "../../../lib/storage/tables";

let azurite: RunningAzurite;

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

const b64 = (text: string) => Buffer.from(text, "latin1").toString("base64");

test("queryPage walks a table with the tokens the service hands out, and they pass the shape check", async () => {
  const client = createTableClient(azurite.connectionString, "pagingtable");
  await client.createTable();
  for (let i = 0; i < 5; i++) await client.createEntity({ partitionKey: "p", rowKey: `r${i}` });
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await queryPage<{ rowKey: string }>(client, "PartitionKey eq 'p'", 2, token);
    seen.push(...page.items.map((e) => e.rowKey as string));
    token = page.continuationToken;
    if (token) assert.ok(isContinuationToken(token), token);
    pages += 1;
  } while (token && pages < 10);
  assert.deepEqual(seen, ["r0", "r1", "r2", "r3", "r4"]);
  assert.ok(pages >= 3);
});

test("tokens the SDK could not have made are refused before they reach it", async () => {
  const client = createTableClient(azurite.connectionString, "pagingtable2");
  await client.createTable();
  const real = b64(JSON.stringify({ nextPartitionKey: "p", nextRowKey: "r1" }));
  assert.ok(isContinuationToken(real));
  assert.ok(isContinuationToken(b64(JSON.stringify({ nextPartitionKey: "p" }))));
  const bad = [
    "garbage",
    "",
    "not base64!",
    real.slice(0, -3),
    b64("null"),
    b64("[]"),
    b64('"p"'),
    b64("{"),
    b64(JSON.stringify({})),
    b64(JSON.stringify({ nextPartitionKey: 5 })),
    b64(JSON.stringify({ nextPartitionKey: "" })),
    b64(JSON.stringify({ nextPartitionKey: "p", nextRowKey: 1 })),
    b64(JSON.stringify({ nextPartitionKey: "p", extra: 1 })),
    b64(JSON.stringify({ nextPartitionKey: "p\r\nx-injected: 1" })),
  ];
  for (const token of bad) {
    assert.equal(isContinuationToken(token), false, token);
    await assert.rejects(
      queryPage(client, "PartitionKey eq 'p'", 2, token),
      InvalidContinuationTokenError,
      token,
    );
  }
});

test("identity-based storage: a client on the account's table endpoint with a token credential, no key", () => {
  const client = createTableClient(
    {
      kind: "identity",
      tableServiceUri: "https://acct.table.core.windows.net",
      clientId: "11111111-2222-3333-4444-555555555555",
    },
    "tenants",
  );
  assert.equal(client.url, "https://acct.table.core.windows.net");
  assert.equal(client.tableName, "tenants");
  // A connection string still works (Azurite) and names its own endpoint.
  assert.match(createTableClient(azurite.connectionString, "tenants").url, /^http:\/\/127\.0\.0\.1:/);
});
