import { test } from "node:test";
import assert from "node:assert/strict";
import {
  addressKind,
  checkPrivateResolution,
  pendingApprovalSuspected,
  privateEndpointName,
  type HostResolver,
} from "../../../lib/tenants/network";

// No real DNS: every resolver here is a table.
const answers =
  (table: Record<string, string[] | Error>): HostResolver =>
  async (host) => {
    const answer = table[host];
    if (answer instanceof Error) throw answer;
    return answer ?? [];
  };
const notFound = () => Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" });
const HOST = "contoso-deploy.servicebus.windows.net";

test("private ranges: RFC 1918, RFC 6598 shared space and IPv6 unique local; loopback is not public; the rest is", () => {
  for (const a of [
    "10.0.0.4",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.5",
    "100.64.0.1",
    "100.127.255.255",
    "fd12:3456::4",
    "fc00::1",
    "fdff::1",
    "FD00:ab::1",
    "::ffff:10.1.2.3",
  ])
    assert.equal(addressKind(a), "private", a);
  for (const a of ["127.0.0.1", "127.10.0.1", "::1"]) assert.equal(addressKind(a), "loopback", a);
  for (const a of [
    "40.112.1.1",
    "172.15.255.255",
    "172.32.0.1",
    "192.169.0.1",
    "100.63.255.255",
    "100.128.0.1",
    "11.0.0.1",
    "2603:1030::1",
    // Not unique local: a first group shorter than four digits is zero-padded (00fc::, 00fd::, 0fc1::).
    "fc::1",
    "fd::1",
    "fc1::1",
    "fd1:2::3",
    "::ffff:40.1.2.3",
    "not-an-ip",
    "",
  ])
    assert.equal(addressKind(a), "public", a);
});

test("a namespace that resolves to the private endpoint is reported private, with its addresses", async () => {
  const report = await checkPrivateResolution("contoso", HOST, answers({ [HOST]: ["10.40.1.4"] }));
  assert.deepEqual(report, { mode: "private", host: HOST, addresses: ["10.40.1.4"], resolvesPrivate: true });
});

test("a public answer names the missing DNS zone step (endpoint, record, link), with the public address", async () => {
  const report = await checkPrivateResolution("contoso", HOST, answers({ [HOST]: ["40.112.1.1"] }));
  assert.equal(report.resolvesPrivate, false);
  assert.equal(report.missing, "privateDnsZone");
  assert.match(report.detail ?? "", /public address\(es\) 40\.112\.1\.1/);
  assert.match(report.detail ?? "", /privatelink\.servicebus\.windows\.net/);
  assert.match(report.detail ?? "", /sb-contoso/);
  // One public address among private ones is not a private path: a client may pick it.
  const mixed = await checkPrivateResolution(
    "contoso",
    HOST,
    answers({ [HOST]: ["10.40.1.4", "40.112.1.1"] }),
  );
  assert.equal(mixed.resolvesPrivate, false);
  assert.match(mixed.detail ?? "", /40\.112\.1\.1/);
  assert.doesNotMatch(mixed.detail ?? "", /10\.40\.1\.4/);
});

test("a name that does not resolve (the zone linked, no record) or resolves to nothing is the DNS zone step too; the resolver's error never escapes", async () => {
  const missing = await checkPrivateResolution("contoso", HOST, answers({ [HOST]: notFound() }));
  assert.equal(missing.resolvesPrivate, false);
  assert.equal(missing.missing, "privateDnsZone");
  assert.deepEqual(missing.addresses, []);
  assert.match(missing.detail ?? "", /does not resolve from the Provider \(ENOTFOUND\)/);
  const empty = await checkPrivateResolution("contoso", HOST, answers({}));
  assert.equal(empty.missing, "privateDnsZone");
  assert.match(empty.detail ?? "", /resolves to no address/);
});

test("loopback is a private path only in the local stack: in Azure it is a sinkhole or a hosts entry, not the endpoint", async () => {
  for (const loopback of [["127.0.0.1"], ["::1"], ["10.40.1.4", "127.0.0.1"]]) {
    const azure = await checkPrivateResolution("contoso", HOST, answers({ [HOST]: loopback }));
    assert.equal(azure.resolvesPrivate, false, loopback.join());
    assert.equal(azure.missing, "privateDnsZone");
    assert.match(azure.detail ?? "", /loopback address\(es\) (127\.0\.0\.1|::1) .*sinkhole/);
    assert.doesNotMatch(azure.detail ?? "", /10\.40\.1\.4/);
    const local = await checkPrivateResolution("contoso", HOST, answers({ [HOST]: loopback }), true);
    assert.equal(local.resolvesPrivate, true, `local: ${loopback.join()}`);
  }
  // A public address is never accepted, local stack or not.
  const mixed = await checkPrivateResolution(
    "contoso",
    HOST,
    answers({ [HOST]: ["127.0.0.1", "40.112.1.1"] }),
    true,
  );
  assert.equal(mixed.resolvesPrivate, false);
  assert.match(mixed.detail ?? "", /public address\(es\) 40\.112\.1\.1/);
});

test("a failed send with a private answer suspects the pending approval, unless the namespace refused the identity", () => {
  assert.equal(pendingApprovalSuspected("connect ETIMEDOUT 10.40.1.4:5671"), true);
  assert.equal(pendingApprovalSuspected("The operation did not complete within the allotted timeout"), true);
  assert.equal(pendingApprovalSuspected("Unauthorized access. 'Send' claim(s) are required"), false);
  assert.equal(pendingApprovalSuspected("status 403: Forbidden"), false);
});

test("the private endpoint's name is the template's", () => {
  assert.equal(privateEndpointName("contoso"), "sb-contoso");
});
