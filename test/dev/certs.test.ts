import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { ensureDevCertificate } from "../../dev/certs";

test("ensureDevCertificate makes a certificate a TLS client accepts for 127.0.0.1 and reuses it", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "certs-"));
  try {
    const first = await ensureDevCertificate(dir);
    const again = await ensureDevCertificate(dir);
    assert.equal(again.cert, first.cert);
    const server = https.createServer({ cert: first.cert, key: first.key }, (_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get({ host: "127.0.0.1", port, ca: first.cert, path: "/" }, (res) => {
            let data = "";
            res.on("data", (c) => (data += c));
            res.on("end", () => resolve(data));
          })
          .on("error", reject);
      });
      assert.equal(body, "ok");
    } finally {
      server.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the test runner trusts the dev certificate through NODE_EXTRA_CA_CERTS", async () => {
  const dir = process.env.DEV_CERT_DIR;
  assert.ok(dir, "DEV_CERT_DIR is set by scripts/run-tests.js");
  assert.ok(process.env.NODE_EXTRA_CA_CERTS);
  const cert = await ensureDevCertificate(dir);
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (_req, res) => res.end("trusted"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const res = await fetch(`https://127.0.0.1:${port}/`);
    assert.equal(await res.text(), "trusted");
  } finally {
    server.close();
  }
});
