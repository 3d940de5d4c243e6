/**
 * A local TLS certificate for the dev stack (Service Bus emulator TLS port, local token issuer).
 * Clients trust it through NODE_EXTRA_CA_CERTS=<certPath>, read at process start, so a launcher must
 * create it before it spawns the processes that connect.
 */
import fs from "node:fs";
import path from "node:path";
import { randomBytes, X509Certificate } from "node:crypto";

export interface DevCertificate {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

const CERT_FILE = "dev-cert.pem";
const KEY_FILE = "dev-key.pem";
const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;

/** Returns the certificate in `dir`, generating it (SAN localhost, 127.0.0.1, ::1) when missing or expiring. */
export async function ensureDevCertificate(dir: string): Promise<DevCertificate> {
  const certPath = path.join(dir, CERT_FILE);
  const keyPath = path.join(dir, KEY_FILE);
  if (fs.existsSync(certPath) && fs.existsSync(keyPath)) {
    const cert = fs.readFileSync(certPath, "utf8");
    const validTo = Date.parse(new X509Certificate(cert).validTo);
    if (validTo - Date.now() > RENEW_BEFORE_MS) {
      return { certPath, keyPath, cert, key: fs.readFileSync(keyPath, "utf8") };
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const selfsigned = require("selfsigned") as {
    generate(
      attrs: { name: string; value: string }[],
      options: Record<string, unknown>,
    ): Promise<{ cert: string; private: string }>;
  };
  const notBeforeDate = new Date(Date.now() - 3600 * 1000);
  const notAfterDate = new Date(Date.now() + 365 * 24 * 3600 * 1000);
  // A distinct subject per certificate: OpenSSL finds trust anchors by subject, so two dev certificates
  // named alike in one NODE_EXTRA_CA_CERTS bundle would shadow each other.
  const commonName = `localhost dev ${randomBytes(4).toString("hex")}`;
  const pems = await selfsigned.generate([{ name: "commonName", value: commonName }], {
    keySize: 2048,
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    extensions: [
      // A CA flag lets Node accept the self-signed certificate as its own trust anchor.
      { name: "basicConstraints", cA: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(keyPath, pems.private, { mode: 0o600 });
  fs.writeFileSync(certPath, pems.cert);
  return { certPath, keyPath, cert: pems.cert, key: pems.private };
}
