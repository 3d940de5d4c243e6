/**
 * A calibration of the machine, taken in the same run as a benchmark's or the chaos suite's figures: these
 * shared machines vary 2x from day to day, so figures are only comparable next to it.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** What the figures depend on: single-core hashing speed and the latency of one append + fdatasync. */
export function calibrate(): { sha256MiBps: number; fsyncMs: number } {
  const chunk = Buffer.alloc(1024 * 1024, 7);
  const cpuStart = process.hrtime.bigint();
  const hash = createHash("sha256");
  for (let i = 0; i < 256; i++) hash.update(chunk);
  hash.digest();
  const sha256MiBps = 256 / (Number(process.hrtime.bigint() - cpuStart) / 1e9);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-fsync-"));
  const fd = fs.openSync(path.join(dir, "log"), "a");
  const record = Buffer.alloc(256, 1);
  const rounds = 200;
  const diskStart = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    fs.writeSync(fd, record);
    fs.fdatasyncSync(fd);
  }
  const fsyncMs = Number(process.hrtime.bigint() - diskStart) / 1e6 / rounds;
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
  return { sha256MiBps, fsyncMs };
}
