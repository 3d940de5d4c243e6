/**
 * The benchmarks' calibration of the machine, taken in the same run as their figures (these shared
 * machines vary 2x from day to day): dev/calibration.ts (hashing, fdatasync), Azurite's upserts per
 * second with 8 in flight on a fresh instance, and `npm run bench:durable -- 500 10`. Shared by
 * bench/rollout.ts and bench/long-deployment.ts; BENCH_CALIBRATE=0 skips it (quick experiments only).
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { TableClient } from "@azure/data-tables";
import { calibrate } from "../dev/calibration";
import { forEachLimited } from "../lib/concurrency/limited";
import { startBenchChild } from "./children";

export interface Calibration {
  sha256MiBps: number;
  fsyncMs: number;
  azuriteUpsertsPerSecond8: number;
  durable: {
    instances: number;
    inFlight: number;
    orchestrationsPerSecond: number;
    p50Ms: number;
    p99Ms: number;
  };
}

/** Azurite's upserts per second with 8 in flight, on a fresh instance (how fast this machine's storage is). */
async function azuriteUpserts(): Promise<number> {
  const azurite = await startBenchChild("azurite-child.js");
  try {
    const table = TableClient.fromConnectionString(azurite.value, "calibration", {
      allowInsecureConnection: true,
    });
    await table.createTable();
    const n = 2000;
    const t0 = performance.now();
    await forEachLimited(
      Array.from({ length: n }, (_, i) => i),
      8,
      (i) =>
        table
          .upsertEntity({ partitionKey: `p${i % 50}`, rowKey: `r${i}`, value: "x".repeat(200) })
          .then(() => undefined),
    );
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await azurite.stop();
  }
}

function durableCalibration(): Calibration["durable"] {
  const run = spawnSync(process.execPath, [path.join(__dirname, "durable.js"), "500", "10"], {
    encoding: "utf8",
  });
  if (run.status !== 0) throw new Error(`bench/durable.js failed: ${run.stderr}`);
  return JSON.parse(run.stdout.slice(run.stdout.indexOf("{"))) as Calibration["durable"];
}

/** The whole calibration, or NaNs when BENCH_CALIBRATE=0. */
export async function benchCalibration(): Promise<Calibration> {
  if (process.env.BENCH_CALIBRATE === "0")
    return {
      sha256MiBps: NaN,
      fsyncMs: NaN,
      azuriteUpsertsPerSecond8: NaN,
      durable: { instances: 0, inFlight: 0, orchestrationsPerSecond: NaN, p50Ms: NaN, p99Ms: NaN },
    };
  return { ...calibrate(), azuriteUpsertsPerSecond8: await azuriteUpserts(), durable: durableCalibration() };
}
