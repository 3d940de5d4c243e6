/**
 * The protocol with the durable-functions SDK: invoking an orchestrator handler on a history, reading the
 * state it returns (cumulative actions, output, custom status, an out-of-proc failure), flattening the
 * actions the way the SDK numbers them, and noticing a re-yielded task. No state, no storage, no time.
 */
import { randomUUID } from "node:crypto";
import { format } from "node:util";
import { InvocationContext } from "@azure/functions";
import type { RegisteredFunction } from "../host/functions-core";
import { splitStructured } from "../host/invoke";
import { EventType, newEvent, toJsonText, type HistoryEvent } from "./history";
import type { RetryOptionsWire } from "./store";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type Log = (level: LogLevel, message: string, props?: Record<string, unknown>) => void;

export interface SdkState {
  isDone?: boolean;
  actions?: unknown[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

export interface SdkAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  instanceId?: string;
  /** CallSubOrchestrator: the version asked for (absent: the default version). */
  version?: string;
  retryOptions?: RetryOptionsWire;
  fireAt?: string | Date;
  isCanceled?: boolean;
  compoundActions?: SdkAction[];
}

export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  WhenAny: 11,
  WhenAll: 12,
} as const;

const OUT_OF_PROC_MARKER = "$OutOfProcData$:";

/**
 * The backend's timer limits the extension announces to the SDK. A timer longer than
 * `maximumShortTimerMs` is split: the SDK's LongTimerTask and the extension both run it as pieces of
 * `longRunningTimerIntervalMs`, each with its own task id (episode.ts numbers them as the extension does).
 */
export interface TimerLimits {
  maximumShortTimerMs: number;
  longRunningTimerIntervalMs: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** The Azure Storage backend's limits (AzureStorageDurabilityProvider: MaximumDelayTime 6 days, 3-day pieces). */
export const AZURE_STORAGE_TIMER_LIMITS: TimerLimits = {
  maximumShortTimerMs: 6 * DAY_MS,
  longRunningTimerIntervalMs: 3 * DAY_MS,
};

/** A .NET TimeSpan as JSON.NET writes it (`d.hh:mm:ss.fffffff`), the form the SDK parses with moment. */
export function timeSpanText(ms: number): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const days = Math.floor(ms / DAY_MS);
  let rest = ms - days * DAY_MS;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const sec = Math.floor(rest / 1000);
  const frac = rest - sec * 1000;
  return `${days > 0 ? `${days}.` : ""}${pad(h)}:${pad(m)}:${pad(sec)}${frac ? `.${pad(frac, 3)}0000` : ""}`;
}

/** What an orchestration instance looks like to the SDK call: its input, identity and parent. */
export interface OrchestratorCall {
  instanceId: string;
  input: string | undefined;
  parentInstanceId: string | undefined;
  history: HistoryEvent[];
  /** Events before this index were seen in earlier episodes (IsPlayed). */
  newFrom: number;
  timerLimits: TimerLimits;
}

/** Hands the SDK's orchestrator handler the history and returns the state it answers with. */
export function invokeOrchestrator(
  f: RegisteredFunction,
  call: OrchestratorCall,
  log: Log,
): Promise<SdkState> {
  const history = call.history.map((e, i) => (i < call.newFrom ? { ...e, IsPlayed: true } : e));
  const context = new InvocationContext({
    functionName: f.name,
    invocationId: randomUUID(),
    logHandler: (level, ...args) => forwardUserLog(log, f.name, level, args),
    options: { trigger: f.trigger as never, extraInputs: [], extraOutputs: [] },
  });
  const trigger = {
    history,
    input: call.input === undefined ? undefined : JSON.parse(call.input),
    instanceId: call.instanceId,
    isReplaying: call.newFrom > 0,
    parentInstanceId: call.parentInstanceId,
    upperSchemaVersion: 1,
    upperSchemaVersionNew: 2,
    maximumShortTimerDuration: timeSpanText(call.timerLimits.maximumShortTimerMs),
    longRunningTimerIntervalDuration: timeSpanText(call.timerLimits.longRunningTimerIntervalMs),
    defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
  };
  return Promise.resolve(f.handler(trigger, context) as Promise<SdkState>);
}

/** Flattens the SDK's cumulative action list (one or more inner arrays, compound actions nested). */
export function flatten(actions: unknown[][]): SdkAction[] {
  const out: SdkAction[] = [];
  const visit = (a: SdkAction) => {
    if (a.actionType === ActionType.WhenAll || a.actionType === ActionType.WhenAny)
      (a.compoundActions ?? []).forEach(visit);
    else out.push(a);
  };
  for (const group of actions) for (const a of group ?? []) visit(a as SdkAction);
  return out;
}

/**
 * The action types of tasks yielded again (the same action object) at or after `from`: a task the
 * orchestrator yields again inside a new Task.any / Task.all appears twice in the SDK's actions. The
 * extension replays every action it gets, so on Azure the repeat becomes a second timer or activity with
 * a new id and the SDK's numbering drifts from the host's (docs/durable-engine.md, "Yield each task once").
 */
export function reyieldedActions(flat: SdkAction[], from: number): number[] {
  const seen = new Set<SdkAction>();
  const repeats: number[] = [];
  for (const [i, a] of flat.entries()) {
    if (a.actionType === ActionType.WaitForExternalEvent) continue;
    if (seen.has(a) && i >= from) repeats.push(a.actionType);
    seen.add(a);
  }
  return repeats;
}

/**
 * External events the finished execution received but never waited for: each wait consumes one event of
 * its name, in arrival order, so the surplus of each name is carried into the next execution.
 */
export function unconsumedEvents(history: HistoryEvent[], actions: SdkAction[], at: Date): HistoryEvent[] {
  const waits = new Map<string, number>();
  for (const a of actions)
    if (a.actionType === ActionType.WaitForExternalEvent) {
      const name = String((a as { externalEventName?: string }).externalEventName);
      waits.set(name, (waits.get(name) ?? 0) + 1);
    }
  return history
    .filter((e) => {
      if (e.EventType !== EventType.EventRaised) return false;
      const left = waits.get(e.Name ?? "") ?? 0;
      if (left > 0) {
        waits.set(e.Name ?? "", left - 1);
        return false;
      }
      return true;
    })
    .map((e) => newEvent(EventType.EventRaised, { Name: e.Name, Input: e.Input }, at));
}

/** The SDK JSON-encodes string inputs once more for activities and continue-as-new; undo that. */
export function actionInputText(input: unknown): string | undefined {
  if (input === undefined) return undefined;
  return typeof input === "string" ? input : toJsonText(input);
}

/**
 * The message (and custom status, and the actions it yielded before it threw) of an orchestrator that
 * threw, out of the SDK's out-of-proc error.
 */
export function parseFailure(e: unknown): { message: string; customStatus?: unknown; actions?: unknown[][] } {
  const text = errorMessage(e);
  const at = text.indexOf(OUT_OF_PROC_MARKER);
  if (at >= 0) {
    try {
      const state = JSON.parse(text.slice(at + OUT_OF_PROC_MARKER.length)) as SdkState;
      return {
        message: state.error ?? text.slice(0, at),
        customStatus: state.customStatus,
        actions: state.actions,
      };
    } catch {
      return { message: text.slice(0, at) };
    }
  }
  return { message: text };
}

export function describeOutput(output: string): string {
  const v = JSON.parse(output) as unknown;
  return typeof v === "string" ? v : output;
}

/** Forwards a function's own `context.log` output at the matching level. */
export function forwardUserLog(log: Log, functionName: string, level: string, args: unknown[]): void {
  const mapped: LogLevel =
    level === "error" || level === "critical"
      ? "error"
      : level === "warning"
        ? "warn"
        : level === "information"
          ? "info"
          : "debug";
  const text = format(...args);
  // Structured JSON entries get their fields merged, as the host's other triggers do, so an
  // orchestration's or activity's fields are searchable like any other.
  const line = splitStructured(text);
  log(mapped, line.message, { functionName, ...line.fields });
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
