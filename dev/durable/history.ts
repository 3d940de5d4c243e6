/**
 * History events in the PascalCase JSON shape the durable-functions SDK replays, and the small helpers
 * the engine uses to build them. Payloads (`Input`, `Result`) are JSON text, as the SDK `JSON.parse`s them.
 */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventRaised: 15,
  ContinueAsNew: 16,
  /** What a rewind turns a failure (and a failed task's TaskScheduled) into: replay ignores it. */
  GenericEvent: 17,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

const eventTypeNames = Object.fromEntries(Object.entries(EventType).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;

export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  Name?: string;
  Input?: string;
  Result?: string;
  Reason?: string;
  Details?: string;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  InstanceId?: string;
  OrchestrationStatus?: string;
  /** ExecutionStarted and SubOrchestrationInstanceCreated: the orchestration version (the SDK's `context.df.version`). */
  Version?: string;
}

/** A history event; `at` is the engine clock's time (the orchestrator's currentUtcDateTime reads OrchestratorStarted's). */
export function newEvent(type: number, fields: Partial<HistoryEvent>, at: Date): HistoryEvent {
  return { EventType: type, EventId: -1, IsPlayed: false, Timestamp: at.toISOString(), ...fields };
}

/** JSON text for a value that may be undefined; the SDK parses "null" back to null. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

export function parseJsonText(text: string | undefined): unknown {
  if (text === undefined || text === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The history as the management API shows it (`showHistory=true`), close to the extension's shape. */
export function describeEvent(event: HistoryEvent, showOutput: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    EventType: eventTypeNames[event.EventType],
    Timestamp: event.Timestamp,
  };
  if (event.Name !== undefined) out.FunctionName = event.Name;
  if (event.EventType === EventType.ExecutionStarted) out.Input = parseJsonText(event.Input);
  if (event.Version !== undefined) out.Version = event.Version;
  if (event.TaskScheduledId !== undefined) out.TaskScheduledId = event.TaskScheduledId;
  if (event.TimerId !== undefined) out.TimerId = event.TimerId;
  if (event.FireAt !== undefined) out.FireAt = event.FireAt;
  if (event.Reason !== undefined) out.Reason = event.Reason;
  if (event.OrchestrationStatus !== undefined) out.OrchestrationStatus = event.OrchestrationStatus;
  if (showOutput && event.Result !== undefined) out.Result = parseJsonText(event.Result);
  // An external event's payload, under showHistoryOutput as the extension shows it.
  if (showOutput && event.EventType === EventType.EventRaised) out.Input = parseJsonText(event.Input);
  return out;
}
