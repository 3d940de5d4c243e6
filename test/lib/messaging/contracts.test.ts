import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Command,
  commandMessage,
  LIMITS,
  parseCommand,
  parseStatus,
  refusedDeployment,
  Status,
  statusMessage,
} from "../../../lib/messaging/contracts";

const deploy = (): Command => ({
  schemaVersion: 1,
  type: "Deploy",
  deploymentId: "dep-001",
  attempt: 1,
  tenant: "contoso",
  spec: { template: "web", version: "1.2.3" },
  requestedAt: "2026-11-23T10:00:00.000Z",
  deadline: "2026-11-23T11:00:00.000Z",
});

const status = (): Status => ({
  schemaVersion: 1,
  deploymentId: "dep-001",
  attempt: 1,
  state: "InProgress",
  progress: 40,
  message: "creating resources",
  sequence: 3,
  reportedAt: "2026-11-23T10:00:05.000Z",
});

describe("commands", () => {
  test("a Deploy command round-trips through its message form", () => {
    const now = new Date("2026-11-23T10:00:00.000Z");
    const msg = commandMessage(deploy(), now);
    assert.equal(msg.messageId, "dep-001:1:Deploy");
    assert.equal(msg.correlationId, "dep-001");
    assert.equal(msg.subject, "Deploy");
    assert.equal(msg.timeToLive, 3600_000);
    assert.equal(msg.applicationProperties.schema, "deploy.command.v1");
    const parsed = parseCommand({
      body: msg.body,
      contentType: msg.contentType,
      applicationProperties: msg.applicationProperties,
    });
    assert.deepEqual(parsed, { ok: true, value: deploy() });
  });

  test("message ids differ per attempt and type so duplicate detection only removes true resends", () => {
    const now = new Date("2026-11-23T10:00:00.000Z");
    const ids = new Set([
      commandMessage(deploy(), now).messageId,
      commandMessage({ ...deploy(), attempt: 2 }, now).messageId,
      commandMessage({ ...deploy(), type: "Cancel", spec: undefined }, now).messageId,
    ]);
    assert.equal(ids.size, 3);
  });

  test("Deploy without a spec, bad ids, and unknown fields are schema violations naming the field", () => {
    const cases: [unknown, RegExp][] = [
      [{ ...deploy(), spec: undefined }, /spec: is required for Deploy/],
      [{ ...deploy(), deploymentId: "../x" }, /deploymentId/],
      [{ ...deploy(), tenant: "Contoso" }, /tenant/],
      [{ ...deploy(), type: "Destroy" }, /type/],
      [{ ...deploy(), attempt: 0 }, /attempt/],
      [{ ...deploy(), requestedAt: "yesterday" }, /requestedAt/],
      [{ ...deploy(), extra: true }, /extra: unknown field/],
      [{ ...deploy(), schemaVersion: 2 }, /schemaVersion/],
    ];
    for (const [body, pattern] of cases) {
      const parsed = parseCommand({ body });
      assert.equal(parsed.ok, false);
      if (!parsed.ok) {
        assert.equal(parsed.reason, "SchemaViolation");
        assert.match(parsed.description, pattern);
      }
    }
  });

  test("spec over its size limit is refused", () => {
    const parsed = parseCommand({ body: { ...deploy(), spec: { blob: "x".repeat(LIMITS.specBytes) } } });
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.match(parsed.description, /spec: must be at most/);
  });
});

describe("statuses", () => {
  test("a status round-trips through its message form, with a per-sequence message id", () => {
    const msg = statusMessage(status());
    assert.equal(msg.messageId, "dep-001:1:s3");
    assert.equal(msg.applicationProperties.schema, "deploy.status.v1");
    assert.deepEqual(
      parseStatus({
        body: msg.body,
        contentType: "application/json",
        applicationProperties: msg.applicationProperties,
      }),
      {
        ok: true,
        value: status(),
      },
    );
  });

  test("bytes and text bodies are decoded; non-JSON is InvalidJson", () => {
    assert.equal(parseStatus({ body: Buffer.from(JSON.stringify(status())) }).ok, true);
    assert.equal(parseStatus({ body: JSON.stringify(status()) }).ok, true);
    const bad = parseStatus({ body: Buffer.from("not json") });
    assert.deepEqual(bad.ok ? undefined : bad.reason, "InvalidJson");
  });

  test("wrong schema property, content type, size and shape each get their own reason", () => {
    const cases: [Parameters<typeof parseStatus>[0], string][] = [
      [{ body: status(), applicationProperties: { schema: "deploy.command.v1" } }, "UnsupportedSchema"],
      [{ body: status(), contentType: "text/plain" }, "UnsupportedContentType"],
      [{ body: { ...status(), detail: "x".repeat(LIMITS.bodyBytes + 1) } }, "Oversized"],
      [{ body: { ...status(), detail: "x".repeat(LIMITS.detailBytes + 1) } }, "SchemaViolation"],
      [{ body: { ...status(), progress: 101 } }, "SchemaViolation"],
      [{ body: { ...status(), state: "Exploded" } }, "SchemaViolation"],
      [{ body: { ...status(), sequence: -1 } }, "SchemaViolation"],
      [{ body: { ...status(), message: "m".repeat(LIMITS.messageChars + 1) } }, "SchemaViolation"],
      [{ body: null }, "SchemaViolation"],
      [{ body: [status()] }, "SchemaViolation"],
      [{ body: 42 }, "SchemaViolation"],
    ];
    for (const [message, reason] of cases) {
      const parsed = parseStatus(message);
      assert.equal(parsed.ok, false, JSON.stringify(message).slice(0, 80));
      if (!parsed.ok) assert.equal(parsed.reason, reason);
    }
  });
});

test("a refused Deploy names its deployment only when the id and attempt are readable and valid", () => {
  assert.deepEqual(refusedDeployment({ type: "Deploy", deploymentId: "d-1", attempt: 2, junk: 1 }), {
    deploymentId: "d-1",
    attempt: 2,
  });
  assert.deepEqual(refusedDeployment(Buffer.from('{"deploymentId":"d-1","attempt":1}')), {
    deploymentId: "d-1",
    attempt: 1,
  });
  for (const body of [
    { type: "Ping", deploymentId: "d-1", attempt: 1 },
    { type: "Deploy", deploymentId: "bad id!", attempt: 1 },
    { type: "Deploy", deploymentId: "d-1", attempt: 0 },
    "not json",
    42,
  ])
    assert.equal(refusedDeployment(body), undefined, JSON.stringify(body));
});

describe("schema v1 stays readable", () => {
  // Messages exactly as release 0.1.0 put them on the wire (its commandMessage / statusMessage: body,
  // content type, `schema` property), as JSON bytes the way another sender's SDK may deliver them. A
  // command or status queued before an upgrade is read by the next release's receiver.
  const wire = (body: object, schema: string) => ({
    body: Buffer.from(JSON.stringify(body), "utf8"),
    contentType: "application/json",
    applicationProperties: { schema, tenant: "contoso", attempt: 1 },
  });

  test("a v1 Deploy, Cancel and Ping command of release 0.1.0 parse", () => {
    const cancel = { ...deploy(), type: "Cancel", reason: "user", spec: undefined };
    const ping = {
      schemaVersion: 1,
      type: "Ping",
      deploymentId: "dep-001",
      attempt: 1,
      tenant: "contoso",
      requestedAt: "2026-11-23T10:00:00.000Z",
    };
    for (const body of [deploy(), JSON.parse(JSON.stringify(cancel)) as object, ping]) {
      const parsed = parseCommand(wire(body, "deploy.command.v1"));
      assert.ok(parsed.ok, JSON.stringify(parsed));
      assert.equal(parsed.value.schemaVersion, 1);
    }
  });

  test("a v1 status of release 0.1.0 parses, with and without its optional fields", () => {
    const bare = { ...status(), message: undefined };
    for (const body of [
      status(),
      JSON.parse(JSON.stringify(bare)) as object,
      { ...status(), detail: { step: 3 } },
    ]) {
      const parsed = parseStatus(wire(body, "deploy.status.v1"));
      assert.ok(parsed.ok, JSON.stringify(parsed));
      assert.equal(parsed.value.schemaVersion, 1);
    }
  });
});
