/**
 * A small real process for the supervisor tests. PART_MODE: `steady` (default) runs until stopped;
 * `crash-first` crashes shortly after its ready line on its first PART_CRASHES runs (counted in the file
 * PART_COUNTER), then runs steadily; `crash-always` crashes after every ready line; `ignore-term` ignores
 * SIGTERM (it takes SIGKILL). Prints one line on stdout and one on stderr per run.
 */
import fs from "node:fs";
import { announceReady, stopOnSignals } from "../../../dev/part";

const mode = process.env.PART_MODE ?? "steady";
const counter = process.env.PART_COUNTER;
const run = counter ? Number(fs.existsSync(counter) ? fs.readFileSync(counter, "utf8") : "0") + 1 : 1;
if (counter) fs.writeFileSync(counter, String(run));

console.log(`hello from run ${run}`);
console.error(`a warning from run ${run}`);
const keepAlive = setInterval(() => {}, 1000);
if (mode === "ignore-term") process.on("SIGTERM", () => console.log("ignoring SIGTERM"));
else stopOnSignals(async () => clearInterval(keepAlive));
announceReady({ run, pid: process.pid });
const crash =
  mode === "crash-always" || (mode === "crash-first" && run <= Number(process.env.PART_CRASHES ?? 0));
if (crash) setTimeout(() => process.exit(3), 20);
