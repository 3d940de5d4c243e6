/** Builds the agent's status reports; the orchestration decides every field that must replay the same. */
import { LIMITS, type Command, type Status, type StatusState } from "../../lib/messaging/contracts";

export interface Report {
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
