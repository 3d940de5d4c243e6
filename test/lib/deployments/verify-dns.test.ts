/**
 * Verify's private-path report, on the API handler with its dependencies faked: the resolver answers from
 * a table (no real DNS), the Durable client answers the round trip's outcome, nothing leaves the process.
 */
import { mock, test } from "node:test";
import assert from "node:assert/strict";
import type { DurableClient } from "durable-functions";
import { loadSettings } from "../../../lib/config/settings";
import type { VerifyResult } from "../../../lib/deployments/contract";
import type { DeploymentDeps } from "../../../lib/deployments/deps";
import { createVerifyHandlers } from "../../../lib/deployments/verify-http";
import type { VerifyRecord } from "../../../lib/tenants/health";
import type { TenantRegistration } from "../../../lib/tenants/model";
import type { PrivatePathReport } from "../../../lib/tenants/network";
import { makeContext, makeRequest, readResponse } from "../../helpers/http";
import { testRegistration } from "../../helpers/tenants";

const HOST = "contoso.servicebus.windows.net";

interface Setup {
  network: TenantRegistration["network"];
  /** App settings beside storage (local mode, ...). */
  settings?: Record<string, string>;
  namespace?: string;
  /** What the resolver answers for the namespace (an Error is thrown). */
  dns?: string[] | Error;
  /** The round trip's outcome, as the verifyTenant orchestration returns it. */
  roundTrip?: VerifyResult;
  /**
   * The instance's state on every poll (default `Completed`, with `roundTrip` as its output). Any other
   * state runs on a fake clock that moves 10 s per reading, so the request's deadline passes at once,
   * as it does when the Ping's send hangs (a pending endpoint drops the traffic while the client retries).
   */
  runtimeStatus?: string;
  /** The answer's HTTP status (default 200). */
  expectStatus?: number;
}

async function verify(setup: Setup) {
  const registration = {
    ...testRegistration(
      "contoso",
      "c0000000-0000-4000-8000-000000000001",
      { mode: "federatedManagedIdentity" },
      setup.namespace,
    ),
    network: setup.network,
  };
  const resolved: string[] = [];
  const started: string[] = [];
  const recorded: VerifyRecord[] = [];
  const rt = {
    settings: loadSettings({ AzureWebJobsStorage: "UseDevelopmentStorage=true", ...setup.settings }),
    store: { get: async (name: string) => (name === "contoso" ? registration : undefined) },
    health: { recordVerify: async (_t: string, r: VerifyRecord) => void recorded.push(r) },
    connections: { resolve: () => ({ key: "k", connect: () => undefined }) },
    resolveHost: async (host: string) => {
      resolved.push(host);
      if (setup.dns instanceof Error) throw setup.dns;
      return setup.dns ?? [];
    },
  } as unknown as DeploymentDeps;
  const client = {
    startNew: async (_name: string, options: { instanceId: string }) => {
      started.push(options.instanceId);
      return options.instanceId;
    },
    getStatus: async () => ({
      runtimeStatus: setup.runtimeStatus ?? "Completed",
      output: setup.runtimeStatus ? undefined : setup.roundTrip,
    }),
  } as unknown as DurableClient;
  const handlers = createVerifyHandlers(() => rt);
  let clock = Date.now();
  const now = setup.runtimeStatus ? mock.method(Date, "now", () => (clock += 10_000)) : undefined;
  const response = await handlers
    .verify(makeRequest({ method: "POST", params: { tenant: "contoso" } }), client, makeContext())
    .finally(() => now?.mock.restore());
  const res = readResponse(response);
  assert.equal(res.status, setup.expectStatus ?? 200, JSON.stringify(res.body));
  const body = res.body as VerifyResult & { tenant: string; network?: PrivatePathReport };
  return { body, resolved, started, recorded };
}

const steps = (r: VerifyResult) => r.steps.map((s) => `${s.step} ${s.ok ? "ok" : "failed"}`);
const ROUND_TRIP_OK: VerifyResult = {
  ok: true,
  latencyMs: 40,
  steps: [
    { step: "send", ok: true },
    { step: "receive", ok: true },
  ],
};

test("a public tenant: no DNS check, the answer as before", async () => {
  const { body, resolved, started } = await verify({ network: "public", roundTrip: ROUND_TRIP_OK });
  assert.deepEqual(resolved, [], "a public tenant's name is not resolved");
  assert.equal(started.length, 1);
  assert.equal(body.ok, true);
  assert.deepEqual(steps(body), ["credential ok", "send ok", "receive ok"]);
  assert.equal(body.network, undefined);
});

test("a private tenant whose namespace resolves to a private address: the dns step passes, then the round trip", async () => {
  const { body, resolved, started, recorded } = await verify({
    network: "private",
    dns: ["10.40.1.4"],
    roundTrip: ROUND_TRIP_OK,
  });
  assert.deepEqual(resolved, [HOST]);
  assert.equal(started.length, 1);
  assert.equal(body.ok, true);
  assert.deepEqual(steps(body), ["credential ok", "dns ok", "send ok", "receive ok"]);
  assert.deepEqual(body.network, {
    mode: "private",
    host: HOST,
    addresses: ["10.40.1.4"],
    resolvesPrivate: true,
  });
  assert.equal(recorded[0]?.ok, true);
});

test("a private tenant whose namespace resolves publicly: not ok at the dns step, naming the DNS zone, no round trip", async () => {
  const { body, started, recorded } = await verify({ network: "private", dns: ["40.112.1.1"] });
  assert.equal(started.length, 0, "no Ping is sent over a path that is not private");
  assert.equal(body.ok, false);
  assert.deepEqual(steps(body), ["credential ok", "dns failed"]);
  assert.equal(body.network?.resolvesPrivate, false);
  assert.equal(body.network?.missing, "privateDnsZone");
  assert.deepEqual(body.network?.addresses, ["40.112.1.1"]);
  assert.match(
    body.steps[1]?.detail ?? "",
    /public address\(es\) 40\.112\.1\.1.*privatelink\.servicebus\.windows\.net/,
  );
  // The health row (the dashboard) names the step too.
  assert.equal(recorded[0]?.failedStep, "dns");
  assert.match(recorded[0]?.detail ?? "", /privatelink/);
});

test("a private tenant whose name does not resolve: the dns step names the DNS zone", async () => {
  const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${HOST}`), { code: "ENOTFOUND" });
  const { body, started } = await verify({ network: "private", dns: error });
  assert.equal(started.length, 0);
  assert.deepEqual(steps(body), ["credential ok", "dns failed"]);
  assert.equal(body.network?.missing, "privateDnsZone");
  assert.match(body.steps[1]?.detail ?? "", /ENOTFOUND/);
});

test("a private tenant that resolves privately but cannot be reached: the pending approval is named", async () => {
  const { body } = await verify({
    network: "private",
    dns: ["10.40.1.4"],
    roundTrip: {
      ok: false,
      steps: [{ step: "send", ok: false, detail: "connect ETIMEDOUT 10.40.1.4:5671" }],
    },
  });
  assert.equal(body.ok, false);
  assert.deepEqual(steps(body), ["credential ok", "dns ok", "send failed"]);
  assert.equal(body.network?.resolvesPrivate, true);
  assert.equal(body.network?.missing, "approval");
  assert.match(body.network?.detail ?? "", /sb-contoso/);
  assert.match(body.steps[2]?.detail ?? "", /ETIMEDOUT.*not approved the private endpoint connection/);
  // A refusal of the Provider's identity is a role assignment, not the approval.
  const refused = await verify({
    network: "private",
    dns: ["10.40.1.4"],
    roundTrip: {
      ok: false,
      steps: [{ step: "send", ok: false, detail: "Unauthorized access. 'Send' claim(s) are required" }],
    },
  });
  assert.equal(refused.body.network?.missing, undefined);
  assert.doesNotMatch(refused.body.steps[2]?.detail ?? "", /approved/);
});

test("in local mode the host checked is the namespace's local endpoint, where the Provider connects", async () => {
  const { body, resolved } = await verify({
    network: "private",
    namespace: "contoso.servicebus.localhost",
    settings: {
      DEV_LOCAL_MODE: "true",
      SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: ".servicebus.localhost",
      DEV_SERVICEBUS_ENDPOINTS: "contoso.servicebus.localhost=sb://127.0.0.1:5673",
    },
    dns: ["127.0.0.1"],
    roundTrip: ROUND_TRIP_OK,
  });
  assert.deepEqual(resolved, ["127.0.0.1"]);
  assert.equal(body.ok, true);
  assert.equal(body.network?.resolvesPrivate, true, "loopback is not public");
});

test("outside local mode a loopback answer fails the dns step: no Ping is sent", async () => {
  const { body, started } = await verify({ network: "private", dns: ["127.0.0.1"] });
  assert.equal(started.length, 0);
  assert.deepEqual(steps(body), ["credential ok", "dns failed"]);
  assert.equal(body.network?.resolvesPrivate, false);
  assert.equal(body.network?.missing, "privateDnsZone");
  assert.match(body.steps[1]?.detail ?? "", /loopback address\(es\) 127\.0\.0\.1/);
});

test("a private tenant whose name resolves to no endpoint: the detail names the pending approval first, then the DNS zone", async () => {
  for (const dns of [["40.112.1.1"], [], Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" })]) {
    const { body } = await verify({ network: "private", dns });
    assert.equal(body.network?.missing, "privateDnsZone");
    const detail = body.steps[1]?.detail ?? "";
    // A manual connection's record may appear in the zone only once approved: pending shows up here.
    assert.match(
      detail,
      /most likely the customer has not approved the private endpoint connection from sb-contoso/,
    );
    assert.match(detail, /GET \/api\/tenants\/contoso\/onboarding/);
    assert.ok(
      detail.indexOf("not approved") < detail.indexOf("otherwise check"),
      "the approval comes first, the Provider's side after",
    );
    assert.match(detail, /otherwise check .*privatelink\.servicebus\.windows\.net/);
  }
});

test("a private tenant whose round trip has not finished by the deadline (the send to a pending endpoint hangs): 200, the send failed, the approval named", async () => {
  const { body, started, recorded } = await verify({
    network: "private",
    dns: ["10.40.1.4"],
    runtimeStatus: "Running",
  });
  assert.equal(started.length, 1);
  assert.equal(body.ok, false);
  assert.deepEqual(steps(body), ["credential ok", "dns ok", "send failed"]);
  assert.match(body.steps[2]?.detail ?? "", /send had not completed after 45 s/);
  assert.match(body.steps[2]?.detail ?? "", /not approved the private endpoint connection from sb-contoso/);
  assert.equal(body.network?.resolvesPrivate, true);
  assert.equal(body.network?.missing, "approval");
  assert.match(body.network?.detail ?? "", /approvalCommands/);
  assert.equal(recorded[0]?.failedStep, "send");
  assert.doesNotMatch(body.steps[2]?.detail ?? "", /verify:contoso/, "the Ping is named, not the tenant");
});

test("a public tenant whose round trip has not finished by the deadline: 200 with a failed send step, no approval", async () => {
  const { body, recorded } = await verify({ network: "public", runtimeStatus: "Running" });
  assert.equal(body.ok, false);
  assert.deepEqual(steps(body), ["credential ok", "send failed"]);
  assert.match(
    body.steps[1]?.detail ?? "",
    /send had not completed after 45 s.*does not answer the Provider/,
  );
  assert.doesNotMatch(body.steps[1]?.detail ?? "", /approv/);
  assert.equal(body.network, undefined);
  assert.equal(recorded[0]?.failedStep, "send");
});

test("a round trip that never started (Pending) is a failed send naming the task hub, not the approval; a failed instance is still an error", async () => {
  const { body } = await verify({ network: "private", dns: ["10.40.1.4"], runtimeStatus: "Pending" });
  assert.deepEqual(steps(body), ["credential ok", "dns ok", "send failed"]);
  assert.match(body.steps[2]?.detail ?? "", /had not started after 45 s.*task hub/);
  assert.equal(body.network?.missing, undefined);
  await verify({ network: "public", runtimeStatus: "Failed", expectStatus: 500 });
});
