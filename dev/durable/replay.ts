/**
 * One replay of an orchestrator on an instance's history, judged as the Durable extension judges it.
 * `runReplay` invokes the SDK and compares what it scheduled with the history (determinism.ts); the replay
 * test (test/replay/) reads its result as it is. `replay` is the engine's verdict on it: the SDK's state with
 * its flattened actions, or why the instance fails. Code that now schedules something other than what the
 * history recorded is non-deterministic, also when it then threw on a result meant for another task; code
 * that merely stopped early by throwing fails with its own error.
 */
import type { RegisteredFunction } from "../host/functions-core";
import type { Clock } from "./clock";
import { checkDeterminism, type NonDeterminism } from "./determinism";
import {
  flatten,
  invokeOrchestrator,
  parseFailure,
  type Log,
  type OrchestratorCall,
  type SdkAction,
  type SdkState,
} from "./protocol";

/** What one replay did: the SDK's state (absent when the orchestrator threw), or its failure. */
export interface ReplayRun {
  state?: SdkState;
  /** The flattened actions, those yielded before a throw included. */
  actions: SdkAction[];
  /** Where the actions leave what the history recorded. */
  difference?: NonDeterminism;
  failure?: { message: string; customStatus?: unknown };
}

export async function runReplay(
  orchestrator: RegisteredFunction,
  call: OrchestratorCall,
  log: Log,
): Promise<ReplayRun> {
  const judge = (actions: SdkAction[]) =>
    checkDeterminism(call.history, actions, call.timerLimits.maximumShortTimerMs);
  try {
    const state = await invokeOrchestrator(orchestrator, call, log);
    const actions = flatten(state.actions ?? []);
    return { state, actions, difference: judge(actions) };
  } catch (e) {
    const failed = parseFailure(e);
    const actions = flatten(failed.actions ?? []);
    return {
      actions,
      difference: judge(actions),
      failure: { message: failed.message, customStatus: failed.customStatus },
    };
  }
}

export type Replayed =
  | { ok: true; state: SdkState; actions: SdkAction[]; customStatus?: unknown }
  | { ok: false; reason: string; customStatus?: unknown };

export async function replay(
  orchestrator: RegisteredFunction,
  call: OrchestratorCall,
  host: { readonly clock: Clock; readonly log: Log },
): Promise<Replayed> {
  const invokedAt = host.clock.now();
  const run = await runReplay(orchestrator, call, host.log);
  host.log(
    "debug",
    `Executed '${orchestrator.name}' (${run.state ? "Succeeded" : "Failed"}, Id=${call.instanceId}, Duration=${host.clock.now() - invokedAt}ms)`,
  );
  const changed = run.difference;
  if (!run.state) {
    const failure = run.failure as NonNullable<ReplayRun["failure"]>;
    return {
      ok: false,
      reason:
        changed && changed.actual !== "nothing"
          ? changed.message
          : `Orchestrator function '${orchestrator.name}' failed: ${failure.message}`,
      customStatus: failure.customStatus,
    };
  }
  if (changed) return { ok: false, reason: changed.message, customStatus: run.state.customStatus };
  return { ok: true, state: run.state, actions: run.actions, customStatus: run.state.customStatus };
}
