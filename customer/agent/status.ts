/** Builds the agent's status reports; the orchestration decides every field that must replay the same. */
import {
  LIMITS,
  type Command,
  type OutgoingMessage,
  signedStatusMessage,
  type Status,
  type StatusState,
  statusMessage,
} from "../../lib/messaging/contracts";
import type { MessageSigner } from "../../lib/signing/jws";
import { isReceiptState } from "../../lib/signing/receipts";

interface Report {
  state: StatusState;
  progress: number;
  sequence: number;
  reportedAt: string;
  message?: string;
  detail?: unknown;
}

export function agentStatus(target: Pick<Command, "deploymentId" | "attempt">, report: Report): Status {
  return {
    schemaVersion: 1,
    deploymentId: target.deploymentId,
    attempt: target.attempt,
    state: report.state,
    progress: Math.min(Math.max(report.progress, 0), 100),
    sequence: report.sequence,
    reportedAt: report.reportedAt,
    ...(report.message !== undefined ? { message: report.message.slice(0, LIMITS.messageChars) } : {}),
    ...(report.detail !== undefined ? { detail: report.detail } : {}),
  };
}

/**
 * The agent's status send: a terminal status (Succeeded, Failed, Cancelled, Rejected) is signed with the
 * customer's receipt key when one is set (`signer` answers undefined when none is), so the Provider can
 * record it as a receipt; other statuses go unsigned (docs/messages.md, "Signed receipts"). The message
 * id does not depend on the signature, so a resend is still a duplicate.
 */
export function statusSender(
  send: (message: OutgoingMessage) => Promise<void>,
  signer: () => Promise<MessageSigner | undefined>,
): (status: Status) => Promise<void> {
  return async (status) => {
    const key = isReceiptState(status.state) ? await signer() : undefined;
    await send(key ? await signedStatusMessage(status, key) : statusMessage(status));
  };
}
