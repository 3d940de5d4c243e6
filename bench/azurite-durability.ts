/**
 * Benchmark: what write-through costs Azurite's Table service (dev/azurite.ts) against Azurite's own 5 s
 * autosave, for a small database and one of about 7 MB (5,000 entities of 1 KB): upserts per second one
 * at a time and with 20 in flight. Every save rewrites the whole database, so the cost grows with it.
 * Writes bench/results/azurite-durability.md. Run: `npm run bench:azurite`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TableClient } from "@azure/data-tables";
import { startAzurite } from "../dev/azurite";

interface Result {
  durability: "periodic" | "write-through";
  databaseMiB: number;
  sequential: number;
  concurrent: number;
}

async function run(durability: Result["durability"], preload: number): Promise<Result> {
  const location = fs.mkdtempSync(path.join(os.tmpdir(), "bench-azurite-"));
  const azurite = await startAzurite({ location, durability });
  try {
    const table = TableClient.fromConnectionString(azurite.connectionString, "bench", {
      allowInsecureConnection: true,
    });
    await table.createTable();
    const pad = "x".repeat(1000);
    for (let i = 0; i < preload; i += 100)
      await table.submitTransaction(
        Array.from(
          { length: 100 },
          (_, j) => ["upsert", { partitionKey: `pre${i}`, rowKey: `${j}`, pad }] as const,
        ),
      );
    let started = performance.now();
    for (let i = 0; i < 200; i++) await table.upsertEntity({ partitionKey: "s", rowKey: `${i}`, n: i });
    const sequential = 200 / ((performance.now() - started) / 1000);
    started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < 1000) {
          const i = next++;
          await table.upsertEntity({ partitionKey: "c", rowKey: `${i}`, n: i });
        }
      }),
    );
    const concurrent = 1000 / ((performance.now() - started) / 1000);
    await azurite.stop();
    const databaseMiB = fs.statSync(path.join(location, "__azurite_db_table__.json")).size / 2 ** 20;
    return { durability, databaseMiB, sequential, concurrent };
  } finally {
    await azurite.stop().catch(() => undefined);
    fs.rmSync(location, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const results: Result[] = [];
  for (const preload of [0, 5000])
    for (const durability of ["periodic", "write-through"] as const)
      results.push(await run(durability, preload));
  const lines = [
    "# Azurite write-through benchmark",
    "",
    `- date: ${new Date().toISOString()}`,
    `- machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "unknown"}), ${process.platform}, load average ${os.loadavg()[0]?.toFixed(2)} at the end`,
    `- node: ${process.version}; Azurite in this process, data in ${os.tmpdir()}`,
    "- command: `npm run bench:azurite`",
    "- workload: 200 upserts one at a time, then 1,000 with 20 in flight, into a new table; the database file size is measured after a clean stop",
    "",
    "| saves | database MiB | upserts/s, one at a time | upserts/s, 20 in flight |",
    "| --- | --- | --- | --- |",
    ...results.map(
      (r) =>
        `| ${r.durability === "periodic" ? "Azurite's 5 s autosave" : "write-through"} | ${r.databaseMiB.toFixed(1)} | ${Math.round(r.sequential)} | ${Math.round(r.concurrent)} |`,
    ),
    "",
  ];
  const file = path.join(__dirname, "..", "..", "bench", "results", "azurite-durability.md");
  fs.writeFileSync(file, lines.join("\n"));
  console.log(lines.join("\n"));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
