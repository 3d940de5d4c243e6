import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger, LogProps, REDACTED } from "../../../lib/logging/logger";

test("entries are structured, carry bound correlation fields, and never carry secrets", () => {
  const entries: LogProps[] = [];
  const log = createLogger((_level, entry) => entries.push(entry)).with({
    tenant: "contoso",
    deploymentId: "d1",
  });
  log.info("sending", {
    sasSetting: "CONTOSO_SAS",
    connectionString: "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=abc",
    nested: { clientSecret: "s3cr3t", note: "SharedAccessSignature sr=a&sig=b&se=1&skn=k" },
    header: "Bearer eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.sig",
    count: 3,
  });
  const [entry] = entries;
  assert.ok(entry);
  assert.equal(entry.message, "sending");
  assert.equal(entry.level, "info");
  assert.equal(entry.tenant, "contoso");
  assert.equal(entry.deploymentId, "d1");
  assert.equal(entry.count, 3);
  assert.equal(entry.sasSetting, "CONTOSO_SAS", "a setting's name is not a secret");
  assert.equal(entry.connectionString, REDACTED);
  assert.deepEqual(entry.nested, { clientSecret: REDACTED, note: REDACTED });
  assert.equal(entry.header, REDACTED);
  assert.doesNotMatch(JSON.stringify(entries), /abc|s3cr3t|sig=b|eyJ0/);
});

test("errors are logged by name and message only", () => {
  const entries: LogProps[] = [];
  createLogger((_l, e) => entries.push(e)).error("failed", { error: new TypeError("boom") });
  assert.deepEqual(entries[0]?.error, { name: "TypeError", message: "boom" });
});
