/**
 * The webhook events of a rollout (lib/notifications): published by the state update activity when the
 * rollout moves, and by reconciliation when the Durable API ended its orchestration behind its back.
 */
import { cloudEvent, type CloudEvent } from "../notifications/model";
import type { RolloutRecord, RolloutState } from "./model";

/**
 * The webhook event of a rollout's move into `state`, if that move is one subscribers are told of: a gate
 * waiting for approval (once per wave), a halt (when decided: Halted, or RollingBack with onHalt
 * "rollback"), the rollback's end (Halted after RollingBack: `rollout.rolledBack`, with its summary), and
 * the end (Succeeded or Aborted). Each occurrence's id is stable, so a repeated publish is delivered once.
 */
export function rolloutEvent(rollout: RolloutRecord, state: RolloutState): CloudEvent | undefined {
  const data = {
    rolloutId: rollout.id,
    state,
    ...(rollout.release !== undefined ? { release: rollout.release } : {}),
    ...(rollout.message !== undefined ? { message: rollout.message } : {}),
    ...(rollout.rollback !== undefined ? { rollback: rollout.rollback } : {}),
  };
  const source = `/rollouts/${rollout.id}`;
  const at = rollout.updatedAt;
  switch (state) {
    case "WaitingForApproval": {
      const wave = rollout.waves[rollout.currentWave];
      return cloudEvent(
        "rollout.waitingForApproval",
        source,
        `${rollout.id}:${rollout.currentWave}`,
        { ...data, wave: { index: rollout.currentWave, name: wave?.name } },
        at,
      );
    }
    case "RollingBack":
      return cloudEvent("rollout.halted", source, rollout.id, data, at);
    case "Halted":
      return rollout.rollback !== undefined
        ? cloudEvent("rollout.rolledBack", source, rollout.id, data, at)
        : cloudEvent("rollout.halted", source, rollout.id, data, at);
    case "Succeeded":
    case "Aborted":
      return cloudEvent("rollout.finished", source, rollout.id, data, at);
    default:
      return undefined;
  }
}
