/**
 * Loads a Functions v4 Node app from its folder the way the Functions host does: `local.settings.json`
 * Values into the environment (never overwriting what is already set), `host.json` settings, and the
 * modules named by `package.json` `main` (a file or glob patterns), capturing their registrations.
 */
import fs from "node:fs";
import path from "node:path";
import { globSync } from "tinyglobby";
import { captureRegistrations, FunctionRegistry } from "./functions-core";
import type { DurableVersioning } from "./durable-contract";
import { resolveSetting } from "./settings";

export class AppLoadError extends Error {
  constructor(
    readonly appDir: string,
    message: string,
  ) {
    super(`Cannot load the Function App in ${appDir}: ${message}`);
    this.name = "AppLoadError";
  }
}

export interface HostJson {
  routePrefix: string;
  hubName: string;
  /** `extensions.durableTask.maxConcurrentActivityFunctions` / `maxConcurrentOrchestratorFunctions`. */
  maxConcurrentActivities?: number;
  maxConcurrentOrchestrations?: number;
  /** `extensions.durableTask` `defaultVersion`, `versionMatchStrategy`, `versionFailureStrategy`. */
  versioning: DurableVersioning;
}

/** `{ [key]: value }` when value is a positive integer, else nothing (the engine's default applies). */
function optionalField(key: string, value: unknown): Record<string, number> {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? { [key]: value } : {};
}

export interface LoadedApp {
  dir: string;
  registry: FunctionRegistry;
  host: HostJson;
  /** Files required, in order. */
  entryFiles: string[];
}

function readJson(file: string, appDir: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new AppLoadError(appDir, `${path.basename(file)} is not valid JSON (${(error as Error).message})`);
  }
}

/** Applies local.settings.json `Values`; variables already in the environment win, as with `func start`. */
export function applyLocalSettings(appDir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const settings = readJson(path.join(appDir, "local.settings.json"), appDir);
  const values = (settings?.Values ?? {}) as Record<string, unknown>;
  const applied: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (env[key] === undefined) {
      env[key] = String(value);
      applied.push(key);
    }
  }
  return applied;
}

/**
 * `extensions.durableTask.hubName` may name an app setting (`%AGENT_TASK_HUB%`), as the Durable extension
 * allows, so one app package can run against several task hubs (one per simulated customer locally).
 */
export function readHostJson(appDir: string, env: NodeJS.ProcessEnv = process.env): HostJson {
  const json = readJson(path.join(appDir, "host.json"), appDir) ?? {};
  const extensions = (json.extensions ?? {}) as Record<string, Record<string, unknown>>;
  const prefix = extensions.http?.routePrefix;
  const hub = extensions.durableTask?.hubName;
  let hubName = "TestHubName";
  if (typeof hub === "string" && hub.length > 0) {
    try {
      hubName = resolveSetting(hub, env);
    } catch (error) {
      throw new AppLoadError(appDir, `host.json durableTask.hubName: ${(error as Error).message}`);
    }
  }
  return {
    routePrefix: typeof prefix === "string" ? prefix.replace(/^\/+|\/+$/g, "") : "api",
    hubName,
    versioning: readVersioning(appDir, extensions.durableTask ?? {}),
    ...optionalField("maxConcurrentActivities", extensions.durableTask?.maxConcurrentActivityFunctions),
    ...optionalField(
      "maxConcurrentOrchestrations",
      extensions.durableTask?.maxConcurrentOrchestratorFunctions,
    ),
  };
}

/** The extension's defaults: no default version, `CurrentOrOlder`, `Reject`; names are case-insensitive. */
function readVersioning(appDir: string, durableTask: Record<string, unknown>): DurableVersioning {
  const pick = <T extends string>(key: string, allowed: readonly T[], fallback: T): T => {
    const value = durableTask[key];
    if (value === undefined) return fallback;
    const found = allowed.find((a) => typeof value === "string" && a.toLowerCase() === value.toLowerCase());
    if (!found)
      throw new AppLoadError(
        appDir,
        `host.json durableTask.${key} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
      );
    return found;
  };
  const version = durableTask.defaultVersion;
  if (version !== undefined && typeof version !== "string")
    throw new AppLoadError(appDir, "host.json durableTask.defaultVersion must be a string");
  return {
    ...(version ? { defaultVersion: version } : {}),
    versionMatchStrategy: pick(
      "versionMatchStrategy",
      ["None", "Strict", "CurrentOrOlder"],
      "CurrentOrOlder",
    ),
    versionFailureStrategy: pick("versionFailureStrategy", ["Reject", "Fail"], "Reject"),
  };
}

export function resolveEntryFiles(appDir: string): string[] {
  const pkg = readJson(path.join(appDir, "package.json"), appDir);
  if (!pkg) throw new AppLoadError(appDir, "package.json is missing");
  const main = pkg.main;
  const patterns = Array.isArray(main) ? main.map(String) : typeof main === "string" ? [main] : ["index.js"];
  const files = globSync(patterns, { cwd: appDir, absolute: true, onlyFiles: true }).sort();
  if (files.length === 0) {
    throw new AppLoadError(
      appDir,
      `package.json "main" (${patterns.join(", ")}) matches no file; build the app first`,
    );
  }
  return files;
}

export function loadApp(appDir: string): LoadedApp {
  const dir = path.resolve(appDir);
  applyLocalSettings(dir);
  const host = readHostJson(dir);
  const entryFiles = resolveEntryFiles(dir);
  const registry = new FunctionRegistry();
  // Registrations happen at module load: a second load of the same app must run its modules again.
  for (const cached of Object.keys(require.cache)) {
    if (cached.startsWith(dir + path.sep) && !cached.includes(`${path.sep}node_modules${path.sep}`))
      delete require.cache[cached];
  }
  captureRegistrations(registry, () => {
    for (const file of entryFiles) {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading the app is a dynamic require by nature
        require(file);
      } catch (error) {
        throw new AppLoadError(
          dir,
          `${path.relative(dir, file)} failed to load: ${(error as Error).message}`,
        );
      }
    }
  });
  return { dir, registry, host, entryFiles };
}
