import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger, LogProps, REDACTED, redactText } from "../../../lib/logging/logger";

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
  assert.deepEqual(entry.nested, { clientSecret: REDACTED, note: `SharedAccessSignature ${REDACTED}` });
  assert.equal(entry.header, `Bearer ${REDACTED}`);
  assert.doesNotMatch(JSON.stringify(entries), /abc|s3cr3t|sig=b|eyJ0/);
});

test("errors are logged by name and message only", () => {
  const entries: LogProps[] = [];
  createLogger((_l, e) => entries.push(e)).error("failed", { error: new TypeError("boom") });
  assert.deepEqual(entries[0]?.error, { name: "TypeError", message: "boom" });
});

// Each kind of secret is masked where it stands in any string (a message, an error's text, a
// field under an innocent name); the rest of the line stays readable.
function logged(text: string): string {
  const entries: LogProps[] = [];
  createLogger((_l, e) => entries.push(e)).warn(`verify failed: ${text}`, {
    detail: `tenant alpha: ${text} (end)`,
    error: new Error(`send failed: ${text}`),
  });
  return JSON.stringify(entries);
}

const PEM = [
  "-----BEGIN PRIVATE KEY-----",
  "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
  "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu",
  "-----END PRIVATE KEY-----",
].join("\n");

/** `toEnd`: a block cut off before its END line is masked to the end of the text. */
const KINDS: { kind: string; secret: string; leak: RegExp; kept?: string; toEnd?: boolean }[] = [
  { kind: "PEM private key block", secret: PEM, leak: /MIIEvQ|C3SC6dVMv|BEGIN PRIVATE KEY/ },
  {
    kind: "PEM RSA private key (cut off)",
    secret: "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAwJ0p",
    leak: /MIIEowIBAAKCAQEAwJ0p/,
    toEnd: true,
  },
  {
    kind: "JWT",
    secret: "eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJlLXBhcnQ",
    leak: /eyJ0aWQ|c2lnbmF0dXJlLXBhcnQ/,
  },
  {
    kind: "SAS signature in a URL",
    secret: "https://acct.blob.core.windows.net/c?sv=2022&sig=AbCdEf%2Bsecret%3D&se=2030",
    leak: /AbCdEf/,
    kept: "sv=2022",
  },
  {
    kind: "SharedAccessSignature token",
    secret: "SharedAccessSignature sr=sb%3A%2F%2Fns&sig=Zm9vYmFy&se=1&skn=send",
    leak: /Zm9vYmFy|skn=send/,
  },
  {
    kind: "SharedAccessKey in a connection string",
    secret: "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=a2V5LXZhbHVl",
    leak: /a2V5LXZhbHVl/,
    kept: "SharedAccessKeyName=send",
  },
  {
    kind: "storage AccountKey",
    secret:
      "DefaultEndpointsProtocol=https;AccountName=prov;AccountKey=c3RvcmFnZS1rZXk=;EndpointSuffix=core.windows.net",
    leak: /c3RvcmFnZS1rZXk/,
    kept: "AccountName=prov",
  },
  {
    kind: "Entra client secret",
    secret: "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789ab",
    leak: /dEfGhIjKlMnOpQrStUvWxYz/,
  },
  {
    kind: "client_secret in a token request body",
    secret: "grant_type=client_credentials&client_id=abc&client_secret=pl41n-s3cr3t-v4lue&scope=x",
    leak: /pl41n-s3cr3t-v4lue/,
    kept: "client_id=abc",
  },
];

for (const { kind, secret, leak, kept, toEnd } of KINDS) {
  test(`the logger masks a ${kind} in messages, fields and errors, and keeps the rest of the line`, () => {
    const line = logged(secret);
    assert.doesNotMatch(line, leak);
    assert.match(line, /\[redacted\]/);
    assert.match(line, /verify failed: /);
    assert.match(line, toEnd ? /tenant alpha: / : /tenant alpha: .*\(end\)/, "the rest of the line stays");
    assert.match(line, /send failed: /);
    if (kept) assert.ok(line.includes(kept), `${kept} is not a secret and stays`);
  });
}

test("redactText leaves ordinary text alone", () => {
  const text = 'App setting TENANT_CONTOSO_SAS: is not set (needed by tenant "contoso"); eyJ alone, Q~ alone';
  assert.equal(redactText(text), text);
});
