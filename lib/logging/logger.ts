/**
 * Structured logging: one entry per event, correlated by whatever context the caller binds (tenant,
 * deploymentId, instanceId, invocationId). Values under secret-looking keys are redacted whole; in every
 * other string the parts shaped like a credential (PEM private keys, JWTs, SAS signatures, account and
 * shared access keys, client secrets) are masked, so a log line can never carry a secret.
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

type LogSink = (level: LogLevel, entry: LogProps) => void;

const SECRET_KEY =
  /(secret|password|pwd|token|signature|sharedaccesskey|accountkey|connectionstring|^key$|^sig$)/i;
export const REDACTED = "[redacted]";

/**
 * Secrets by shape, each masked where it stands so the rest of a line (which tenant, what failed) stays
 * readable: the part a pattern matches is replaced by what `mask` returns.
 */
const SECRET_SHAPES: {
  kind: string;
  pattern: RegExp;
  mask: (match: string, ...groups: string[]) => string;
}[] = [
  // PEM private keys, the whole block (or to the end of the text if it is cut off).
  {
    kind: "pem",
    pattern: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
    mask: () => REDACTED,
  },
  // JWTs (bearer tokens, client assertions): three base64url segments, the first a JSON header.
  { kind: "jwt", pattern: /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*/g, mask: () => REDACTED },
  // SAS tokens and connection-string keys: keep the name, mask the value.
  {
    kind: "sas",
    pattern: /(SharedAccessSignature\s+)[^\s"',]+/gi,
    mask: (_m, name) => `${name}${REDACTED}`,
  },
  {
    kind: "key",
    pattern: /\b(sig=|SharedAccessKey=|AccountKey=|client_secret=|client_assertion=)[^\s&;"',]+/gi,
    mask: (_m, name) => `${name}${REDACTED}`,
  },
  // Entra client secrets: three characters, a digit, `Q~`, then 31 to 34 more.
  { kind: "clientSecret", pattern: /[A-Za-z0-9_.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}/g, mask: () => REDACTED },
];

/** A text with every secret-shaped part masked. */
export function redactText(text: string): string {
  return SECRET_SHAPES.reduce(
    (out, { pattern, mask }) => out.replace(pattern, (m: string, ...groups: string[]) => mask(m, ...groups)),
    text,
  );
}

function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return "[depth]";
  if (typeof value === "string") return redactText(value);
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
