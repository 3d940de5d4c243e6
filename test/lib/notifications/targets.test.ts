import { test } from "node:test";
import assert from "node:assert/strict";
import { addressAllowed, targetProblem } from "../../../lib/notifications/targets";
import { webhookSignature } from "../../../lib/notifications/model";
import { createHmac } from "node:crypto";

const azure = { allowedHosts: ["hooks.contoso.com", ".fabrikam.net"], localMode: false };
const local = { allowedHosts: [], localMode: true };
const problem = (url: string, policy = azure) => targetProblem(new URL(url), policy);

test("a target must be https, under the allow-list, and not an internal address", () => {
  assert.equal(problem("https://hooks.contoso.com/x"), undefined);
  assert.equal(problem("https://a.b.fabrikam.net/x"), undefined);
  assert.match(
    String(problem("https://fabrikam.net/x")),
    /WEBHOOK_ALLOWED_HOSTS/,
    "a suffix needs a label before it",
  );
  assert.match(String(problem("https://evilhooks.contoso.com/x")), /WEBHOOK_ALLOWED_HOSTS/);
  assert.match(String(problem("http://hooks.contoso.com/x")), /https/);
  for (const internal of [
    "10.1.2.3",
    "172.20.0.1",
    "192.168.1.1",
    "127.0.0.1",
    "169.254.169.254",
    "0.0.0.0",
    "[::1]",
    "[fe80::1]",
    "[fd12::1]",
  ])
    assert.match(String(problem(`https://${internal}/x`)), /internal address/, internal);
  assert.match(String(problem("https://u:p@hooks.contoso.com/x")), /credentials/);
});

test("local mode allows loopback receivers over http, and nothing else without an allow-list", () => {
  assert.equal(problem("http://127.0.0.1:8080/hook", local), undefined);
  assert.equal(problem("http://localhost:8080/hook", local), undefined);
  assert.match(String(problem("https://10.0.0.1/hook", local)), /internal address/);
  assert.match(String(problem("https://hooks.contoso.com/x", local)), /no webhook host is allowed/);
});

test("at delivery, a name resolving inside the network is refused (rebinding); loopback only locally", () => {
  for (const address of ["10.0.0.5", "::ffff:10.0.0.5", "169.254.169.254", "fd00::5", "fe80::1", "224.0.0.1"])
    assert.equal(addressAllowed(address, azure), false, address);
  assert.equal(addressAllowed("127.0.0.1", azure), false);
  assert.equal(addressAllowed("127.0.0.1", local), true);
  for (const address of [
    "::ffff:7f00:1",
    "0:0:0:0:0:ffff:10.0.0.1",
    "::10.0.0.1",
    "64:ff9b::a00:1",
    "2002:a00:1::1",
    "fec0::1",
    "ff02::1",
    "::",
    "168.63.129.16",
    "192.0.0.8",
    "198.18.0.1",
    "0.1.2.3",
  ])
    assert.equal(addressAllowed(address, azure), false, address);
  assert.equal(addressAllowed("::ffff:14.1.2.3", azure), true, "a mapped public address is public");
  assert.equal(addressAllowed("20.42.1.7", azure), true);
  assert.equal(addressAllowed("2603:1030::7", azure), true);
});

test("the signature is Standard Webhooks v1: base64 HMAC-SHA256 of id.timestamp.body", () => {
  // The reference vector of the Standard Webhooks specification (a `whsec_` secret is base64 bytes).
  assert.equal(
    webhookSignature(
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      "msg_p5jXN8AQM9LWM0D4loKWxJek",
      1614265330,
      '{"test": 2432232314}',
    ),
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
  );
  // Any other secret is its UTF-8 bytes.
  const mac = createHmac("sha256", "k").update("id-1.1700000000.{}").digest("base64");
  assert.equal(webhookSignature("k", "id-1", 1_700_000_000, "{}"), `v1,${mac}`);
});
