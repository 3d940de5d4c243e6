/**
 * Records, for the replay test, the histories of the app's orchestrations that the orchestration tests
 * run on the durable harness. Off unless `HISTORIES_RECORD=1` (set by `npm run histories:record`), so
 * the tests themselves are unchanged.
 *
 * `recordHistories(h, app, orchestrators)`, called once the harness runs, returns an `afterEach` hook: the
 * instances of the named orchestrators that finished during the test are written, as the engine stored them, to
 * `histories/<version>/<orchestrator>/<test name>[-n].json`. The engine keeps only an instance's last
 * execution, so an execution that continues as new is captured from the last history the engine handed
 * the SDK for it (`…-execution-<k>.json`; the first and the last of an instance, the others repeat them).
 * `skip` names tests whose histories are too large to keep (scale tests whose paths others cover).
 */
import fs from "node:fs";
import path from "node:path";
import { DurableStore } from "../../dev/durable/store";
import { ActionType, flatten, type SdkAction, type SdkState } from "../../dev/durable/protocol";
import type { HistoryEvent } from "../../dev/durable/history";
import type { Harness } from "../dev/durable/harness";
import { HISTORIES_DIR, declaredVersion, slug, type AppName, type RecordedHistory } from "./histories";

interface Trigger {
  history: HistoryEvent[];
  input: unknown;
  instanceId: string;
  parentInstanceId?: string;
}

export function recordHistories(
  h: Harness,
  app: AppName,
  orchestrators: string[],
  skip?: RegExp,
): (t: { name: string }) => Promise<void> {
  if (process.env.HISTORIES_RECORD !== "1") return async () => {};
  const version = declaredVersion(app);
  const seen = new Set<string>();
  const continued: RecordedHistory[] = [];
  const written = new Map<string, number>();

  const write = (testName: string, recorded: RecordedHistory, suffix = "") => {
    const dir = path.join(HISTORIES_DIR, version, recorded.orchestrator);
    const base = slug(testName) + suffix;
    const n = (written.get(`${dir}/${base}`) ?? 0) + 1;
    written.set(`${dir}/${base}`, n);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${base}${n > 1 ? `-${n}` : ""}.json`);
    fs.writeFileSync(file, JSON.stringify(recorded, null, 1) + "\n");
  };

  for (const name of orchestrators) {
    const f = h.registry.get(name);
    if (!f) throw new Error(`recordHistories: no orchestrator '${name}' is registered`);
    const handler = f.handler;
    f.handler = async (trigger: unknown, context: unknown) => {
      const state = (await handler(trigger as never, context as never)) as SdkState;
      const next = flatten(state.actions ?? []).find(
        (a: SdkAction) => a.actionType === ActionType.ContinueAsNew,
      );
      const tr = trigger as Trigger;
      if (state.isDone && next)
        continued.push({
          orchestrator: f.name,
          instanceId: tr.instanceId,
          ...(tr.parentInstanceId ? { parentInstanceId: tr.parentInstanceId } : {}),
          runtimeStatus: "ContinuedAsNew",
          ...(tr.input !== undefined ? { input: JSON.stringify(tr.input) } : {}),
          output: JSON.stringify(next.input ?? null),
          history: tr.history.map((e) => {
            const { IsPlayed: _played, ...rest } = e as HistoryEvent & { IsPlayed?: boolean };
            return rest as HistoryEvent;
          }),
        });
      return state;
    };
  }

  return async (t) => {
    const skipping = skip?.test(t.name) ?? false;
    const store = new DurableStore(h.azurite.connectionString, "DurableDevTestHubName");
    const { records } = await store.queryInstances({});
    for (const rec of records) {
      if (seen.has(rec.instanceId) || !orchestrators.includes(rec.name)) continue;
      seen.add(rec.instanceId);
      // Still running after its test: it would end in another test's name, so it is left out.
      if (["Pending", "Running", "Suspended"].includes(rec.runtimeStatus)) continue;
      if (skipping) continue;
      const loaded = await store.loadInstance(rec.instanceId);
      if (!loaded) continue;
      const executions = continued.filter((c) => c.instanceId === rec.instanceId);
      const kept = executions.length > 2 ? [executions[0], executions[executions.length - 1]] : executions;
      for (const [k, c] of kept.entries()) write(t.name, c, `-execution-${k + 1}`);
      write(t.name, {
        orchestrator: rec.name,
        instanceId: rec.instanceId,
        ...(rec.parent ? { parentInstanceId: rec.parent.instanceId } : {}),
        runtimeStatus: rec.runtimeStatus,
        ...(rec.input !== undefined ? { input: rec.input } : {}),
        ...(rec.output !== undefined ? { output: rec.output } : {}),
        history: loaded.history,
      });
    }
    continued.length = 0;
  };
}
