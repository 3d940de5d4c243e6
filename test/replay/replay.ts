/**
 * Replays a recorded history on today's code: the app's orchestrator as the dev host loads it, handed the
 * whole history by the real SDK call the engine makes (dev/durable/protocol.ts), and the replay's actions
 * compared with the history by the engine's own check (dev/durable/determinism.ts).
 */
import type { FunctionRegistry, RegisteredFunction } from "../../dev/host/functions-core";
import { loadApp } from "../../dev/host/app";
import { checkDeterminism, type NonDeterminism } from "../../dev/durable/determinism";
import {
  ActionType,
  AZURE_STORAGE_TIMER_LIMITS,
  flatten,
  invokeOrchestrator,
  parseFailure,
  type SdkAction,
} from "../../dev/durable/protocol";
import { APPS } from "./histories";
import type { RecordedHistory } from "./histories";

export interface Replayed {
  difference?: NonDeterminism;
  /** The orchestrator returned (or continued as new) on this history. */
  done: boolean;
  output?: unknown;
  /** The input of the continue-as-new action, when there is one. */
  continuedWith?: unknown;
  /** The orchestrator threw: its message. */
  failure?: string;
}

/** Both apps' registrations, loaded as the dev host loads them (package.json main, host.json, settings). */
export function loadApps(): FunctionRegistry[] {
  return [loadApp(APPS.provider).registry, loadApp(APPS.customer).registry];
}

export function findOrchestrator(
  registries: FunctionRegistry[],
  name: string,
): RegisteredFunction | undefined {
  for (const r of registries) {
    const f = r.get(name);
    if (f && f.trigger.type.toLowerCase() === "orchestrationtrigger") return f;
  }
  return undefined;
}

export async function replay(f: RegisteredFunction, recorded: RecordedHistory): Promise<Replayed> {
  const history = recorded.history;
  const call = {
    instanceId: recorded.instanceId,
    input: recorded.input,
    parentInstanceId: recorded.parentInstanceId,
    history,
    newFrom: history.length,
    // What the Azure Storage backend announces: the SDK splits longer timers as it would there.
    timerLimits: AZURE_STORAGE_TIMER_LIMITS,
  };
  try {
    const state = await invokeOrchestrator(f, call, () => {});
    const actions = flatten(state.actions ?? []);
    const next = actions.find((a: SdkAction) => a.actionType === ActionType.ContinueAsNew);
    return {
      difference: checkDeterminism(history, actions),
      done: state.isDone === true,
      output: state.output,
      ...(next ? { continuedWith: next.input } : {}),
    };
  } catch (e) {
    const failed = parseFailure(e);
    return {
      difference: checkDeterminism(history, flatten(failed.actions ?? [])),
      done: false,
      failure: failed.message,
    };
  }
}
