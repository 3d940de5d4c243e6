/**
 * Our stand-in for the `@azure/functions-core` module that the real Node worker injects.
 *
 * `@azure/functions` v4 hands every `app.*` registration (and `durable-functions` every orchestration,
 * activity and entity, already wrapped) to `registerFunction(metadata, handler)` on that module. The dev
 * host provides the module by intercepting `require` for exactly that name, so the app's own code runs
 * unchanged and we receive each function's binding metadata and its handler.
 *
 * `@azure/functions` resolves the module once per process and caches it, so the installed module is a
 * single object that forwards to whichever registry is currently capturing.
 */
import Module from "node:module";

export type BindingDirection = "in" | "out" | "inout";

export interface BindingMetadata {
  type: string;
  direction: BindingDirection;
  name?: string;
  [key: string]: unknown;
}

export interface CoreFunctionMetadata {
  name: string;
  bindings: Record<string, BindingMetadata>;
  retryOptions?: Record<string, unknown>;
}

export type FunctionHandler = (...args: unknown[]) => unknown;

export interface RegisteredFunction {
  name: string;
  /** The binding whose type ends in `Trigger`. */
  trigger: BindingMetadata & { name: string };
  bindings: Record<string, BindingMetadata>;
  handler: FunctionHandler;
  retryOptions?: Record<string, unknown>;
}

export class DuplicateFunctionError extends Error {
  constructor(readonly functionName: string) {
    super(`A function named "${functionName}" is already registered; function names must be unique.`);
    this.name = "DuplicateFunctionError";
  }
}

export class InvalidFunctionError extends Error {
  constructor(
    readonly functionName: string,
    reason: string,
  ) {
    super(`Function "${functionName}" cannot be registered: ${reason}`);
    this.name = "InvalidFunctionError";
  }
}

/** The functions of one app, as registered by its code. */
export class FunctionRegistry {
  private readonly functions = new Map<string, RegisteredFunction>();
  readonly hooks: { name: string; callback: (...args: unknown[]) => unknown }[] = [];

  register(metadata: CoreFunctionMetadata, handler: FunctionHandler): void {
    const name = metadata?.name;
    if (typeof name !== "string" || name.length === 0)
      throw new InvalidFunctionError(String(name), "no name");
    if (typeof handler !== "function") throw new InvalidFunctionError(name, "handler is not a function");
    const key = name.toLowerCase();
    if (this.functions.has(key)) throw new DuplicateFunctionError(name);
    const entry = Object.entries(metadata.bindings ?? {}).find(([, b]) => /trigger$/i.test(b.type));
    if (!entry) throw new InvalidFunctionError(name, "it has no trigger binding");
    const [triggerName, trigger] = entry;
    this.functions.set(key, {
      name,
      trigger: { ...trigger, name: triggerName },
      bindings: metadata.bindings,
      handler,
      retryOptions: metadata.retryOptions,
    });
  }

  /** Case-insensitive, as function names are in Azure Functions. */
  get(name: string): RegisteredFunction | undefined {
    return this.functions.get(name.toLowerCase());
  }

  list(): RegisteredFunction[] {
    return [...this.functions.values()];
  }

  byTriggerType(type: string): RegisteredFunction[] {
    const wanted = type.toLowerCase();
    return this.list().filter((f) => f.trigger.type.toLowerCase() === wanted);
  }
}

let current: FunctionRegistry | undefined;
let installed = false;

const coreModule = {
  registerFunction(metadata: CoreFunctionMetadata, handler: FunctionHandler) {
    if (!current) {
      throw new Error(
        `"${metadata?.name}" was registered outside the dev host's loading phase; register functions at module load.`,
      );
    }
    current.register(metadata, handler);
    return { dispose() {} };
  },
  setProgrammingModel(_model: unknown) {},
  getProgrammingModel() {
    return undefined;
  },
  registerHook(name: string, callback: (...args: unknown[]) => unknown) {
    current?.hooks.push({ name, callback });
    return { dispose() {} };
  },
  log(level: string, category: string, message: string) {
    if (level === "error" || level === "critical") console.error(`[${category}] ${message}`);
    else if (level === "warning") console.warn(`[${category}] ${message}`);
  },
  getProgrammingModelName() {
    return "@azure/functions";
  },
};

function install(): void {
  if (installed) return;
  installed = true;
  const proto = Module.prototype as unknown as { require: (id: string) => unknown };
  const original = proto.require;
  proto.require = function (this: unknown, id: string) {
    if (id === "@azure/functions-core") return coreModule;
    return original.call(this, id);
  };
}

/**
 * Runs `load` (which requires the app's entry modules) while `registry` captures every registration.
 * Synchronous registration at module load is what the Functions programming model requires.
 */
export function captureRegistrations<T>(registry: FunctionRegistry, load: () => T): T {
  install();
  const previous = current;
  current = registry;
  try {
    return load();
  } finally {
    current = previous;
  }
}
