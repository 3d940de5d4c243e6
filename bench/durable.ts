/**
 * Benchmark: orchestrations per second for a three-activity sequence with state in Azurite, and the
 * p50/p99 start-to-completion latency. Instances are started through a real DurableClient over HTTP;
 * completion is taken from the engine's completion log line (no status polling load).
 * Usage: npm run bench:durable -- [instances=500] [concurrency=50]
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { startAzurite } from "../dev/azurite";
import { FunctionRegistry, captureRegistrations } from "../dev/host/functions-core";
import { createDurableEngine, type DurableEngine } from "../dev/durable/engine";
import { durableClientFor } from "../dev/durable/client";

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 500);
  const inFlightLimit = Number(process.argv[3] ?? 50);
  const registry = new FunctionRegistry();
  captureRegistrations(registry, () => {
    df.app.activity("BenchStep", { handler: (s: string) => `${s}.` });
    df.app.orchestration("BenchSequence", function* (ctx: OrchestrationContext) {
      let s: string = ctx.df.getInput<string>();
      for (let i = 0; i < 3; i++) s = yield ctx.df.callActivity("BenchStep", s);
      return s;
    });
  });
  const azurite = await startAzurite();
  const started = new Map<string, number>();
  const latencies: number[] = [];
  let done!: () => void;
  const allDone = new Promise<void>((resolve) => (done = resolve));
  const ref: { engine?: DurableEngine } = {};
  const server = http.createServer((req, res) => {
    void (ref.engine as DurableEngine).handleHttp(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.WEBSITE_HOSTNAME = new URL(baseUrl).host;
  const engine = createDurableEngine({
    registry,
    storageConnectionString: azurite.connectionString,
    hubName: "BenchHub",
    baseUrl,
    maxConcurrentActivities: 20,
    maxConcurrentOrchestrations: 20,
    log: (_level, message, props) => {
      const id = props?.instanceId as string | undefined;
      if (id && message.endsWith(" Completed") && started.has(id)) {
        latencies.push(performance.now() - (started.get(id) as number));
        if (latencies.length === total) done();
      } else if (message.includes(" Failed")) console.error(message);
    },
  });
  ref.engine = engine;
  await engine.start();
  const client = durableClientFor(engine);
  const t0 = performance.now();
  let next = 0;
  let completedSeen = 0;
  // Keep at most inFlightLimit instances open, as a steady stream of requests would.
  await Promise.all(
    Array.from({ length: inFlightLimit }, async () => {
      while (next < total) {
        const i = next++;
        const id = `bench-${i}`;
        started.set(id, performance.now());
        await client.startNew("BenchSequence", { instanceId: id, input: "s" });
        while (latencies.length + inFlightLimit <= i && completedSeen < total)
          await new Promise((r) => setTimeout(r, 1));
      }
    }),
  );
  await allDone;
  completedSeen = total;
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  console.log(
    JSON.stringify(
      {
        instances: total,
        inFlight: inFlightLimit,
        seconds: Number(elapsed.toFixed(2)),
        orchestrationsPerSecond: Number((total / elapsed).toFixed(1)),
        p50Ms: Number(pct(50).toFixed(1)),
        p99Ms: Number(pct(99).toFixed(1)),
        cpus: os.cpus().length,
        node: process.version,
      },
      null,
      2,
    ),
  );
  await engine.stop();
  await new Promise((resolve) => server.close(resolve));
  server.closeAllConnections();
  await azurite.stop();
}

void main();
