/**
 * A Provider app on the dev host with customers answered by in-memory agents, and the calls the audit
 * tests make: principals as App Service Authentication sends them, the API, the audit trail. One stack per
 * test file: the dev host runs in the test's process and its settings are the process's environment.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../dev/azurite";
import { RunningHost, startHost } from "../../dev/host";
import { startInMemoryAgents } from "../../dev/in-memory-agents";
import type { RunningEmulator } from "../../dev/servicebus-emulator";
import { PRINCIPAL_HEADER } from "../../lib/http/auth";
import { localProviderSettings } from "./provider";
import { namespaceConfig, sleep, startEmulator } from "./servicebus";

const root = path.join(__dirname, "..", "..", "..");

/** An actor as the API shows it (`{ name, id }`). */
export const shown = (a: { name: string; objectId?: string }) => ({
  name: a.name,
  ...(a.objectId !== undefined ? { id: a.objectId } : {}),
});

export const ALICE = { name: "alice@contoso.example", objectId: "00000000-0000-4000-8000-0000000000a1" };
export const BOB = { name: "bob@contoso.example", objectId: "00000000-0000-4000-8000-0000000000b2" };
export const ALL_ROLES = [
  "Tenants.Admin",
  "Deployments.Write",
  "Deployments.Read",
  "Rollouts.Approve",
  "Audit.Read",
];

/** The principal header of `who` with `roles`, as EasyAuth forwards it. */
export function principal(who: { name: string; objectId: string }, roles: string[] = ALL_ROLES) {
  const claims = [
    { typ: "name", val: who.name },
    { typ: "http://schemas.microsoft.com/identity/claims/objectidentifier", val: who.objectId },
    ...roles.map((r) => ({ typ: "roles", val: r })),
  ];
  const value = { auth_typ: "aad", name_typ: "name", role_typ: "roles", claims };
  return { [PRINCIPAL_HEADER]: Buffer.from(JSON.stringify(value)).toString("base64") };
}

export interface AuditStack {
  azurite: RunningAzurite;
  host: RunningHost;
  close(): Promise<void>;
}

/** Azurite, one emulator namespace per tenant with its agent, the Provider; tenants registered as `as`. */
export async function startAuditStack(
  tenants: string[],
  settings: Record<string, string>,
  as: Record<string, string> = {},
): Promise<AuditStack> {
  const azurite = await startAzurite();
  const emulator: RunningEmulator = await startEmulator(
    tenants.map((t) => namespaceConfig(t, [{ name: "commands" }, { name: "status" }])),
  );
  const host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    settings: localProviderSettings(azurite.connectionString, emulator.namespaces, {
      CANCEL_GRACE_SECONDS: "2",
      ROLLOUT_SWEEP_SECONDS: "2",
      ...settings,
    }),
    log: () => {},
  });
  const agents = startInMemoryAgents(
    emulator.namespaces.map((n) => ({ tenant: n.name, connectionString: n.connectionString })),
  );
  const close = async () => {
    await agents.close();
    await host.stop();
    await emulator.stop();
    await azurite.stop();
  };
  // A registration that fails leaves nothing running behind the failed `before` (it would hold the
  // test process open).
  try {
    await registerAll();
  } catch (error) {
    await close();
    throw error;
  }
  return { azurite, host, close };

  async function registerAll(): Promise<void> {
    for (const [i, t] of tenants.entries()) {
      const res = await fetch(`${host.url}/api/tenants/${t}`, {
        method: "PUT",
        headers: { "content-type": "application/json", ...as },
        body: JSON.stringify({
          directoryId: `a0000000-0000-4000-8000-00000000000${i + 1}`,
          serviceBus: { namespace: `${t}.servicebus.localhost` },
          auth: { mode: "sas", sasSetting: `TENANT_${t.toUpperCase()}_SAS` },
        }),
      });
      assert.equal(res.status, 201, await res.text());
    }
  }
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export async function call(
  host: RunningHost,
  method: string,
  pathname: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await fetch(`${host.url}${pathname}`, {
    method,
    headers: {
      ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export interface AuditItem {
  at: string;
  actor: { name: string; id?: string };
  action: string;
  target: string;
  status: number;
  requestId: string;
  clientRequestId?: string;
  traceparent?: string;
}

/** One page of `GET /api/audit<query>`, 200 expected. */
export async function auditPage(host: RunningHost, query: string, headers?: Record<string, string>) {
  const res = await call(host, "GET", `/api/audit${query}`, { headers });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as { items: AuditItem[]; continuationToken?: string };
}

export async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(v)}`);
    await sleep(100);
  }
}

/** A rollout over `tenants` in two waves (the first tenant, then the rest) with an approval gate between. */
export const gatedRollout = (tenants: string[]) => ({
  spec: { demo: { steps: 1, stepMs: 10 } },
  targets: { tenants },
  waves: [{ name: "one", tenants: [tenants[0]] }, { name: "two" }],
  approval: "afterEachWave",
});
