/**
 * The local Entra ID token issuer as a process of its own (a part of `npm start`):
 * `node dist/dev/identity/cli.js --config <issuer.json> --cert-dir <dir> [--port 7443] [--signing-key <pem>]`.
 * The managed identity endpoint's header secret is taken from IDENTITY_HEADER when set, so the processes
 * that call it and a restarted issuer agree. Prints `ready <json>` (dev/part.ts) with the authority host,
 * the identity endpoint and header, and the public key that token validators must trust.
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { announceReady, stopOnSignals } from "../part";
import { IssuerConfig, startTokenIssuer } from "./issuer";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: "string" },
      "cert-dir": { type: "string" },
      port: { type: "string", default: "7443" },
      "signing-key": { type: "string" },
    },
  });
  if (!values.config || !values["cert-dir"])
    throw new Error("--config <file> and --cert-dir <dir> are required");
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be a port number, got "${values.port}"`);
  const issuer = await startTokenIssuer(JSON.parse(fs.readFileSync(values.config, "utf8")) as IssuerConfig, {
    certDir: values["cert-dir"],
    port,
    signingKeyFile: values["signing-key"],
    identityHeader: process.env.IDENTITY_HEADER || undefined,
  });
  stopOnSignals(() => issuer.stop());
  announceReady({
    authorityHost: issuer.authorityHost,
    identityEndpoint: issuer.identityEndpoint,
    identityHeader: issuer.identityHeader,
    publicKeyPem: issuer.publicKeyPem,
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
