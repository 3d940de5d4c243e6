/**
 * Invokes a registered function the way the Node worker does: a real InvocationContext whose options
 * describe the bindings, input bindings filled (the durable client), one structured log line per
 * invocation with its outcome and duration (debug when it succeeded, error when it failed).
 */
import { randomUUID } from "node:crypto";
import { InvocationContext } from "@azure/functions";
import type { BindingMetadata, RegisteredFunction } from "./functions-core";

export type HostLog = (
  level: "debug" | "info" | "warn" | "error",
  message: string,
  props?: Record<string, unknown>,
) => void;

export interface InvokeOptions {
  triggerMetadata?: Record<string, unknown>;
  /** Values for input bindings, by binding type (e.g. `durableClient`). */
  inputsByType?: Record<string, () => unknown>;
  log: HostLog;
}

function named(name: string, b: BindingMetadata) {
  return { ...b, name } as BindingMetadata & { name: string; type: string };
}

/**
 * A line an app logged, split for the host's log: apps that log structured JSON (as this project's logger
 * does) get their fields merged into the host's line, not nested in its message. Shared by every trigger
 * and the durable engine's orchestrations and activities.
 */
export function splitStructured(text: string): { message: string; fields: Record<string, unknown> } {
  if (text.startsWith("{")) {
    try {
      const value = JSON.parse(text) as unknown;
      if (value && typeof value === "object" && !Array.isArray(value)) {
        const { message, level: _level, time: _time, ...fields } = value as Record<string, unknown>;
        return { message: String(message ?? ""), fields };
      }
    } catch {
      // not JSON after all: the text is the message
    }
  }
  return { message: text, fields: {} };
}

export function createContext(fn: RegisteredFunction, options: InvokeOptions): InvocationContext {
  const invocationId = randomUUID();
  const extraInputs = Object.entries(fn.bindings)
    .filter(([name, b]) => b.direction === "in" && name !== fn.trigger.name)
    .map(([name, b]) => named(name, b));
  const extraOutputs = Object.entries(fn.bindings)
    .filter(([name, b]) => b.direction === "out" && name !== "$return")
    .map(([name, b]) => named(name, b));
  const returnBinding = fn.bindings.$return ? named("$return", fn.bindings.$return) : undefined;
  const context = new InvocationContext({
    functionName: fn.name,
    invocationId,
    triggerMetadata: options.triggerMetadata,
    logHandler: (level, ...args) => {
      const message = args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ");
      const mapped =
        level === "warning"
          ? "warn"
          : level === "error" || level === "critical"
            ? "error"
            : level === "trace" || level === "debug"
              ? "debug"
              : "info";
      const line = splitStructured(message);
      options.log(mapped, line.message, { function: fn.name, invocationId, ...line.fields });
    },
    options: {
      trigger: named(fn.trigger.name, fn.trigger) as never,
      extraInputs: extraInputs as never,
      extraOutputs: extraOutputs as never,
      return: returnBinding as never,
    },
  });
  for (const input of extraInputs) {
    const provide = options.inputsByType?.[input.type];
    if (provide) context.extraInputs.set(input.name, provide());
  }
  return context;
}

/**
 * Runs the handler, logging one line with the outcome; rethrows the handler's error.
 *
 * `statusOf` reads the HTTP status of an HTTP function's result. As on Azure, a function that returns a
 * 500 (e.g. an API wrapper that turned an exception into a response) did not fail, so the outcome stays
 * "Succeeded"; the line carries `status` and is logged as an error for a 5xx, or the failure would be
 * invisible in the host log.
 */
export async function invoke(
  fn: RegisteredFunction,
  trigger: unknown,
  context: InvocationContext,
  log: HostLog,
  statusOf?: (result: unknown) => number,
): Promise<unknown> {
  const started = process.hrtime.bigint();
  const done = (outcome: "Succeeded" | "Failed", extra: { status?: number; error?: string } = {}) => {
    const failed = outcome === "Failed" || (extra.status ?? 0) >= 500;
    const status = extra.status !== undefined ? `, status ${extra.status}` : "";
    // Every invocation succeeding is routine (a dashboard polling every second would print a line a second):
    // debug. A failure, or a 5xx an HTTP function answered, is an error.
    log(failed ? "error" : "debug", `Executed '${fn.name}' (${outcome}${status})`, {
      function: fn.name,
      invocationId: context.invocationId,
      trigger: fn.trigger.type,
      durationMs: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
      outcome,
      ...extra,
    });
  };
  try {
    const result = await fn.handler(trigger, context);
    done("Succeeded", statusOf ? { status: statusOf(result) } : {});
    return result;
  } catch (error) {
    done("Failed", { error: error instanceof Error ? error.message : String(error) });
    throw error;
  }
}
