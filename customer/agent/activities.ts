/**
 * The agent orchestration's activities: plan, one deployer step, one health probe, one status send. Each may run again
 * after a crash (at-least-once), so each is safe to repeat: the deployer's steps by contract, a status
 * send because its message id is fixed by its sequence.
 */
import type { Logger } from "../../lib/logging/logger";
import type { Status } from "../../lib/messaging/contracts";
import type { Deployer, Plan, ProbeResult, StepResult } from "./deployer";
import type { PlanInput, ProbeInput, StepInput } from "./orchestration";

const ids = (input: PlanInput) => ({
  deploymentId: input.command.deploymentId,
  attempt: input.command.attempt,
  instanceId: input.instanceId,
});

export async function planActivity(deployer: Deployer, input: PlanInput, log: Logger): Promise<Plan> {
  const plan = await deployer.plan(input.command);
  log.debug("deployment planned", {
    ...ids(input),
    plan: plan.kind,
    ...("steps" in plan ? { steps: plan.steps } : {}),
  });
  return plan;
}

export async function stepActivity(deployer: Deployer, input: StepInput, log: Logger): Promise<StepResult> {
  const where = { ...ids(input), step: input.step, steps: input.steps };
  log.debug("deployer step started", where);
  const result = await deployer.runStep(input.command, { step: input.step, steps: input.steps });
  log.debug("deployer step ended", { ...where, result: result.kind });
  return result;
}

/** One health probe; a probe that throws is an unhealthy answer (the check could not pass). */
export async function probeActivity(
  deployer: Deployer,
  input: ProbeInput,
  log: Logger,
): Promise<ProbeResult> {
  const where = { ...ids(input), probe: input.probe, probes: input.probes };
  let result: ProbeResult;
  try {
    result = await deployer.checkHealth(input.command, input.check.probe, {
      probe: input.probe,
      probes: input.probes,
      deadline: input.deadline,
    });
  } catch (error) {
    result = {
      healthy: false,
      message: `probe failed: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  log.debug("health probed", { ...where, healthy: result.healthy });
  return result;
}

export async function sendStatusActivity(
  send: (status: Status) => Promise<void>,
  status: Status,
  log: Logger,
): Promise<void> {
  await send(status);
  log.debug("status sent", {
    deploymentId: status.deploymentId,
    attempt: status.attempt,
    state: status.state,
    sequence: status.sequence,
  });
}
