/**
 * A local Entra ID token issuer for the dev stack and tests: per-directory OpenID configuration, JWKS and
 * v2 token endpoint (client credentials with a client secret, or a client assertion that is a managed
 * identity token federated with the app), plus the App Service managed identity endpoint. The real
 * `@azure/identity` credentials reach it through `authorityHost` (HTTPS with the dev certificate,
 * trusted via NODE_EXTRA_CA_CERTS); its tokens are what the Service Bus emulator validates.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  createSign,
  createVerify,
  generateKeyPairSync,
  KeyObject,
  randomUUID,
} from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { ensureDevCertificate } from "../certs";

const configSchema = z.strictObject({
  applications: z.array(
    z.strictObject({
      clientId: z.string().min(1),
      homeTenantId: z.string().min(1),
      secrets: z.array(z.string().min(1)).default([]),
      /** Subjects (managed identity object ids) federated with the app. */
      federatedSubjects: z.array(z.string().min(1)).default([]),
    }),
  ),
  /** Consent: the app's service principal in a directory. */
  servicePrincipals: z.array(
    z.strictObject({ tenantId: z.string(), clientId: z.string(), objectId: z.string() }),
  ),
  managedIdentities: z
    .array(z.strictObject({ clientId: z.string(), objectId: z.string(), tenantId: z.string() }))
    .default([]),
});
export type IssuerConfig = z.input<typeof configSchema>;

export const TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";

export interface RunningIssuer {
  authorityHost: string;
  identityEndpoint: string;
  identityHeader: string;
  publicKeyPem: string;
  issuerFor(tenantId: string): string;
  stop(): Promise<void>;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

export interface IssuerOptions {
  certDir: string;
  port?: number;
  /**
   * Keep the signing key in this PEM file (created when missing), so a restarted issuer signs with the
   * key the Service Bus emulator was configured to trust. A fresh key per start when omitted.
   */
  signingKeyFile?: string;
  /** The managed identity endpoint's secret header; random when omitted. */
  identityHeader?: string;
}

/** The signing key pair, from `file` when it exists, else new (and written there when a file is named). */
function signingKey(file: string | undefined): { privateKey: KeyObject; publicKey: KeyObject } {
  if (file && fs.existsSync(file)) {
    const privateKey = createPrivateKey(fs.readFileSync(file, "utf8"));
    return { privateKey, publicKey: createPublicKey(privateKey) };
  }
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  if (file) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, pair.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  }
  return pair;
}

export async function startTokenIssuer(input: IssuerConfig, options: IssuerOptions): Promise<RunningIssuer> {
  const config = configSchema.parse(input);
  const { privateKey, publicKey } = signingKey(options.signingKeyFile);
  // Derived from the key, so tokens signed before a restart name a key the JWKS still lists.
  const kid = createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("base64url")
    .slice(0, 22);
  const identityHeader = options.identityHeader ?? randomUUID();
  const cert = await ensureDevCertificate(options.certDir);
  let origin = "";
  const issuerFor = (tenantId: string) => `${origin}/${tenantId}/v2.0`;

  const sign = (claims: Record<string, unknown>, key: KeyObject = privateKey) => {
    const head = b64url({ alg: "RS256", typ: "JWT", kid });
    const body = b64url(claims);
    return `${head}.${body}.${createSign("RSA-SHA256").update(`${head}.${body}`).sign(key).toString("base64url")}`;
  };
  const mint = (
    tenantId: string,
    audience: string,
    subject: { oid: string; appid?: string },
    lifetime = 3600,
  ) => {
    const now = Math.floor(Date.now() / 1000);
    return {
      token: sign({
        aud: audience,
        iss: issuerFor(tenantId),
        tid: tenantId,
        oid: subject.oid,
        sub: subject.oid,
        ...(subject.appid ? { appid: subject.appid, azp: subject.appid } : {}),
        iat: now,
        nbf: now,
        exp: now + lifetime,
      }),
      expiresIn: lifetime,
    };
  };
  const verifyOwn = (jwt: string): Record<string, unknown> | undefined => {
    const [h, p, s] = jwt.split(".");
    if (!h || !p || !s) return undefined;
    if (!createVerify("RSA-SHA256").update(`${h}.${p}`).verify(publicKey, Buffer.from(s, "base64url")))
      return undefined;
    const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    return Number(claims.exp) * 1000 > Date.now() ? claims : undefined;
  };
  const audienceOf = (scope: string) =>
    scope
      .split(" ")[0]
      ?.replace(/\/?\.default$/, "")
      .replace(/\/+$/, "") ?? "";

  const server = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const fail = (status: number, error: string, description: string, code: number) =>
      send(status, { error, error_description: `AADSTS${code}: ${description}`, error_codes: [code] });
    const url = new URL(req.url ?? "/", origin);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        if (url.pathname === "/msi/token") {
          if (req.headers["x-identity-header"] !== identityHeader)
            return fail(401, "unauthorized", "bad X-IDENTITY-HEADER", 50000);
          const mi = config.managedIdentities.find((m) => m.clientId === url.searchParams.get("client_id"));
          if (!mi) return fail(400, "invalid_request", "unknown managed identity", 50001);
          const resource = audienceOf(url.searchParams.get("resource") ?? "");
          const { token, expiresIn } = mint(mi.tenantId, resource, { oid: mi.objectId });
          return send(200, {
            access_token: token,
            expires_on: String(Math.floor(Date.now() / 1000) + expiresIn),
            resource,
            token_type: "Bearer",
            client_id: mi.clientId,
          });
        }
        const m =
          /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|oauth2\/v2\.0\/token)$/.exec(
            url.pathname,
          );
        if (!m) return fail(404, "not_found", `no route ${url.pathname}`, 90002);
        const tenantId = m[1] as string;
        if (m[2]?.startsWith("v2.0")) {
          return send(200, {
            issuer: issuerFor(tenantId),
            token_endpoint: `${origin}/${tenantId}/oauth2/v2.0/token`,
            authorization_endpoint: `${origin}/${tenantId}/oauth2/v2.0/authorize`,
            jwks_uri: `${origin}/${tenantId}/discovery/v2.0/keys`,
            end_session_endpoint: `${origin}/${tenantId}/oauth2/v2.0/logout`,
            response_types_supported: ["code", "id_token", "token"],
            subject_types_supported: ["pairwise"],
            id_token_signing_alg_values_supported: ["RS256"],
          });
        }
        if (m[2]?.startsWith("discovery"))
          return send(200, {
            keys: [{ ...publicKey.export({ format: "jwk" }), kid, use: "sig", alg: "RS256" }],
          });
        const form = new URLSearchParams(Buffer.concat(chunks).toString());
        const clientId = form.get("client_id") ?? "";
        const app = config.applications.find((a) => a.clientId === clientId);
        if (!app) return fail(400, "unauthorized_client", `Application '${clientId}' was not found`, 700016);
        const sp = config.servicePrincipals.find((s) => s.tenantId === tenantId && s.clientId === clientId);
        if (!sp)
          return fail(
            400,
            "unauthorized_client",
            `Application '${clientId}' was not found in the directory '${tenantId}' (no admin consent)`,
            700016,
          );
        const secret = form.get("client_secret");
        const assertion = form.get("client_assertion");
        if (secret !== null) {
          if (!app.secrets.includes(secret))
            return fail(401, "invalid_client", "Invalid client secret provided", 7000215);
        } else if (assertion !== null) {
          const claims = verifyOwn(assertion);
          const audience = String(claims?.aud ?? "").replace(/\/+$/, "");
          if (
            !claims ||
            audience !== TOKEN_EXCHANGE_AUDIENCE ||
            !app.federatedSubjects.includes(String(claims.sub))
          ) {
            return fail(
              401,
              "invalid_client",
              "The client assertion is not valid for a federated credential of this app",
              700213,
            );
          }
        } else {
          return fail(400, "invalid_request", "client_secret or client_assertion is required", 900144);
        }
        const { token, expiresIn } = mint(tenantId, audienceOf(form.get("scope") ?? ""), {
          oid: sp.objectId,
          appid: clientId,
        });
        return send(200, {
          token_type: "Bearer",
          expires_in: expiresIn,
          ext_expires_in: expiresIn,
          access_token: token,
        });
      } catch (error) {
        return fail(500, "server_error", (error as Error).message, 90000);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  return {
    authorityHost: origin,
    identityEndpoint: `${origin}/msi/token`,
    identityHeader,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    issuerFor,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
