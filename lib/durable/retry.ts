/**
 * The one retry policy for activities that read or write the Provider's tables (the deployment ledger,
 * the rollout store): a Table Storage hiccup is ridden out (eight attempts, 1 s doubling up to 30 s, about
 * a minute and a half in all) instead of failing the orchestration. Bounded by attempts only: a retry
 * timeout makes DTFx stop without the retry timer the SDK waits for (docs/durable-engine.md).
 *
 * Part of the recorded histories: the attempts and their timers are what in-flight instances replay.
 */
import { RetryOptions } from "durable-functions";

export const STORAGE_RETRY: RetryOptions = Object.assign(new RetryOptions(1000, 8), {
  backoffCoefficient: 2,
  maxRetryIntervalInMilliseconds: 30_000,
});
