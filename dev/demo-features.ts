/**
 * `npm run demo`'s scenarios for what goes with a deployment besides its outcome:
 * - tenant parameters (docs/releases.md): two tenants registered with their own `parameters` (a secret
 *   only as `{ "setting": "<name>" }`) get one release; each was sent the release's `spec.parameters`
 *   overlaid by its own, one level, and its record keeps the release and the digest of exactly that spec.
 *   What was sent is read from the deployment orchestration's input on the Durable management API (the
 *   Deploy command carries that spec), so the demo adds no product surface to observe it. A secret value
 *   is refused by the registry and found nowhere afterwards. The tenants' registrations are put back.
 * - notifications (docs/notifications.md): a webhook subscribed to `deployment.finished` at `npm start`'s
 *   local receiver (dev/webhook-receiver.ts; a loopback receiver is allowed in local mode only, the
 *   policy is not changed), a deployment finishes, and the delivery log shows the event `Delivered`: a
 *   2xx the receiver answers only once the signature checked out, and the receiver lists the event.
 * A scenario's result is the string it expects only when every check holds; otherwise what went wrong.
 */
import { activeTenants, type ApiCall, type DemoScenario } from "./demo-rollouts";
import { specDigest } from "./product";
import { RECEIVER_SECRET_SETTING } from "./webhook-receiver";

export interface FeatureDeps {
  /** The stack's API base, with `/api`. */
  api: string;
  call: ApiCall;
  /** A deployment's outcome once its record and its orchestration agree and both ended (dev/demo.ts). */
  outcomeOf: (id: string) => Promise<string>;
  /** Where the scenarios print what they show. */
  log?: (line: string) => void;
}

/** The release's defaults, and each of the two tenants' own parameters (a tenant's value replaces the release's). */
export const RELEASE_PARAMETERS = { region: "westeurope", replicas: 1, tier: "standard" };
export const TENANT_PARAMETERS = [
  { region: "westeurope", replicas: 3, dbPassword: { setting: "DB_PASSWORD" } },
  { region: "eastus2", replicas: 5, tier: "premium", dbPassword: { setting: "DB_PASSWORD_PREMIUM" } },
];
/** A secret value offered to the registry, which must refuse it and never show it anywhere. */
export const SECRET_VALUE = "demo-plaintext-Pa55word";

export const PARAMETERS_EXPECTED = "2 tenants sent their own parameters, secrets by setting name only";
export const NOTIFICATION_EXPECTED = "Delivered (204), signature verified by the receiver";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function featureScenarios(deps: FeatureDeps): DemoScenario[] {
  return [
    {
      name: "tenant parameters",
      expected: PARAMETERS_EXPECTED,
      run: () => parametersScenario(deps),
      // It deploys a release to two tenants: beside `rollout of a release`, it could become their current one.
      alone: true,
    },
    { name: "notification", expected: NOTIFICATION_EXPECTED, run: () => notificationScenario(deps) },
  ];
}

export interface Sent {
  tenant: string;
  record: Record<string, unknown>;
  spec: Record<string, unknown>;
}

/**
 * Gives two tenants their parameters, deploys one release to both and checks what each was sent; then
 * puts their registrations back as found (a registration that cannot be is the scenario's failure).
 */
async function parametersScenario(deps: FeatureDeps): Promise<string> {
  const { call } = deps;
  const names = (await activeTenants(call)).map((t) => t.name).sort();
  if (names.length < 2) return `needs two tenants, the stack has ${names.length}`;
  const tenants = names.slice(0, 2);
  const originals = await Promise.all(tenants.map((t) => registrationOf(call, t)));
  const result = await renderedForTwo(deps, tenants, originals).catch(
    (error: unknown) => `error: ${(error as Error).message}`,
  );
  const restored = await Promise.all(tenants.map((t, i) => putRegistration(call, t, originals[i]!)));
  const failed = restored.findIndex((r) => r.status !== 200);
  return failed >= 0 ? `restoring ${tenants[failed]} answered ${restored[failed]!.status}` : result;
}

async function renderedForTwo(
  deps: FeatureDeps,
  tenants: string[],
  originals: Record<string, unknown>[],
): Promise<string> {
  const { call } = deps;
  const refused = await putRegistration(call, tenants[0]!, originals[0]!, { dbPassword: SECRET_VALUE });
  if (refused.status !== 400 || !JSON.stringify(refused.body).includes("parameters.dbPassword"))
    return `a secret value was not refused: ${refused.status}`;
  for (const [i, t] of tenants.entries()) {
    const put = await putRegistration(call, t, originals[i]!, TENANT_PARAMETERS[i]!);
    if (put.status !== 200) return `registering ${t}'s parameters answered ${put.status}`;
  }
  const version = `1.1.0-demo.${Date.now()}`;
  const created = await call("POST", "/releases", {
    version,
    spec: { parameters: RELEASE_PARAMETERS, demo: { steps: 1, stepMs: 100 } },
    description: "npm run demo: tenant parameters",
  });
  if (created.status !== 201) return `release not created: ${created.status}`;
  const sent = await Promise.all(tenants.map((t) => deployRelease(deps, t, version)));
  const problem = sent.find((s): s is string => typeof s === "string");
  if (problem) return problem;
  const seen = [...(sent as Sent[]), ...(await Promise.all(tenants.map((t) => registrationOf(call, t))))];
  return checkSent(deps, sent as Sent[], version, JSON.stringify(seen));
}

/** A tenant's registration as `GET /tenants/{name}` answers it. */
async function registrationOf(call: ApiCall, tenant: string): Promise<Record<string, unknown>> {
  const res = await call("GET", `/tenants/${tenant}`);
  if (res.status !== 200) throw new Error(`GET /tenants/${tenant} answered ${res.status}`);
  return res.body;
}

/** PUTs a registration back as it was read, with `parameters` when given (without any, none). */
function putRegistration(
  call: ApiCall,
  tenant: string,
  registration: Record<string, unknown>,
  parameters?: Record<string, unknown>,
) {
  // What the view adds that a PUT body does not take.
  const {
    name: _name,
    createdAt: _createdAt,
    updatedAt: _updatedAt,
    quarantine: _quarantine,
    parameters: _parameters,
    ...body
  } = registration;
  return call("PUT", `/tenants/${tenant}`, parameters ? { ...body, parameters } : body);
}

/** Deploys the release to a tenant; its record and the spec its orchestration sent, or what went wrong. */
async function deployRelease(deps: FeatureDeps, tenant: string, version: string): Promise<Sent | string> {
  const started = await deps.call("POST", `/tenants/${tenant}/deployments`, { release: version });
  if (started.status !== 202) return `deploying to ${tenant} answered ${started.status}`;
  const id = String(started.body.id);
  const outcome = await deps.outcomeOf(id);
  if (outcome !== "Succeeded") return `${tenant}: ${outcome}`;
  const record = (await deps.call("GET", `/deployments/${id}`)).body;
  const instance = await fetch(
    `${new URL(deps.api).origin}/runtime/webhooks/durabletask/instances/${encodeURIComponent(String(record.instanceId))}?showInput=true`,
  );
  if (!instance.ok) return `${tenant}: the orchestration answered ${instance.status}`;
  const input = ((await instance.json()) as { input?: { spec?: Record<string, unknown> } }).input;
  if (!input?.spec) return `${tenant}: the orchestration's input has no spec`;
  return { tenant, record, spec: input.spec };
}

/**
 * Prints what each tenant was sent and checks it: the release's parameters overlaid by the tenant's, the
 * record's release and the digest of what was sent, the two tenants' specs different, and the secret
 * value in nothing that was shown (`shown`: the JSON of every record, spec and registration).
 */
export function checkSent(
  deps: Pick<FeatureDeps, "log">,
  sent: Sent[],
  version: string,
  shown: string,
): string {
  const log = deps.log ?? ((line: string) => console.log(line));
  for (const [i, s] of sent.entries()) {
    log(
      `    [tenant parameters] ${s.tenant} was sent release ${String(s.record.release)}, ${String(s.record.specDigest)}, parameters ${JSON.stringify(s.spec.parameters)}`,
    );
    const expected = { ...RELEASE_PARAMETERS, ...TENANT_PARAMETERS[i] };
    if (JSON.stringify(s.spec.parameters) !== JSON.stringify(expected))
      return `${s.tenant} was sent ${JSON.stringify(s.spec.parameters)}, not ${JSON.stringify(expected)}`;
    if (s.record.release !== version) return `${s.tenant}'s record names release ${String(s.record.release)}`;
    if (s.record.specDigest !== specDigest(s.spec))
      return `${s.tenant}'s record digest is not the digest of what was sent`;
  }
  if (sent[0]!.record.specDigest === sent[1]!.record.specDigest)
    return "both tenants were sent the same spec";
  if (shown.includes(SECRET_VALUE)) return "the refused secret value shows up";
  return PARAMETERS_EXPECTED;
}

async function notificationScenario(deps: FeatureDeps): Promise<string> {
  const { call } = deps;
  const listed = (await call("GET", "/subscriptions")).body.items as
    { url: string; secretSetting: string }[] | undefined;
  const receiver = listed?.find((s) => s.secretSetting === RECEIVER_SECRET_SETTING);
  if (!receiver) return "no local webhook receiver is subscribed (npm start subscribes one)";
  const subscribed = await call("POST", "/subscriptions", {
    url: receiver.url,
    events: ["deployment.finished"],
    secretSetting: RECEIVER_SECRET_SETTING,
    description: "npm run demo: notification",
  });
  if (subscribed.status !== 201) return `subscribing answered ${subscribed.status}`;
  const subscription = String(subscribed.body.id);
  try {
    const tenant = (await activeTenants(call)).map((t) => t.name).sort()[0]!;
    const started = await call("POST", `/tenants/${tenant}/deployments`, {
      spec: { demo: { steps: 1, stepMs: 100 } },
    });
    if (started.status !== 202) return `deploying answered ${started.status}`;
    const id = String(started.body.id);
    const outcome = await deps.outcomeOf(id);
    if (outcome !== "Succeeded") return `the deployment ended ${outcome}`;
    return await delivered(deps, subscription, `deployment.finished:${tenant}:${id}:1`, receiver.url);
  } finally {
    await call("DELETE", `/subscriptions/${subscription}`);
  }
}

/**
 * Waits (up to 30 s) for the delivery log to show the event Delivered, prints the log's rows for it, and
 * checks that the receiver, which keeps only deliveries whose signature checked out, lists the event.
 */
async function delivered(deps: FeatureDeps, subscription: string, eventId: string, url: string) {
  const log = deps.log ?? ((line: string) => console.log(line));
  type Row = { eventId: string; attempt: number; result: string; status?: number; error?: string };
  let rows: Row[] = [];
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(250)) {
    const page = await deps.call("GET", `/subscriptions/${subscription}/deliveries`);
    rows = ((page.body.items ?? []) as Row[]).filter((r) => r.eventId === eventId);
    if (rows.some((r) => r.result === "Delivered" || r.result === "GaveUp")) break;
  }
  for (const r of rows)
    log(
      `    [notification] ${r.eventId} attempt ${r.attempt}: ${r.result} ${r.status ?? ""}${r.error ? ` ${r.error}` : ""}`,
    );
  const ok = rows.find((r) => r.result === "Delivered");
  if (!ok)
    return `not delivered: ${rows.map((r) => `${r.result} ${r.status ?? r.error ?? ""}`).join(", ") || "no attempt"}`;
  const events = await fetch(url.replace(/\/hook$/, "/events"));
  const received = ((await events.json()) as { items: { id: string }[] }).items;
  if (!received.some((e) => e.id === eventId)) return "the receiver does not list the event";
  log(`    [notification] the receiver verified ${eventId}'s signature and kept it`);
  return `Delivered (${ok.status}), signature verified by the receiver`;
}
