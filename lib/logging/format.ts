/**
 * How a log entry reaches a console: the level filter (`LOG_LEVEL`) and the line format (`LOG_FORMAT`).
 * Pure and dependency-free, so the product's console logger and the dev host print the same lines.
 *
 * - `LOG_LEVEL` = debug | info | warn | error (default info). At info a console shows warnings, errors,
 *   and each deployment's start and end; every HTTP invocation, activity and orchestration episode is
 *   debug, so an idle stack prints nothing.
 * - `LOG_FORMAT` = text | json (default text). Text is one line a person reads:
 *   `12:00:01 INFO  deployment started tenant=contoso deploymentId=d-1 attempt=1`. JSON is one object a
 *   line, every field kept (what log tooling parses). Text is the default even when stdout is not a TTY:
 *   `npm start` pipes each part through the supervisor, and on Azure the host captures `context.log`
 *   (which stays JSON, see `invocationLogger`) rather than stdout.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
type LogFormat = "text" | "json";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const DEFAULT_LOG_LEVEL: LogLevel = "info";

/** The level a setting names (case-insensitive; `warning` counts as warn); anything else is the default. */
export function parseLogLevel(value: string | undefined, fallback: LogLevel = DEFAULT_LOG_LEVEL): LogLevel {
  const v = value?.trim().toLowerCase();
  if (v === "warning") return "warn";
  return v && v in RANK ? (v as LogLevel) : fallback;
}

/** The format a setting names; anything but `json` is text. */
export function parseLogFormat(value: string | undefined): LogFormat {
  return value?.trim().toLowerCase() === "json" ? "json" : "text";
}

/** Whether an entry at `level` passes a filter set at `min`. */
export function levelEnabled(level: LogLevel, min: LogLevel): boolean {
  return RANK[level] >= RANK[min];
}

/** The console settings from the environment (read on each use: the dev host applies app settings late). */
export function consoleLogSettings(env: NodeJS.ProcessEnv = process.env): {
  level: LogLevel;
  format: LogFormat;
} {
  return { level: parseLogLevel(env.LOG_LEVEL), format: parseLogFormat(env.LOG_FORMAT) };
}

/** Fields a text line leaves out: shown elsewhere on the line, or correlation ids only tooling reads. */
const HIDDEN_IN_TEXT = new Set(["time", "level", "message", "invocationId", "function", "functionName"]);

function textValue(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null || typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string")
    return value !== "" && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (
    typeof value === "object" &&
    "message" in value &&
    Object.keys(value).every((k) => k === "name" || k === "message")
  )
    return textValue((value as { message: unknown }).message); // an Error, as redact() leaves it
  return JSON.stringify(value);
}

function clockTime(time: unknown): string {
  const t = typeof time === "string" ? new Date(time) : new Date();
  const at = Number.isNaN(t.getTime()) ? new Date() : t;
  return at.toISOString().slice(11, 19);
}

/**
 * One entry as one line. Text: `HH:MM:SS LEVEL message key=value …` (UTC time; strings with spaces are
 * quoted; objects are compact JSON as a field's value, never the message). JSON: the entry as is.
 */
export function formatLogLine(entry: Record<string, unknown>, format: LogFormat): string {
  if (format === "json") return JSON.stringify(entry);
  const level = String(entry.level ?? "info")
    .toUpperCase()
    .padEnd(5);
  const fields = Object.entries(entry)
    .filter(([k, v]) => !HIDDEN_IN_TEXT.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${textValue(v)}`);
  return [clockTime(entry.time), level, String(entry.message ?? ""), ...fields].join(" ");
}
