/**
 * Replays a recorded history on today's code: the app's orchestrator as the dev host loads it, replayed
 * and compared with the history by the engine's own replay (dev/durable/replay.ts `runReplay`: the real
 * SDK call and determinism.ts's check).
 */
import type { FunctionRegistry, RegisteredFunction } from "../../dev/host/functions-core";
import { loadApp } from "../../dev/host/app";
import type { NonDeterminism } from "../../dev/durable/determinism";
import { ActionType, AZURE_STORAGE_TIMER_LIMITS, type SdkAction } from "../../dev/durable/protocol";
import { runReplay } from "../../dev/durable/replay";
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
  const run = await runReplay(f, call, () => {});
  if (!run.state) return { difference: run.difference, done: false, failure: run.failure?.message };
  const next = run.actions.find((a: SdkAction) => a.actionType === ActionType.ContinueAsNew);
  return {
    difference: run.difference,
    done: run.state.isDone === true,
    output: run.state.output,
    ...(next ? { continuedWith: next.input } : {}),
  };
}
