/**
 * The Functions dev host: runs any `@azure/functions` v4 + `durable-functions` v3 Node app without Core
 * Tools. It loads the app, serves HTTP triggers and the Durable management API on one port, runs timer
 * and Service Bus triggers, and hosts orchestrations and activities through the durable engine.
 */
import http, { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { loadApp, LoadedApp } from "./app";
import { consoleLogSettings, formatLogLine, levelEnabled } from "../product";
import { DurableEngine, loadDurableEngineFactory } from "./durable-contract";
import { HttpDispatcher } from "./http";
import type { HostLog } from "./invoke";
import { startServiceBusTrigger, ServiceBusTriggerHandle } from "./servicebus";
import { startTimer, TimerHandle } from "./timer";

/** The WEBSITE_HOSTNAME this module chose (never one the user set). */
let hostNameSetHere: string | undefined;
/** Whether WEBSITE_AUTH_ENABLED in the environment is this module's (App Service Authentication emulated). */
let authEnabledSetHere = false;
export interface HostOptions {
  appDir: string;
  /** 7071 like `func start`; 0 picks a free port. */
  port?: number;
  host?: string;
  /** Extra app settings, applied before the app loads (they win over local.settings.json). */
  settings?: Record<string, string>;
  log?: HostLog;
  quiet?: boolean;
  /**
   * Durable time skipping (docs/durable-engine.md): timers fire as soon as nothing else can run. Also
   * on when the app setting `DURABLE_TIME_SKIPPING` is `true` or `1`.
   */
  timeSkipping?: boolean;
  /**
   * Emulate App Service Authentication as far as the app can see it: set `WEBSITE_AUTH_ENABLED=True`, as
   * App Service does when it is on, and pass on the `x-ms-client-principal` header a caller sends (no token
   * is validated: the caller is trusted). Also on when the app setting `DEV_EMULATE_APP_SERVICE_AUTH` is
   * `true` or `1`. Off, the host removes `WEBSITE_AUTH_ENABLED`, whoever set it, so an app with role checks
   * on behaves as in Azure without App Service Authentication (the Provider answers 503).
   */
  emulateAppServiceAuth?: boolean;
}

export interface RunningHost {
  url: string;
  app: LoadedApp;
  functions: { name: string; trigger: string; url?: string }[];
  durable?: DurableEngine;
  /** Function executions so far, by function name (see `HostStats`). */
  stats(): HostStats;
  stop(): Promise<void>;
}

/**
 * Executions per function, whatever ran them: HTTP, timer and Service Bus triggers, and the durable
 * engine's orchestrator episodes (each replay is one execution, as Azure bills it) and activities.
 */
export interface HostStats {
  functions: Record<string, { trigger: string; executions: number }>;
  total: number;
}

/** Wraps every handler with a counter, so each path that runs functions is counted in one place. */
function countExecutions(app: LoadedApp): () => HostStats {
  const counters = app.registry.list().map((f) => {
    const counter = { name: f.name, trigger: f.trigger.type, executions: 0 };
    const handler = f.handler;
    f.handler = (...args: unknown[]) => {
      counter.executions++;
      return handler(...args);
    };
    return counter;
  });
  return () => {
    const functions: HostStats["functions"] = {};
    let total = 0;
    for (const c of counters) {
      functions[c.name] = { trigger: c.trigger, executions: c.executions };
      total += c.executions;
    }
    return { functions, total };
  };
}

const DURABLE_TRIGGERS = new Set(["orchestrationtrigger", "activitytrigger", "entitytrigger"]);

/**
 * The host's console: `LOG_LEVEL` filters (default info: warnings, errors and what the app logs at info;
 * each invocation's `Executed` line is debug), `LOG_FORMAT` picks a readable line (default) or JSON.
 */
export const consoleLog: HostLog = (level, message, props) => {
  const settings = consoleLogSettings();
  if (!levelEnabled(level, settings.level)) return;
  const line = formatLogLine({ time: new Date().toISOString(), level, message, ...props }, settings.format);
  if (level === "error") console.error(line);
  else console.log(line);
};

/**
 * After local.settings.json is loaded (it may ask for emulation), before any app code runs: the platform,
 * not the app's settings, says whether App Service Authentication is on, so the host owns the variable.
 */
function emulateAppServiceAuth(option: boolean | undefined, log: HostLog): void {
  const on = option ?? ["true", "1"].includes((process.env.DEV_EMULATE_APP_SERVICE_AUTH ?? "").toLowerCase());
  if (on) {
    process.env.WEBSITE_AUTH_ENABLED = "True";
    authEnabledSetHere = true;
    log(
      "warn",
      "App Service Authentication is emulated: the x-ms-client-principal header a caller sends is trusted as is",
    );
    return;
  }
  if (process.env.WEBSITE_AUTH_ENABLED !== undefined && !authEnabledSetHere)
    log(
      "warn",
      "WEBSITE_AUTH_ENABLED is removed: only App Service sets it; ask the dev host to emulate App Service Authentication instead (--emulate-app-service-auth)",
    );
  delete process.env.WEBSITE_AUTH_ENABLED;
  authEnabledSetHere = false;
}

export async function startHost(options: HostOptions): Promise<RunningHost> {
  const log = options.log ?? consoleLog;
  for (const [k, v] of Object.entries(options.settings ?? {})) process.env[k] = v;
  const app = loadApp(options.appDir);
  emulateAppServiceAuth(options.emulateAppServiceAuth, log);
  const stats = countExecutions(app);
  const functions = app.registry.list();
  const usesDurable = functions.some(
    (f) =>
      DURABLE_TRIGGERS.has(f.trigger.type.toLowerCase()) ||
      Object.values(f.bindings).some((b) => b.type === "durableClient" || b.type === "orchestrationClient"),
  );

  let durable: DurableEngine | undefined;
  let dispatcher: HttpDispatcher | undefined;
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      try {
        if (durable && (await durable.handleHttp(req, res))) return;
        if (dispatcher && (await dispatcher.handle(req, res, baseUrl))) return;
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: `No function serves ${req.method} ${req.url}.` }));
      } catch (error) {
        log("error", "dev host: request failed", { error: String(error), url: req.url });
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "Internal error in the dev host." }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 7071, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://localhost:${port}`;
  // The durable SDK rewrites status URLs to localhost:7071 unless the site's host name is known. An empty
  // value counts as unset, and a value this module set for an earlier host in the process is replaced.
  if (!process.env.WEBSITE_HOSTNAME || process.env.WEBSITE_HOSTNAME === hostNameSetHere) {
    hostNameSetHere = `localhost:${port}`;
    process.env.WEBSITE_HOSTNAME = hostNameSetHere;
  }

  const timers: TimerHandle[] = [];
  const serviceBus: ServiceBusTriggerHandle[] = [];
  let stopped = false;
  /** The app hooks' hookData: shared from appStart to appTerminate, as the worker does. */
  const appHookData: Record<string, unknown> = {};
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    for (const t of timers) t.stop();
    // The durable engine stops dispatching first, so nothing new starts; then, like the worker on a
    // graceful shutdown, appTerminate lets the app end long waits (e.g. a receive) so in-flight
    // invocations finish now instead of at the drain deadline.
    const durableStopped = durable?.stop();
    await runHooks(app.registry.hooks, "appTerminate", log, appHookData);
    await Promise.all(serviceBus.map((s) => s.stop().catch(() => undefined)));
    await durableStopped;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };

  try {
    await runHooks(app.registry.hooks, "appStart", log, appHookData, { functionAppDirectory: app.dir });
    if (usesDurable) {
      const storage = process.env.AzureWebJobsStorage;
      if (!storage)
        throw new Error("Durable functions need the app setting AzureWebJobsStorage (Azurite locally).");
      const timeSkipping =
        options.timeSkipping ??
        ["true", "1"].includes((process.env.DURABLE_TIME_SKIPPING ?? "").toLowerCase());
      durable = loadDurableEngineFactory()({
        registry: app.registry,
        storageConnectionString: storage,
        hubName: app.host.hubName,
        baseUrl,
        log,
        maxConcurrentActivities: app.host.maxConcurrentActivities,
        maxConcurrentOrchestrations: app.host.maxConcurrentOrchestrations,
        timeSkipping,
        versioning: app.host.versioning,
      });
      if (timeSkipping)
        log(
          "warn",
          "Durable time skipping is on: timers fire as soon as no orchestration or activity can run",
        );
      await durable.start();
    }
    const inputsByType: Record<string, () => unknown> = durable
      ? {
          durableClient: () => durable!.clientBindingData(),
          orchestrationClient: () => durable!.clientBindingData(),
        }
      : {};
    dispatcher = new HttpDispatcher(
      app.registry.byTriggerType("httpTrigger"),
      app.host.routePrefix,
      {
        functionKeys: [process.env.FUNCTIONS_FUNCTION_KEY].filter((k): k is string => !!k),
        masterKey: process.env.FUNCTIONS_MASTER_KEY || undefined,
      },
      log,
      inputsByType,
    );
    for (const fn of app.registry.byTriggerType("timerTrigger"))
      timers.push(startTimer(fn, log, inputsByType));
    for (const fn of app.registry.byTriggerType("serviceBusTrigger"))
      serviceBus.push(startServiceBusTrigger(fn, log, inputsByType));
    const unsupported = functions.filter(
      (f) =>
        !["httptrigger", "timertrigger", "servicebustrigger", ...DURABLE_TRIGGERS].includes(
          f.trigger.type.toLowerCase(),
        ),
    );
    for (const f of unsupported)
      log("warn", `Function '${f.name}' has an unsupported trigger '${f.trigger.type}'; it will not run.`);
  } catch (error) {
    await stopAll();
    throw error;
  }

  const httpUrls = new Map(dispatcher.urls(baseUrl).map((u) => [u.name, u]));
  const listing = functions.map((f) => ({
    name: f.name,
    trigger: f.trigger.type,
    url: httpUrls.get(f.name)?.url,
  }));
  if (!options.quiet) {
    console.log(`\nFunctions in ${app.dir}:\n`);
    for (const f of listing) {
      const methods = httpUrls.get(f.name)?.methods.join(",");
      console.log(f.url ? `  ${f.name}: [${methods}] ${f.url}` : `  ${f.name}: ${f.trigger}`);
    }
    console.log(`\nHost listening on ${baseUrl}\n`);
  }
  return { url: baseUrl, app, functions: listing, durable, stats, stop: stopAll };
}

/** Runs an app's lifecycle hooks (`app.hook.appStart` / `appTerminate`) in registration order. */
async function runHooks(
  hooks: { name: string; callback: (...args: unknown[]) => unknown }[],
  name: "appStart" | "appTerminate",
  log: HostLog,
  appHookData: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  for (const hook of hooks.filter((h) => h.name === name)) {
    try {
      await hook.callback({ hookData: appHookData, ...extra });
    } catch (error) {
      log("error", `The ${name} hook failed: ${error instanceof Error ? error.message : String(error)}`);
      if (name === "appStart") throw error;
    }
  }
}
