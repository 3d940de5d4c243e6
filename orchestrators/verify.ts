/**
 * The `verifyTenant` orchestration (instance `verifyInstanceId(tenant, pingId)`): Ping → Pong through
 * both of the tenant's queues, answering the round-trip latency or the step that failed. Started by
 * `POST /api/tenants/{tenant}/verify`; the Pong reaches it through the status pump (`routeStatus`).
 */
import * as durable from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import {
  ACTIVITIES,
  buildCommand,
  EVENTS,
  ORCHESTRATIONS,
  type VerifyInput,
  type VerifyResult,
  type VerifyStep,
  type EventPayloads,
} from "../lib/deployments/contract";
import { call } from "../lib/durable/activities";
import { EventInbox } from "../lib/durable/events";

function* verifyOrchestrator(context: OrchestrationContext): Generator<Task, VerifyResult, unknown> {
  const df = context.df;
  const input = df.getInput() as VerifyInput;
  const started = df.currentUtcDateTime;
  const deadline = new Date(started.getTime() + input.timeoutSeconds * 1000);
  // 1. Send the Ping to the tenant's command queue.
  const sent = yield* call(df, ACTIVITIES.sendCommand, {
    tenant: input.tenant,
    command: buildCommand({
      type: "Ping",
      deploymentId: input.pingId,
      attempt: 1,
      tenant: input.tenant,
      requestedAt: started,
      deadline,
    }),
  });
  if ("error" in sent) return { ok: false, steps: [{ step: "send", ok: false, detail: sent.error }] };
  const steps: VerifyStep[] = [{ step: "send", ok: true }];
  // 2. Make sure the tenant's status pump runs, then wait for the Pong, re-ensuring the pump on the way.
  yield* call(df, ACTIVITIES.ensureStatusPump, input.tenant);
  const inbox = new EventInbox<EventPayloads, "pong">(df, [EVENTS.pong]);
  for (;;) {
    const now = df.currentUtcDateTime;
    if (now >= deadline) {
      steps.push({
        step: "receive",
        ok: false,
        detail: `no Pong within ${input.timeoutSeconds} s: is the agent running and allowed to send to the status queue?`,
      });
      return { ok: false, steps };
    }
    const wake = new Date(Math.min(deadline.getTime(), now.getTime() + input.pumpReensureSeconds * 1000));
    // A Pong that came while the pump was being re-ensured is kept by the inbox, not missed.
    if ((yield* inbox.next(wake)).length > 0) {
      const latencyMs = df.currentUtcDateTime.getTime() - started.getTime();
      steps.push({ step: "receive", ok: true });
      return { ok: true, latencyMs, steps };
    }
    yield* call(df, ACTIVITIES.ensureStatusPump, input.tenant);
  }
}

durable.app.orchestration(ORCHESTRATIONS.verify, verifyOrchestrator);
