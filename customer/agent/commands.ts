/**
 * What the agent does with one received command (./command-receiver.ts settles the message by the result):
 * validate it with the shared contract; Deploy → start the attempt's orchestration unless an instance of
 * it exists (in any state); Cancel → raise `cancel` to it, or, when the Cancel overtook its Deploy, start
 * the instance already cancelled so the Deploy finds it and runs nothing; Ping → answer Pong at once.
 * Nothing is kept in memory: the orchestration instance is the record of a deployment attempt.
 *
 * A command that breaks the contract, or that the agent does not trust, throws InvalidCommandError with
 * the reason, and the receiver dead-letters the message with it. A Deploy that breaks the contract and
 * whose deployment is readable is reported Rejected first, so the Provider need not wait for its deadline
 * (once: the message is dead-lettered right after, unless that report failed and it comes again).
 */
import { ACTIVE_STATUSES } from "../../lib/durable/instances";
import type { Logger } from "../../lib/logging/logger";
import {
  type Command,
  parseCommand,
  type RawMessage,
  refusedDeployment,
  type Status,
} from "../../lib/messaging/contracts";
import {
  checkClaims,
  checkSignature,
  type CommandRefusal,
  type ProviderTrust,
} from "../../lib/messaging/command-trust";
import { type AgentInput, agentInstanceId, type CancelEvent } from "./orchestration";
import { agentStatus } from "./status";

export class InvalidCommandError extends Error {
  constructor(
    readonly reason: string,
    readonly description: string,
  ) {
    super(`Invalid command (${reason}): ${description}`);
    this.name = "InvalidCommandError";
  }
}

/** The agent's orchestration instances, as the command handler needs them (the Durable client in the app). */
export interface AgentInstances {
  /** The instance's runtime status (`Running`, `Completed`, ...), or undefined when there is none. */
  status(instanceId: string): Promise<string | undefined>;
  /** Starts the instance; throws when it cannot, including when one with that id runs already. */
  start(instanceId: string, input: AgentInput): Promise<void>;
  /** Raises `cancel`; does nothing when the instance has just finished. */
  raiseCancel(instanceId: string, event: CancelEvent): Promise<void>;
}

export interface IncomingCommand extends RawMessage {
  messageId?: string;
  /** The broker's delivery count (0 or 1 on the first delivery, depending on the broker's convention). */
  deliveryCount?: number;
}

type CommandOutcome =
  "started" | "duplicate" | "cancelRaised" | "cancelledBeforeStart" | "cancelIgnored" | "expired" | "pong";

interface CommandHandlerOptions {
  sendStatus(status: Status): Promise<void>;
  now?: () => Date;
  /**
   * The Provider's pinned keys and this agent's tenant (lib/messaging/command-trust.ts); undefined while
   * none are pinned, when commands run unverified as before signing existed (a warning says so).
   */
  trust?: () => ProviderTrust | undefined;
}

/**
 * Runs check-then-act steps for one key one at a time in this process: two deliveries of commands for
 * the same attempt (a Deploy and its Cancel, or a duplicate) never both see "no instance" and both start
 * one. Across processes the Durable extension refuses a second start of a running instance id.
 */
function serializedByKey() {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(key: string, run: () => Promise<T>): Promise<T> => {
    const result = (tails.get(key) ?? Promise.resolve()).then(run);
    const tail = result.catch(() => undefined);
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return result;
  };
}

/** How far past a Deploy's attempt the agent looks for a later one it has run (attempts are sequential). */
const LATER_ATTEMPTS_CHECKED = 3;

/** Whether an instance of a later attempt of the same deployment exists (in any state). */
async function ranLaterAttempt(instances: AgentInstances, command: Command): Promise<boolean> {
  for (let n = command.attempt + 1; n <= command.attempt + LATER_ATTEMPTS_CHECKED; n++)
    if ((await instances.status(agentInstanceId(command.deploymentId, n))) !== undefined) return true;
  return false;
}

/** A command the agent does not trust: logged with its reason, never run, never answered; it fails. */
function refuse(
  refusal: { reason: CommandRefusal; description: string },
  message: IncomingCommand,
  log: Logger,
  command?: Command,
): never {
  log.warn("command refused", {
    reason: refusal.reason,
    description: refusal.description,
    messageId: message.messageId,
    deliveryCount: message.deliveryCount,
    ...(command
      ? {
          deploymentId: command.deploymentId,
          attempt: command.attempt,
          tenant: command.tenant,
          type: command.type,
        }
      : {}),
  });
  throw new InvalidCommandError(refusal.reason, refusal.description);
}

let warned = false;
function warnUnverified(log: Logger): void {
  if (warned) return;
  warned = true;
  log.warn("commands are not verified: no Provider signing keys are pinned (PROVIDER_SIGNING_KEYS)", {});
}

/** What the steps of one command's handling share: the handler's options and its clock. */
interface Handling {
  options: CommandHandlerOptions;
  now: () => Date;
}

/** Whether the command's deadline has passed. */
function expired(h: Handling, c: Command): boolean {
  return c.deadline !== undefined && Date.parse(c.deadline) <= h.now().getTime();
}

/** Starts the instance; a start that lost a race to another delivery counts as a duplicate. */
async function startOnce(
  instances: AgentInstances,
  instanceId: string,
  input: AgentInput,
): Promise<"started" | "duplicate"> {
  try {
    await instances.start(instanceId, input);
    return "started";
  } catch (error) {
    if ((await instances.status(instanceId)) !== undefined) return "duplicate";
    throw error;
  }
}

/** Deploy: starts the attempt's instance unless one exists (in any state); past its deadline, ignored. */
async function deploy(
  h: Handling,
  instances: AgentInstances,
  command: Command,
  instanceId: string,
  log: Logger,
): Promise<CommandOutcome> {
  if (expired(h, command)) {
    log.warn("expired deploy ignored", { deadline: command.deadline });
    return "expired";
  }
  const existing = await instances.status(instanceId);
  const outcome = existing === undefined ? await startOnce(instances, instanceId, { command }) : "duplicate";
  if (outcome === "duplicate") log.info("duplicate deploy ignored", { runtimeStatus: existing });
  else log.info("deployment started", {});
  return outcome;
}

/** Cancel: raised to the instance in flight, ignored once it ended, or the instance started cancelled. */
async function cancel(
  h: Handling,
  instances: AgentInstances,
  command: Command,
  instanceId: string,
  log: Logger,
): Promise<CommandOutcome> {
  const existing = await instances.status(instanceId);
  if (existing === undefined) {
    if (expired(h, command)) {
      log.warn("expired cancel ignored", { deadline: command.deadline });
      return "expired";
    }
    // The Cancel overtook its Deploy (concurrent deliveries, or a Deploy redelivered late): this
    // instance claims the attempt, reports Cancelled and ends; the Deploy then finds it and runs nothing.
    const outcome = await startOnce(instances, instanceId, { command });
    if (outcome === "duplicate") return cancel(h, instances, command, instanceId, log);
    log.info("cancel arrived before its deploy: attempt closed", {});
    return "cancelledBeforeStart";
  }
  if (!ACTIVE_STATUSES.has(existing)) {
    log.info("cancel for a finished deployment ignored", { runtimeStatus: existing });
    return "cancelIgnored";
  }
  await instances.raiseCancel(instanceId, command.reason ? { reason: command.reason } : {});
  log.info("cancel raised", { runtimeStatus: existing });
  return "cancelRaised";
}

/**
 * The command the message holds, checked against the contract; one that breaks it throws
 * InvalidCommandError, after a Rejected report when its deployment is readable.
 */
async function parsed(h: Handling, message: IncomingCommand, log: Logger): Promise<Command> {
  const result = parseCommand(message);
  if (result.ok) return result.value;
  const target = refusedDeployment(message.body);
  log.warn("command refused", {
    reason: result.reason,
    description: result.description,
    messageId: message.messageId,
    deliveryCount: message.deliveryCount,
    ...target,
  });
  if (target)
    await h.options.sendStatus(
      agentStatus(target, {
        state: "Rejected",
        progress: 0,
        sequence: 1,
        reportedAt: h.now().toISOString(),
        message: `${result.reason}: ${result.description}`,
      }),
    );
  throw new InvalidCommandError(result.reason, result.description);
}

/** With pinned keys: the command's claims hold, and a Deploy is no older than an attempt already run. */
async function requireTrusted(
  h: Handling,
  trust: ProviderTrust,
  command: Command,
  message: IncomingCommand,
  instances: AgentInstances,
  log: Logger,
): Promise<void> {
  const claims = checkClaims(command, trust, h.now());
  if (!claims.ok) return refuse(claims, message, log, command);
  if (command.type === "Deploy" && (await ranLaterAttempt(instances, command)))
    return refuse(
      {
        reason: "Replayed",
        description: `attempt ${command.attempt} is older than one this agent has already run`,
      },
      message,
      log,
      command,
    );
}

/** Ping: answered Pong at once. */
async function pong(h: Handling, command: Command, log: Logger): Promise<CommandOutcome> {
  await h.options.sendStatus(
    agentStatus(command, {
      state: "Pong",
      progress: 100,
      sequence: 0,
      reportedAt: h.now().toISOString(),
      message: "pong",
    }),
  );
  log.info("pong sent", {});
  return "pong";
}

export function createCommandHandler(options: CommandHandlerOptions) {
  const h: Handling = { options, now: options.now ?? (() => new Date()) };
  const serialized = serializedByKey();
  return {
    /** Handles one command message; throws InvalidCommandError for a message that breaks the contract. */
    async handle(message: IncomingCommand, instances: AgentInstances, log: Logger): Promise<CommandOutcome> {
      const trust = options.trust?.();
      if (!trust) warnUnverified(log);
      // The signature first: nothing a forger wrote is believed, or answered (a refused Deploy is not
      // reported Rejected: that report would tell the forger the queue is open to them).
      if (trust) {
        const signed = await checkSignature(message, trust);
        if (!signed.ok) return refuse(signed, message, log);
      }
      const command = await parsed(h, message, log);
      if (trust) await requireTrusted(h, trust, command, message, instances, log);
      const instanceId = agentInstanceId(command.deploymentId, command.attempt);
      const scoped = log.with({
        deploymentId: command.deploymentId,
        attempt: command.attempt,
        tenant: command.tenant,
        type: command.type,
        messageId: message.messageId,
        ...(command.type === "Ping" ? {} : { instanceId }),
      });
      switch (command.type) {
        case "Ping":
          return pong(h, command, scoped);
        case "Deploy":
          return serialized(instanceId, () => deploy(h, instances, command, instanceId, scoped));
        case "Cancel":
          return serialized(instanceId, () => cancel(h, instances, command, instanceId, scoped));
      }
    },
  };
}
