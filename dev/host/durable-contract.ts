/**
 * The contract between the dev host and the durable engine (`dev/durable/engine.ts`, split by job: see docs/durable-engine.md). The host creates
 * the engine when the app registers durable functions or a durable client input, routes HTTP to it first,
 * and fills `durableClient` inputs with `clientBindingData()`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "../durable/clock";
import type { FunctionRegistry } from "./functions-core";

export interface DurableEngineOptions {
  registry: FunctionRegistry;
  storageConnectionString: string;
  hubName: string;
  baseUrl: string;
  log?: (
    level: "debug" | "info" | "warn" | "error",
    message: string,
    props?: Record<string, unknown>,
  ) => void;
  maxConcurrentActivities?: number;
  maxConcurrentOrchestrations?: number;
  /** The engine's time source (default: the wall clock); tests may pass a `VirtualClock`. */
  clock?: Clock;
  /**
   * Time skipping: timers fire as soon as nothing else can run (no episode, activity or delivery in
   * flight), on a virtual clock that jumps ahead; a two-day wait finishes in milliseconds.
   */
  timeSkipping?: boolean;
  /** Orchestration versioning as host.json `extensions.durableTask` declares it (dev/host/app.ts). */
  versioning?: DurableVersioning;
  /**
   * The longest timer the backend stores as one timer, in ms; a longer one is split into pieces of
   * `longRunningTimerIntervalMs`. Default: the Azure Storage backend's 6 days and 3 days (the extension's
   * `MaximumDelayTime` and `LongRunningTimerIntervalLength`, which it announces to the SDK as
   * `maximumShortTimerDuration` / `longRunningTimerIntervalDuration`; host.json has no setting for them).
   */
  maximumShortTimerMs?: number;
  longRunningTimerIntervalMs?: number;
}

/**
 * The Durable extension's versioning settings: `defaultVersion` is given to every new orchestration
 * (sub-orchestrations too); an episode of an instance whose version does not match (`Strict`: equal,
 * `CurrentOrOlder`: not newer, `None`: any) is left for a worker that matches (`Reject`) or fails the
 * instance (`Fail`).
 */
export interface DurableVersioning {
  defaultVersion?: string;
  versionMatchStrategy: "None" | "Strict" | "CurrentOrOlder";
  versionFailureStrategy: "Reject" | "Fail";
}

export interface DurableEngine {
  start(): Promise<void>;
  stop(): Promise<void>;
  handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  clientBindingData(): unknown;
}

export type CreateDurableEngine = (options: DurableEngineOptions) => DurableEngine;

/** Loads the engine lazily so apps without durable functions never pay for it. */
export function loadDurableEngineFactory(): CreateDurableEngine {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require("../durable/engine") as { createDurableEngine?: CreateDurableEngine };
  if (typeof mod.createDurableEngine !== "function")
    throw new Error("dev/durable/engine does not export createDurableEngine");
  return mod.createDurableEngine;
}
