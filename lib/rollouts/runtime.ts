/** The rollout store of a Provider runtime: one per runtime, made on first use. */
import type { ProviderRuntime } from "../deployments/runtime";
import { createTableClient } from "../storage/tables";
import { ROLLOUTS_TABLE, RolloutStore } from "./store";

const stores = new WeakMap<ProviderRuntime, RolloutStore>();

export function rolloutStore(rt: ProviderRuntime): RolloutStore {
  let store = stores.get(rt);
  if (!store) {
    store = new RolloutStore(createTableClient(rt.settings.storage, ROLLOUTS_TABLE));
    stores.set(rt, store);
  }
  return store;
}
