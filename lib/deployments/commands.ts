/**
 * Sending commands to a customer's command queue, for the orchestrations (the `sendCommand` activity) and
 * for the HTTP API and reconciliation (a best-effort Cancel). A failure is an answer, never a throw.
 */
import { createLogger, Logger, redactText } from "../logging/logger";
import { sendCommand } from "../messaging/channel";
import { ConfigurationError } from "../config/settings";
import { NamespaceNotAllowedError } from "../identity/connection";
import { SigningKeyError } from "../signing/keys";
import { TenantNotFoundError } from "../tenants/store";
import type { DeploymentRecord } from "./model";
import { DeploymentDeps, serviceBusFor } from "./deps";
import { buildCommand, type SendCommandInput, type SendResult } from "./contract";

/**
 * Sends a command. It never throws: a failure is an answer, with whether retrying could help, so the
 * orchestration decides (retry with backoff, or end Failed with the cause) and never fails itself.
 */
export async function sendCommandActivity(
  rt: DeploymentDeps,
  input: SendCommandInput,
  log: Logger = createLogger(),
): Promise<SendResult> {
  const { tenant, command } = input;
  try {
    const registration = await rt.store.require(tenant);
    // The first key signs (lib/signing/keys.ts); without COMMAND_SIGNING_KEYS the command goes unsigned.
    const [signer] = await rt.signingKeys();
    const messageId = await sendCommand(
      serviceBusFor(rt, registration),
      registration.serviceBus.commandQueue,
      command,
      new Date(),
      signer,
    );
    if (command.type === "Deploy")
      await rt.ledger.advance(tenant, command.deploymentId, command.attempt, "Sent");
    log.debug("command sent", {
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
    return { error: redactText(error instanceof Error ? error.message : String(error)), retryable };
  }
}

/** Service Bus answers that waiting cannot change: the queue is gone or disabled, the message too big. */
const PERMANENT_CODES = new Set([
  "MessagingEntityNotFound",
  "MessagingEntityDisabled",
  "MessageSizeExceeded",
]);

/**
 * Whether a send failure may pass. Not the client's own `retryable` flag: it marks a refused connection
 * or an unresolved host as final, yet both are what a broker outage or a DNS blip look like, and the
 * orchestration's retries are bounded anyway. Final: a tenant no longer registered, a namespace or
 * credential the configuration forbids, an entity Service Bus says is missing, disabled or too small.
 */
function isRetryable(error: unknown): boolean {
  if (
    error instanceof TenantNotFoundError ||
    error instanceof NamespaceNotAllowedError ||
    error instanceof ConfigurationError ||
    error instanceof SigningKeyError
  )
    return false;
  const code = (error as { code?: unknown } | undefined)?.code;
  return !(typeof code === "string" && PERMANENT_CODES.has(code));
}

/**
 * Tells the agent to stop an attempt, outside an orchestration (terminate, reconciliation); best effort
 * (the outcome is already recorded, a failure is logged).
 */
export async function sendCancel(
  rt: DeploymentDeps,
  record: Pick<DeploymentRecord, "tenant" | "id" | "attempt">,
  reason: string,
  log: Logger = createLogger(),
): Promise<SendResult> {
  const command = buildCommand({
    type: "Cancel",
    deploymentId: record.id,
    attempt: record.attempt,
    tenant: record.tenant,
    requestedAt: new Date(),
    reason: reason.slice(0, 200),
  });
  return sendCommandActivity(rt, { tenant: record.tenant, command }, log);
}
