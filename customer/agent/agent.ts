/**
 * The customer agent's command handling: validate with the shared contract, answer Ping with Pong, run
 * Deploy through a deployer with per-attempt status sequencing, honour Cancel, ignore duplicates, and
 * report a Deploy that breaks the contract as Rejected when its deployment is identifiable.
 */
import { createLogger, Logger } from "../../lib/logging/logger";
import {
  Command,
  parseCommand,
  RawMessage,
  refusedDeployment,
  Status,
  StatusState,
} from "../../lib/messaging/contracts";
import type { Deployer } from "./deployer";

export class InvalidCommandError extends Error {
  constructor(
    readonly reason: string,
    description: string,
  ) {
    super(`Invalid command (${reason}): ${description}`);
    this.name = "InvalidCommandError";
  }
}

export interface AgentOptions {
  sendStatus(status: Status): Promise<void>;
  deployer: Deployer;
  log?: Logger;
  now?: () => Date;
}

interface Running {
  cancelled: boolean;
}

const SEEN_LIMIT = 10_000;

export function createAgent(options: AgentOptions) {
  const log = options.log ?? createLogger();
  const now = options.now ?? (() => new Date());
  const running = new Map<string, Running>();
  const seen = new Set<string>();
  const key = (c: Pick<Command, "deploymentId" | "attempt">) => `${c.deploymentId}:${c.attempt}`;
  const remember = (k: string) => {
    seen.add(k);
    if (seen.size > SEEN_LIMIT) seen.delete(seen.values().next().value as string);
  };

  const send = (
    c: Pick<Command, "deploymentId" | "attempt">,
    state: StatusState,
    progress: number,
    sequence: number,
    message?: string,
    detail?: unknown,
  ) =>
    options.sendStatus({
      schemaVersion: 1,
      deploymentId: c.deploymentId,
      attempt: c.attempt,
      state,
      progress,
      sequence,
      reportedAt: now().toISOString(),
      ...(message !== undefined ? { message: message.slice(0, 1024) } : {}),
      ...(detail !== undefined ? { detail } : {}),
    });

  return {
    /** Handles one command message; throws InvalidCommandError for messages that break the contract. */
    async handle(message: RawMessage & { messageId?: string }): Promise<void> {
      const parsed = parseCommand(message);
      if (!parsed.ok) {
        const target = refusedDeployment(message.body);
        log.warn("command refused", { reason: parsed.reason, messageId: message.messageId, ...target });
        // Tell the Provider at once (first delivery only); the message itself still ends in the
        // dead-letter queue, through the failed invocation, so nothing is lost.
        const refusal = `refused:${message.messageId ?? JSON.stringify(target)}`;
        if (target && !seen.has(refusal)) {
          remember(refusal);
          await send(target, "Rejected", 0, 1, `${parsed.reason}: ${parsed.description}`);
        }
        throw new InvalidCommandError(parsed.reason, parsed.description);
      }
      const command = parsed.value;
      const ids = { deploymentId: command.deploymentId, attempt: command.attempt, tenant: command.tenant };
      const dedupeKey = message.messageId ?? `${key(command)}:${command.type}`;
      if (seen.has(dedupeKey)) {
        log.info("duplicate command ignored", { ...ids, type: command.type });
        return;
      }
      remember(dedupeKey);
      switch (command.type) {
        case "Ping":
          await send(command, "Pong", 100, 0, "pong");
          return;
        case "Cancel": {
          const run = running.get(key(command));
          if (run) run.cancelled = true;
          else await send(command, "Cancelled", 0, Number.MAX_SAFE_INTEGER, "nothing was running");
          log.info("cancel received", { ...ids, running: !!run });
          return;
        }
        case "Deploy": {
          if (command.deadline && Date.parse(command.deadline) <= now().getTime()) {
            log.warn("expired command ignored", ids);
            return;
          }
          const run: Running = { cancelled: false };
          running.set(key(command), run);
          let sequence = 0;
          try {
            await options.deployer.deploy(command, {
              report: (state, progress, msg, detail) =>
                send(command, state, progress, ++sequence, msg, detail),
              cancelled: () => run.cancelled,
            });
          } catch (error) {
            log.error("deployer failed", { ...ids, error });
            await send(
              command,
              "Failed",
              0,
              ++sequence,
              error instanceof Error ? error.message : String(error),
            );
          } finally {
            running.delete(key(command));
          }
          return;
        }
      }
    },
  };
}
