/**
 * What the rollout workflow needs from the Provider's runtime (lib/app/runtime.ts builds it once per
 * process): what a deployment needs, since each tenant's deployment starts as any other, and the rollout
 * store.
 */
import type { DeploymentDeps } from "../deployments/deps";
import type { RolloutStore } from "./store";

export interface RolloutDeps extends DeploymentDeps {
  rollouts: RolloutStore;
}
