/**
 * Test harness: an in-memory Azurite, the engine over the given app registrations, a plain HTTP server
 * that only serves the engine's routes, and a real `DurableClient` built from the engine's binding data.
 */
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import * as df from "durable-functions";
import { startAzurite, type RunningAzurite } from "../../../dev/azurite";
import { durableClientFor } from "../../../dev/durable/client";
import { readHostJson } from "../../../dev/host/app";
import type { DurableVersioning } from "../../../dev/host/durable-contract";
import { FunctionRegistry, captureRegistrations } from "../../../dev/host/functions-core";
import {
  createDurableEngine,
  type DurableEngine,
  type DurableEngineOptions,
} from "../../../dev/durable/engine";

export interface Harness {
  registry: FunctionRegistry;
  engine: DurableEngine;
  client: df.DurableClient;
  baseUrl: string;
  azurite: RunningAzurite;
  logs: string[];
  /** Replaces the engine with a new one on the same storage (simulates a host restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** An app's host.json versioning (`provider`: the repository root; `customer`: the agent app). */
export function appVersioning(app: "provider" | "customer"): DurableVersioning {
  const root = path.join(__dirname, "..", "..", "..", "..");
  const dir = app === "provider" ? root : path.join(root, "customer");
  return readHostJson(dir, { AGENT_TASK_HUB: "AgentTest" }).versioning;
}

export async function startHarness(
  register: () => void,
  options: Partial<DurableEngineOptions> & { azurite?: RunningAzurite } = {},
): Promise<Harness> {
  const registry = new FunctionRegistry();
  captureRegistrations(registry, register);
  const azurite = options.azurite ?? (await startAzurite());
  const logs: string[] = [];
  let engine: DurableEngine;
  const server = http.createServer((req, res) => {
    engine.handleHttp(req, res).then(
      (handled) => {
        if (!handled) res.writeHead(404).end();
      },
      (e: Error) => res.writeHead(500).end(e.message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.WEBSITE_HOSTNAME = new URL(baseUrl).host;
  const make = () =>
    createDurableEngine({
      registry,
      storageConnectionString: azurite.connectionString,
      hubName: "TestHubName",
      baseUrl,
      log: (level, message) => logs.push(`${level}: ${message}`),
      ...options,
    });
  engine = make();
  await engine.start();
  const h: Harness = {
    registry,
    engine,
    baseUrl,
    azurite,
    logs,
    client: clientFor(engine),
    async restart() {
      await engine.stop();
      engine = make();
      h.engine = engine;
      h.client = clientFor(engine);
      await engine.start();
    },
    async close() {
      await engine.stop();
      await new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      if (!options.azurite) await azurite.stop();
    },
  };
  return h;
}

export const clientFor = durableClientFor;

/** Polls the status until it leaves Pending/Running (or the predicate holds). */
export async function waitFor(
  client: df.DurableClient,
  instanceId: string,
  done?: (s: df.DurableOrchestrationStatus) => boolean,
  timeoutMs = 30_000,
): Promise<df.DurableOrchestrationStatus> {
  const until = Date.now() + timeoutMs;
  const withHistory = { showHistory: true, showHistoryOutput: true };
  for (;;) {
    // Waiting for the end needs no history until it comes: a long history read every 20 ms would cost the
    // engine under test more than its own work (a day of virtual time is hundreds of episodes).
    const s = await client.getStatus(instanceId, done ? withHistory : {});
    if (done ? done(s) : !["Pending", "Running", "Suspended"].includes(String(s.runtimeStatus)))
      return done ? s : client.getStatus(instanceId, withHistory);
    if (Date.now() > until) throw new Error(`timed out waiting for ${instanceId}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
