/**
 * Sending commands to a customer's command queue, for the orchestrations (the `sendCommand` activity) and
 * for the HTTP API and reconciliation (a best-effort Cancel). A failure is an answer, never a throw.
 */
import { createLogger, Logger } from "../logging/logger";
import { sendCommand } from "../messaging/channel";
import type { Command } from "../messaging/contracts";
import { TenantNotFoundError } from "../tenants/store";
import type { DeploymentRecord } from "./model";
import { ProviderRuntime, serviceBusFor } from "./runtime";
import type { SendResult } from "./workflow";

/**
 * Sends a command. It never throws: a failure is an answer, with whether retrying could help, so the
 * orchestration decides (retry with backoff, or end Failed with the cause) and never fails itself.
 */
export async function sendCommandActivity(
  rt: ProviderRuntime,
  input: { tenant: string; command: Command },
  log: Logger = createLogger(),
): Promise<SendResult> {
  const { tenant, command } = input;
  try {
    const registration = await rt.store.require(tenant);
    const messageId = await sendCommand(
      serviceBusFor(rt, registration),
      registration.serviceBus.commandQueue,
      command,
      new Date(),
    );
    if (command.type === "Deploy")
      await rt.ledger.advance(tenant, command.deploymentId, command.attempt, "Sent");
    log.info("command sent", {
      tenant,
      deploymentId: command.deploymentId,
      attempt: command.attempt,
      type: command.type,
      messageId,
    });
    return { messageId };
  } catch (error) {
    const retryable = isRetryable(error);
    log.warn("command not sent", {
      tenant,
      deploymentId: command.deploymentId,
      attempt: command.attempt,
      type: command.type,
      retryable,
      error,
    });
    return { error: error instanceof Error ? error.message : String(error), retryable };
  }
}

/**
 * Whether a send failure may pass: the Service Bus client marks its errors (`retryable`); a tenant that is
 * no longer registered never comes back by waiting; anything else (network, token) is worth a bounded retry.
 */
function isRetryable(error: unknown): boolean {
  if (error instanceof TenantNotFoundError) return false;
  const flag = (error as { retryable?: unknown } | undefined)?.retryable;
  return typeof flag === "boolean" ? flag : true;
}

/** A Cancel for an attempt, sent outside an orchestration (terminate, reconciliation). */
export function cancelCommand(
  record: Pick<DeploymentRecord, "tenant" | "id" | "attempt">,
  reason: string,
): Command {
  return {
    schemaVersion: 1,
    type: "Cancel",
    deploymentId: record.id,
    attempt: record.attempt,
    tenant: record.tenant,
    requestedAt: new Date().toISOString(),
    reason: reason.slice(0, 200),
  };
}

/** Tells the agent to stop an attempt; best effort (the outcome is already recorded, a failure is logged). */
export async function sendCancel(
  rt: ProviderRuntime,
  record: Pick<DeploymentRecord, "tenant" | "id" | "attempt">,
  reason: string,
  log: Logger = createLogger(),
): Promise<SendResult> {
  return sendCommandActivity(rt, { tenant: record.tenant, command: cancelCommand(record, reason) }, log);
}
