/**
 * Structured logging: one entry per event, correlated by whatever context the caller binds (tenant,
 * deploymentId, instanceId, invocationId). Values under secret-looking keys, and strings that look like
 * credentials, are redacted so a log line can never carry a secret.
 *
 * Two sinks: the console (`LOG_LEVEL` filters, `LOG_FORMAT` picks a readable line or JSON; see
 * ./format.ts), and a Functions InvocationContext (`invocationLogger`), which gets the entry as JSON so
 * the host that owns the stream (the dev host, or Azure's host and Application Insights) keeps its fields
 * and applies its own level filter.
 */
import { consoleLogSettings, formatLogLine, levelEnabled, type LogLevel } from "./format";

export type { LogLevel } from "./format";
export type LogProps = Record<string, unknown>;

export interface Logger {
  debug(message: string, props?: LogProps): void;
  info(message: string, props?: LogProps): void;
  warn(message: string, props?: LogProps): void;
  error(message: string, props?: LogProps): void;
  /** A logger whose entries all carry `props` as well. */
  with(props: LogProps): Logger;
}

export type LogSink = (level: LogLevel, entry: LogProps) => void;

const SECRET_KEY =
  /(secret|password|pwd|token|signature|sharedaccesskey|accountkey|connectionstring|^key$|^sig$)/i;
const SECRET_VALUE = /(SharedAccessSignature|SharedAccessKey=|AccountKey=|sig=|eyJ[A-Za-z0-9_-]{10,}\.)/;
export const REDACTED = "[redacted]";

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return "[depth]";
  if (typeof value === "string") return SECRET_VALUE.test(value) ? REDACTED : value;
  if (value instanceof Error) return { name: value.name, message: redact(value.message, depth + 1) };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value && typeof value === "object") {
    const out: LogProps = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? REDACTED : redact(v, depth + 1);
    return out;
  }
  return value;
}

export const consoleSink: LogSink = (level, entry) => {
  const settings = consoleLogSettings();
  if (!levelEnabled(level, settings.level)) return;
  const line = formatLogLine(entry, settings.format);
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
};

export function createLogger(sink: LogSink = consoleSink, bound: LogProps = {}): Logger {
  const write = (level: LogLevel, message: string, props?: LogProps) =>
    sink(level, redact({ time: new Date().toISOString(), level, message, ...bound, ...props }) as LogProps);
  return {
    debug: (m, p) => write("debug", m, p),
    info: (m, p) => write("info", m, p),
    warn: (m, p) => write("warn", m, p),
    error: (m, p) => write("error", m, p),
    with: (props) => createLogger(sink, { ...bound, ...props }),
  };
}

/** A logger writing through a Functions InvocationContext, so entries land in the host's log stream. */
export function invocationLogger(context: {
  invocationId: string;
  functionName: string;
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}): Logger {
  return createLogger((level, entry) => context[level](JSON.stringify(entry)), {
    invocationId: context.invocationId,
    functionName: context.functionName,
  });
}
