/**
 * Orchestration code is deterministic by lint (eslint.config.mjs): in orchestrators/, the agent's
 * orchestration and the modules only orchestrations import, a clock, randomness, a timer, process.env or
 * an I/O import fails `npm run lint`. The fixture test/fixtures/determinism/orchestrator.ts holds one of
 * each, each marked with the rule that must report it; it is linted under the repository's real config
 * as if it were orchestration code, so a rule that stops working (a renamed path, a dropped selector)
 * fails here. Outside orchestration code (activities, HTTP handlers) the same code passes these rules.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ESLint } from "eslint";

const root = path.resolve(__dirname, "..", "..", "..");
const fixture = fs.readFileSync(
  path.join(root, "test", "fixtures", "determinism", "orchestrator.ts"),
  "utf8",
);

const DETERMINISM_RULES = new Set([
  "no-restricted-properties",
  "no-restricted-syntax",
  "no-restricted-globals",
  "@typescript-eslint/no-restricted-imports",
]);

/** Each marked line of the fixture as "line: rule". */
const expected = fixture
  .split("\n")
  .flatMap((text, i) => {
    const marked = /\/\/ violation: (\S+)$/.exec(text);
    return marked ? [`${i + 1}: ${marked[1]}`] : [];
  })
  .sort();

async function reported(file: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(fixture, { filePath: path.join(root, file) });
  const fatal = result.messages.filter((m) => m.fatal);
  assert.deepEqual(fatal, [], `${file}: the fixture parses`);
  return result.messages
    .filter((m) => m.ruleId !== null && DETERMINISM_RULES.has(m.ruleId))
    .map((m) => `${m.line}: ${m.ruleId}`)
    .sort();
}

test("the fixture marks each kind of violation", () => {
  assert.equal(expected.length, 17);
  for (const rule of DETERMINISM_RULES) {
    assert.ok(
      expected.some((e) => e.endsWith(` ${rule}`)),
      `a violation of ${rule}`,
    );
  }
});

/**
 * Where orchestration code lives: a new file in each folder (a probe, never on disk), and each single
 * file the config names, as long as it exists (a module that moves takes its config entry with it).
 */
const ORCHESTRATION_CODE = [
  "orchestrators/determinism-probe.ts",
  "lib/durable/determinism-probe.ts",
  ...["customer/agent/orchestration.ts", "lib/deployments/orchestration.ts"].filter((file) =>
    fs.existsSync(path.join(root, file)),
  ),
];

test("every violation is reported in orchestration code, and nothing else", async () => {
  for (const file of ORCHESTRATION_CODE) {
    assert.deepEqual(await reported(file), expected, file);
  }
});

test("activities and other product code may use clocks, timers and I/O", async () => {
  for (const file of ["activities/determinism-probe.ts", "lib/deployments/determinism-probe.ts"]) {
    assert.deepEqual(await reported(file), [], file);
  }
});
