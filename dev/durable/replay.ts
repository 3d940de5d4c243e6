/**
 * One replay of an orchestrator on an instance's history, judged as the Durable extension judges it: the
 * SDK's state with its flattened actions, or why the instance fails. Code that now schedules something
 * other than what the history recorded is non-deterministic (determinism.ts), also when it then threw on
 * a result meant for another task; code that merely stopped early by throwing fails with its own error.
 */
import type { RegisteredFunction } from "../host/functions-core";
import type { Clock } from "./clock";
import { checkDeterminism } from "./determinism";
import {
  flatten,
  invokeOrchestrator,
  parseFailure,
  type Log,
  type OrchestratorCall,
  type SdkAction,
  type SdkState,
} from "./protocol";

export type Replayed =
  | { ok: true; state: SdkState; actions: SdkAction[]; customStatus?: unknown }
  | { ok: false; reason: string; customStatus?: unknown };

export async function replay(
  orchestrator: RegisteredFunction,
  call: OrchestratorCall,
  host: { readonly clock: Clock; readonly log: Log },
): Promise<Replayed> {
  const invokedAt = host.clock.now();
  const executed = (result: string) =>
    host.log(
      "debug",
      `Executed '${orchestrator.name}' (${result}, Id=${call.instanceId}, Duration=${host.clock.now() - invokedAt}ms)`,
    );
  let state: SdkState;
  try {
    state = await invokeOrchestrator(orchestrator, call, host.log);
    executed("Succeeded");
  } catch (e) {
    executed("Failed");
    const failed = parseFailure(e);
    const changed = checkDeterminism(
      call.history,
      flatten(failed.actions ?? []),
      call.timerLimits.maximumShortTimerMs,
    );
    return {
      ok: false,
      reason:
        changed && changed.actual !== "nothing"
          ? changed.message
          : `Orchestrator function '${orchestrator.name}' failed: ${failed.message}`,
      customStatus: failed.customStatus,
    };
  }
  const actions = flatten(state.actions ?? []);
  const changed = checkDeterminism(call.history, actions, call.timerLimits.maximumShortTimerMs);
  if (changed) return { ok: false, reason: changed.message, customStatus: state.customStatus };
  return { ok: true, state, actions, customStatus: state.customStatus };
}
