/**
 * Rewinding a Failed instance as the Azure Storage backend does (DTFx AzureTableTrackingStore
 * RewindHistoryAsync, then RewindTaskOrchestrationAsync; docs/durable-engine.md, conformance): the
 * failures in the history are cleared, the instance goes back to Pending, and only an instance without
 * failed children is revived at once; a parent resumes when its rewound child's result comes.
 */
import type { Clock } from "./clock";
import { activityItem, newInboxItem, type Episodes, type LiveInstance } from "./episode";
import { EventType, newEvent, type HistoryEvent } from "./history";
import type { Log } from "./protocol";
import { historyRowKey, inboxToEntity, type Op } from "./store";

/** What a rewind changed in a failed execution's history. */
export interface Rewound {
  /** Indexes of the events turned into GenericEvents. */
  cleared: number[];
  /** The failed activities, to schedule again under their ids. */
  reruns: { id: number; name: string; input: string }[];
  /** Instance ids of the failed sub-orchestrations, to rewind in turn. */
  children: string[];
}

/**
 * Clears a failed execution's failures as DTFx's RewindHistoryAsync does (in place): every TaskFailed
 * with its TaskScheduled, every SubOrchestrationInstanceFailed and the failed ExecutionCompleted become
 * GenericEvents, which replay ignores; a failed sub-orchestration's SubOrchestrationInstanceCreated stays.
 */
export function rewindHistory(history: HistoryEvent[]): Rewound {
  const out: Rewound = { cleared: [], reruns: [], children: [] };
  const failedTasks = new Set<number>();
  const clear = (i: number, what: string) => {
    const e = history[i];
    history[i] = newEvent(
      EventType.GenericEvent,
      { EventId: e.EventId, Reason: `Rewound: ${what}` },
      new Date(e.Timestamp),
    );
    out.cleared.push(i);
  };
  for (const [i, e] of history.entries()) {
    if (e.EventType === EventType.TaskFailed) {
      failedTasks.add(Number(e.TaskScheduledId));
      clear(i, "TaskFailed");
    } else if (e.EventType === EventType.SubOrchestrationInstanceFailed) {
      const created = history.find(
        (c) => c.EventType === EventType.SubOrchestrationInstanceCreated && c.EventId === e.TaskScheduledId,
      );
      if (created?.InstanceId) out.children.push(created.InstanceId);
      clear(i, "SubOrchestrationInstanceFailed");
    } else if (e.EventType === EventType.ExecutionCompleted && e.OrchestrationStatus === "Failed")
      clear(i, "ExecutionCompleted");
  }
  for (const [i, e] of history.entries())
    if (e.EventType === EventType.TaskScheduled && failedTasks.has(e.EventId)) {
      out.reruns.push({ id: e.EventId, name: e.Name ?? "", input: e.Input ?? "null" });
      clear(i, "TaskScheduled");
    }
  return out;
}

/**
 * Rewinds one Failed instance and commits it. On Azure the revived replay schedules each failed activity
 * again under its old id (its TaskScheduled is gone); the engine schedules them here, as the SDK's replay
 * does not show them as new actions. Returns the failed children, to rewind in turn.
 */
export async function rewindInstance(
  episodes: Episodes,
  clock: Clock,
  log: Log,
  inst: LiveInstance,
  reason: string,
): Promise<{ children: string[] }> {
  const rec = inst.record;
  const now = () => new Date(clock.now());
  const { cleared, reruns, children } = rewindHistory(inst.history);
  const ops: Op[] = cleared.map((i): Op => [
    "upsert",
    { rowKey: historyRowKey(rec.executionId, i), Event: JSON.stringify(inst.history[i]) },
  ]);
  const activities = reruns.map(({ id, name, input }) => {
    inst.history.push(newEvent(EventType.TaskScheduled, { EventId: id, Name: name, Input: input }, now()));
    return activityItem(rec, id, name, input);
  });
  Object.assign(rec, { runtimeStatus: "Pending", output: undefined, lastUpdatedTime: now().toISOString() });
  if (children.length === 0) {
    const revive = newEvent(EventType.GenericEvent, { Reason: reason }, now());
    const item = newInboxItem(clock, revive, 0, rec.executionId);
    inst.inbox.push(item);
    ops.push(["upsert", inboxToEntity(item)]);
  }
  log("info", `Orchestration ${rec.name} (${rec.instanceId}) rewound: ${reason}`, {
    instanceId: rec.instanceId,
  });
  await episodes.persist(inst, ops, activities, []);
  return { children };
}
