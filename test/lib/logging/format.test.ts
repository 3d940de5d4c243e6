import { test } from "node:test";
import assert from "node:assert/strict";
import {
  consoleLogSettings,
  formatLogLine,
  levelEnabled,
  parseLogFormat,
  parseLogLevel,
} from "../../../lib/logging/format";
import { consoleSink, createLogger } from "../../../lib/logging/logger";

test("LOG_LEVEL: the four levels, case-insensitive, warning as warn; anything else is info", () => {
  assert.equal(parseLogLevel("debug"), "debug");
  assert.equal(parseLogLevel(" WARN "), "warn");
  assert.equal(parseLogLevel("warning"), "warn");
  assert.equal(parseLogLevel("error"), "error");
  assert.equal(parseLogLevel(undefined), "info");
  assert.equal(parseLogLevel("verbose"), "info");
  assert.equal(parseLogLevel("", "warn"), "warn");
});

test("the level filter passes its level and everything above it", () => {
  assert.ok(levelEnabled("info", "info"));
  assert.ok(levelEnabled("warn", "info"));
  assert.ok(levelEnabled("error", "info"));
  assert.ok(!levelEnabled("debug", "info"));
  assert.ok(levelEnabled("debug", "debug"));
  assert.ok(!levelEnabled("warn", "error"));
});

test("LOG_FORMAT: json names JSON, anything else is text; both read from the environment", () => {
  assert.equal(parseLogFormat("JSON"), "json");
  assert.equal(parseLogFormat(undefined), "text");
  assert.equal(parseLogFormat("pretty"), "text");
  assert.deepEqual(consoleLogSettings({}), { level: "info", format: "text" });
  assert.deepEqual(consoleLogSettings({ LOG_LEVEL: "debug", LOG_FORMAT: "json" }), {
    level: "debug",
    format: "json",
  });
});

const entry = {
  time: "2026-01-02T12:00:01.234Z",
  level: "info",
  message: "deployment finished",
  invocationId: "6b2c-…",
  functionName: "completeDeployment",
  tenant: "contoso",
  deploymentId: "d-1",
  attempt: 1,
  outcome: "Failed",
  reason: 'step 1 of 2 failed ("demo")',
  error: { name: "TypeError", message: "boom now" },
  detail: { steps: 2 },
  skipped: undefined,
};

test("text: one line, time level message then key=value, strings with spaces quoted, no JSON message", () => {
  const line = formatLogLine(entry, "text");
  assert.equal(
    line,
    '12:00:01 INFO  deployment finished tenant=contoso deploymentId=d-1 attempt=1 outcome=Failed reason="step 1 of 2 failed (\\"demo\\")" error="boom now" detail={"steps":2}',
  );
  assert.doesNotMatch(line, /\n/);
  assert.doesNotMatch(line, /invocationId|functionName/, "correlation ids are for tooling (JSON)");
  assert.match(formatLogLine({ ...entry, level: "error" }, "text"), /^12:00:01 ERROR deployment finished /);
});

test("json: the entry as one object, every field kept", () => {
  const line = formatLogLine(entry, "json");
  const { skipped: _skipped, ...expected } = entry;
  assert.deepEqual(JSON.parse(line), expected);
});

test("the console sink filters by LOG_LEVEL and prints the chosen format", (t) => {
  const printed: string[] = [];
  t.mock.method(console, "log", (line: string) => printed.push(line));
  t.mock.method(console, "warn", (line: string) => printed.push(line));
  t.mock.method(console, "error", (line: string) => printed.push(line));
  const saved = { level: process.env.LOG_LEVEL, format: process.env.LOG_FORMAT };
  t.after(() => {
    for (const [k, v] of [
      ["LOG_LEVEL", saved.level],
      ["LOG_FORMAT", saved.format],
    ] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  });
  const log = createLogger(consoleSink).with({ tenant: "contoso" });

  delete process.env.LOG_LEVEL;
  delete process.env.LOG_FORMAT;
  log.debug("status poll tick");
  log.info("deployment started", { deploymentId: "d-1" });
  assert.equal(printed.length, 1, "debug is filtered out by default");
  assert.match(
    printed[0] ?? "",
    /^\d\d:\d\d:\d\d INFO {2}deployment started tenant=contoso deploymentId=d-1$/,
  );

  process.env.LOG_LEVEL = "warn";
  log.info("deployment started");
  log.warn("deployment finished", { outcome: "Failed" });
  assert.equal(printed.length, 2);
  assert.match(printed[1] ?? "", /WARN {2}deployment finished tenant=contoso outcome=Failed$/);

  process.env.LOG_LEVEL = "debug";
  process.env.LOG_FORMAT = "json";
  log.debug("status poll tick");
  assert.equal(printed.length, 3);
  assert.deepEqual(
    { ...JSON.parse(printed[2] ?? "{}"), time: undefined },
    { time: undefined, level: "debug", message: "status poll tick", tenant: "contoso" },
  );
});
