/**
 * HTTP handlers that check a tenant's connection rather than run a deployment: `POST
 * /api/tenants/{tenant}/verify` (for a private tenant, first that its namespace resolves to the
 * Provider's private endpoint, lib/tenants/network.ts; then a Ping → Pong round trip through the
 * `verifyTenant` orchestration, recorded as the tenant's last verify) and `GET
 * /api/tenants/{tenant}/health` (what the dashboard shows per tenant: its status pump, deployments in
 * flight, last verify and quarantine) and `POST
 * /api/tenants/{tenant}/resume` (lifts a quarantine and restarts the pump, lib/tenants/quarantine.ts).
 * Registered by `triggers/verify.ts`.
 */
import { randomUUID } from "node:crypto";
import type { HttpResponseInit } from "@azure/functions";
import type { DurableClient } from "durable-functions";
import { z } from "zod";
import { ROLES } from "../http/auth";
import { json } from "../http/handler";
import { parseWith, readJson } from "../http/request";
import { invocationLogger, redactText, type Logger } from "../logging/logger";
import { tenantParam } from "../tenants/http";
import type { TenantRegistration } from "../tenants/model";
import {
  approvalHint,
  checkPrivateResolution,
  pendingApprovalSuspected,
  type PrivatePathReport,
} from "../tenants/network";
import {
  ORCHESTRATIONS,
  statusPumpInstanceId,
  type VerifyInput,
  type VerifyResult,
  type VerifyStep,
  verifyInstanceId,
} from "./contract";
import { ensureStatusPumpActivity } from "./activities";
import { inFlight } from "./reconcile";
import { authorizedHandlers, requireRegistered } from "./authorized";
import type { DeploymentDeps } from "./deps";

const verifySchema = z.strictObject({ timeoutSeconds: z.number().int().min(1).max(300).optional() });

/**
 * The host name whose resolution decides a private tenant's path: the namespace's, or in local mode the
 * emulator endpoint it is mapped to (where the Provider connects).
 */
function hostToResolve(rt: DeploymentDeps, registration: TenantRegistration): string {
  const { namespace } = registration.serviceBus;
  const local = rt.settings.localMode ? rt.settings.localEndpoints[namespace] : undefined;
  if (!local) return namespace;
  try {
    return new URL(local).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return namespace;
  }
}

/** The steps before the round trip (credential, and a private tenant's `dns`) and its network report. */
async function privatePath(
  rt: DeploymentDeps,
  registration: TenantRegistration,
): Promise<{ before: VerifyStep[]; network?: PrivatePathReport }> {
  const before: VerifyStep[] = [{ step: "credential", ok: true }];
  if (registration.network !== "private") return { before };
  const network = await checkPrivateResolution(
    registration.name,
    hostToResolve(rt, registration),
    rt.resolveHost,
    // Loopback is the local stack's emulator; in Azure it is never the private endpoint.
    rt.settings.localMode,
  );
  before.push(
    network.resolvesPrivate ? { step: "dns", ok: true } : { step: "dns", ok: false, detail: network.detail },
  );
  return { before, network };
}

/**
 * A private tenant's round trip, annotated: a send that failed although the name resolves privately
 * names the pending approval (unless the namespace refused the Provider's identity).
 */
function withApproval(
  tenant: string,
  network: PrivatePathReport,
  result: VerifyResult,
): { result: VerifyResult; network: PrivatePathReport } {
  const send = result.steps.find((s) => s.step === "send");
  if (!send || send.ok || !pendingApprovalSuspected(send.detail ?? "")) return { result, network };
  const hint = approvalHint(tenant);
  return {
    result: {
      ...result,
      steps: result.steps.map((s) =>
        s === send ? { ...s, detail: s.detail ? `${s.detail}; ${hint}` : hint } : s,
      ),
    },
    network: { ...network, missing: "approval", detail: hint },
  };
}

/** Instance states after which a verification never completes: an error, not an answer. */
const ENDED_WITHOUT_ANSWER = new Set(["Failed", "Terminated", "Canceled"]);

/**
 * The verification's output once its instance completed (polled every 100 ms), or no output and the
 * instance's last state when `deadline` passed first (still Pending or Running). Throws only when the
 * instance ended without completing (failed, terminated, canceled).
 */
async function verification(
  client: DurableClient,
  instanceId: string,
  deadline: number,
): Promise<{ output?: VerifyResult; runtimeStatus: string }> {
  for (;;) {
    const status = await client.getStatus(instanceId);
    const runtimeStatus = String(status.runtimeStatus);
    if (runtimeStatus === "Completed") return { output: status.output as VerifyResult, runtimeStatus };
    if (ENDED_WITHOUT_ANSWER.has(runtimeStatus)) {
      throw new Error(`verification ${instanceId} ended ${runtimeStatus}`);
    }
    if (Date.now() > deadline) return { runtimeStatus };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The round trip's answer when it had not finished after `waitedSeconds`: a failed `send` step, never
 * an error. Running that long means the Ping's send had not returned (the orchestration's own wait for
 * the Pong ends `timeoutSeconds` after it starts, 15 s before this deadline): typically a send to a
 * private endpoint still pending approval, whose traffic is dropped while the Service Bus client
 * retries (lib/messaging/channel.ts CLIENT_OPTIONS: 4 tries of 10 s) for about as long as this request
 * waits. Pending means it never started (the Provider's task hub). The instance ends on its own. The
 * detail names the Ping, not the instance id, which holds the tenant's name: the detail's text is then
 * searched for an authorization refusal (pendingApprovalSuspected), which a name may look like.
 */
function unfinished(pingId: string, runtimeStatus: string, waitedSeconds: number): VerifyResult {
  const detail =
    runtimeStatus === "Pending"
      ? `the round trip had not started after ${waitedSeconds} s (Ping ${pingId}'s verification is Pending): is the Provider's task hub running?`
      : `the Ping's send had not completed after ${waitedSeconds} s (Ping ${pingId}'s verification is ${runtimeStatus}): the namespace does not answer the Provider`;
  return { ok: false, steps: [{ step: "send", ok: false, detail }] };
}

/** Records a verification's result with the tenant's health and answers it (redacted). */
async function answerVerify(
  rt: Pick<DeploymentDeps, "health">,
  tenant: string,
  answer: VerifyResult,
  log: Logger,
  network?: PrivatePathReport,
): Promise<HttpResponseInit> {
  // A step's detail is an error's text: whatever produced it, no credential-shaped part leaves.
  const steps = answer.steps.map((s) => (s.detail ? { ...s, detail: redactText(s.detail) } : s));
  const result = { ...answer, steps };
  const failed = result.steps.find((s) => !s.ok);
  await rt.health
    .recordVerify(tenant, {
      at: new Date().toISOString(),
      ok: result.ok,
      ...(result.latencyMs !== undefined ? { latencyMs: result.latencyMs } : {}),
      ...(failed ? { failedStep: failed.step, ...(failed.detail ? { detail: failed.detail } : {}) } : {}),
    })
    .catch((error: unknown) => log.warn("verify result not recorded", { tenant, error }));
  log.info("tenant verified", { tenant, ok: result.ok, latencyMs: result.latencyMs });
  const report = network?.detail ? { ...network, detail: redactText(network.detail) } : network;
  return json(200, { tenant, ...result, ...(report ? { network: report } : {}) });
}

export function createVerifyHandlers(getRuntime: () => DeploymentDeps) {
  const authorized = authorizedHandlers(getRuntime);
  return {
    verify: authorized(
      [ROLES.tenantsAdmin, ROLES.deploymentsWrite],
      async ({ request, client, context, rt }) => {
        const tenant = tenantParam(request);
        const raw = await request.clone().text();
        const body = raw.trim() === "" ? {} : parseWith(verifySchema, await readJson(request));
        const registration = await requireRegistered(rt, tenant);
        const finish = (answer: VerifyResult, network?: PrivatePathReport) =>
          answerVerify(rt, tenant, answer, invocationLogger(context), network);
        // 1. The credential: can the Provider build a connection to the tenant's namespace at all?
        try {
          rt.connections.resolve(registration);
        } catch (error) {
          return finish({
            ok: false,
            steps: [{ step: "credential", ok: false, detail: (error as Error).message }],
          });
        }
        // 2. A private tenant: does the namespace resolve to the Provider's private endpoint? If not, the
        // round trip could only fail (or go out publicly), so the answer names the missing step now.
        const { before, network } = await privatePath(rt, registration);
        if (network && !network.resolvesPrivate) return finish({ ok: false, steps: before }, network);
        // 3. The round trip, in the `verifyTenant` orchestration; this request waits for its answer.
        const pingId = `ping-${randomUUID().replace(/-/g, "").slice(0, 20)}`;
        const instanceId = verifyInstanceId(tenant, pingId);
        const timeoutSeconds = body.timeoutSeconds ?? 30;
        const input: VerifyInput = {
          tenant,
          pingId,
          timeoutSeconds,
          pumpReensureSeconds: rt.settings.pumpReensureSeconds,
        };
        await client.startNew(ORCHESTRATIONS.verify, { instanceId, input });
        const waitSeconds = timeoutSeconds + 15;
        const outcome = await verification(client, instanceId, Date.now() + waitSeconds * 1000);
        const output = outcome.output ?? unfinished(pingId, outcome.runtimeStatus, waitSeconds);
        const result = { ...output, steps: [...before, ...output.steps] };
        // A round trip that never started says nothing about the path: no approval is suspected.
        if (!network || outcome.runtimeStatus === "Pending") return finish(result, network);
        const annotated = withApproval(tenant, network, result);
        return finish(annotated.result, annotated.network);
      },
    ),

    health: authorized([ROLES.deploymentsRead, ROLES.deploymentsWrite], async ({ request, client, rt }) => {
      const tenant = tenantParam(request);
      const registration = await requireRegistered(rt, tenant);
      const [pump, activeDeployments, lastVerify, quarantine] = await Promise.all([
        client.getStatus(statusPumpInstanceId(tenant)).catch(() => undefined),
        inFlight(rt, client, tenant).then((r) => r.length),
        rt.health.lastVerify(tenant),
        rt.health.quarantine(tenant),
      ]);
      return json(200, {
        tenant,
        ...(quarantine ? { state: "Quarantined", quarantine } : {}),
        statusPump: pump?.runtimeStatus
          ? {
              runtimeStatus: String(pump.runtimeStatus),
              ...(pump.lastUpdatedTime
                ? { lastUpdatedAt: new Date(pump.lastUpdatedTime).toISOString() }
                : {}),
            }
          : { runtimeStatus: "NotStarted" },
        activeDeployments,
        // "verified": outcomes are recorded only when signed by the tenant's registered receipt keys.
        receipts: registration.receiptKeys ? "verified" : "unsigned",
        ...(lastVerify ? { lastVerify } : {}),
      });
    }),

    /**
     * Lifts the tenant's quarantine, clears its bad-message count and starts its pump (which ends after one
     * idle poll if nothing is in flight). Statuses still queued are received again: a queue still full of
     * bad messages quarantines the tenant again after QUARANTINE_BAD_MESSAGES more.
     */
    resume: authorized([ROLES.tenantsAdmin], async ({ request, client, context, rt }) => {
      const tenant = tenantParam(request);
      await requireRegistered(rt, tenant);
      const lifted = await rt.health.resume(tenant);
      const statusPumpStarted = await ensureStatusPumpActivity(rt, client, tenant);
      invocationLogger(context).info("tenant resumed", { tenant, wasQuarantined: !!lifted });
      return json(200, { tenant, resumed: !!lifted, ...(lifted ? { lifted } : {}), statusPumpStarted });
    }),
  };
}
