/**
 * No source file in lib/, orchestrators/, activities/, triggers/ or dev/ is over 600 lines:
 * a file that grows past that is doing more than one job and is split by job, as the durable engine and
 * the Service Bus emulator were.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(__dirname, "..", "..", "..");
const MAX_LINES = 600;

function sources(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

test(`no file in lib/, orchestrators/, activities/, triggers/ or dev/ is over ${MAX_LINES} lines`, () => {
  const files = ["lib", "orchestrators", "activities", "triggers", "dev"].flatMap((d) =>
    sources(path.join(root, d)),
  );
  assert.ok(files.length > 50, "sources found");
  const over = files
    .map((file) => ({
      file: path.relative(root, file),
      lines: fs.readFileSync(file, "utf8").split("\n").length - 1,
    }))
    .filter((f) => f.lines > MAX_LINES)
    .map((f) => `${f.file}: ${f.lines} lines`);
  assert.deepEqual(over, []);
});
