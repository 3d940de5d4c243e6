/**
 * A small process supervisor for the local stack (`npm start`), so its parts fail like a platform's:
 * each part is a process of its own; parts start in stages (a stage starts once every part of the one
 * before is ready: its `ready <json>` line, dev/part.ts, is the readiness check); a part that dies is
 * restarted with exponential backoff, and one that keeps crashing backs off up to a cap and is reported;
 * every line a part prints is prefixed with its name; `stop()` stops the stages in reverse order, each
 * part with SIGTERM and, after a grace period, SIGKILL.
 *
 * Parts run in their own process group (detached), so a terminal's Ctrl-C reaches only the supervisor,
 * which then stops them in order; each part's stdin is a pipe from the supervisor, and a part exits when
 * it closes (dev/part.ts), so parts never outlive a killed supervisor.
 */
import { ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import readline from "node:readline";
import { READY_PREFIX, SUPERVISED_ENV } from "./part";

export interface PartCommand {
  /** Arguments to node (the first is the script); `executable` replaces node. */
  args: string[];
  executable?: string;
  /** Added to the supervisor's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export interface PartSpec {
  name: string;
  /** Called before every start and restart, so a restart can reuse what earlier starts learned (ports). */
  command(): PartCommand;
  /** How long one start may take to print its ready line; default 60 s. */
  readyTimeoutMs?: number;
}

export interface PartStatus {
  name: string;
  state: "starting" | "ready" | "waiting" | "stopped";
  pid?: number;
  /** Restarts since the supervisor started it. */
  restarts: number;
  /** What the part's last ready line said. */
  ready?: unknown;
}

export interface SupervisorOptions {
  /** Where the parts' stdout lines and the supervisor's notes go; stdout by default. */
  out?: (line: string) => void;
  /** Where the parts' stderr lines and the supervisor's warnings go; stderr by default. */
  err?: (line: string) => void;
  /** First restart delay; doubled on each crash in a row, up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A part that stayed up this long after it was ready starts over at `initialBackoffMs`. */
  stableAfterMs?: number;
  /** Between SIGTERM and SIGKILL on stop. */
  graceMs?: number;
}

/**
 * Events: `ready` (name, info, restarts), `exit` (name, code, signal), `restart` (name, restarts,
 * delayMs) when a restart is scheduled, `crashLoop` (name, restarts, delayMs) when the delay is at the cap.
 */
export class Supervisor extends EventEmitter {
  private readonly parts = new Map<string, Part>();
  private readonly stages: Part[][] = [];
  private stopping?: Promise<boolean>;
  readonly options: Required<SupervisorOptions>;

  constructor(options: SupervisorOptions = {}) {
    super();
    this.options = {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
      initialBackoffMs: 250,
      maxBackoffMs: 10_000,
      stableAfterMs: 30_000,
      graceMs: 10_000,
      ...options,
    };
  }

  /**
   * Starts a stage: these parts, in parallel. Resolves with each part's ready info by name once all are
   * ready. A part that dies before its first ready line fails the start (its last lines in the error):
   * a part that cannot start at all is a configuration problem, not a crash to retry forever.
   */
  async start(specs: PartSpec[]): Promise<Record<string, unknown>> {
    if (this.stopping) throw new Error("the supervisor is stopping");
    const stage = specs.map((spec) => {
      if (this.parts.has(spec.name)) throw new Error(`a part named ${spec.name} already runs`);
      const part = new Part(spec, this);
      this.parts.set(spec.name, part);
      return part;
    });
    this.stages.push(stage);
    const ready = await Promise.all(stage.map((p) => p.firstStart()));
    return Object.fromEntries(stage.map((p, i) => [p.spec.name, ready[i]]));
  }

  status(): PartStatus[] {
    return [...this.parts.values()].map((p) => p.status());
  }

  /**
   * Stops every part, the last stage first (SIGTERM, then SIGKILL after the grace period). Resolves true
   * for a clean stop: every running part exited with code 0 on its own.
   */
  stop(): Promise<boolean> {
    this.stopping ??= (async () => {
      for (const p of this.parts.values()) p.cancelRestart();
      let clean = true;
      for (const stage of [...this.stages].reverse())
        for (const ok of await Promise.all(stage.map((p) => p.stop()))) clean &&= ok;
      return clean;
    })();
    return this.stopping;
  }

  /** At once, without a grace period (a second Ctrl-C). */
  kill(): void {
    for (const p of this.parts.values()) {
      p.cancelRestart();
      p.signal("SIGKILL");
    }
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  note(line: string): void {
    this.options.out(`[supervisor] ${line}`);
  }

  warn(line: string): void {
    this.options.err(`[supervisor] ${line}`);
  }
}

/** The last lines a part printed, for the error when its first start fails. */
const TAIL_LINES = 20;

class Part {
  private child?: ChildProcess;
  private state: PartStatus["state"] = "starting";
  private restarts = 0;
  private crashesInARow = 0;
  private readyAt?: number;
  private readyInfo?: unknown;
  private everReady = false;
  private restartTimer?: NodeJS.Timeout;
  private readyTimer?: NodeJS.Timeout;
  private readonly tail: string[] = [];
  private first?: { resolve(info: unknown): void; reject(error: Error): void };

  constructor(
    readonly spec: PartSpec,
    private readonly supervisor: Supervisor,
  ) {}

  firstStart(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.first = { resolve, reject };
      this.spawn();
    });
  }

  status(): PartStatus {
    return {
      name: this.spec.name,
      state: this.state,
      pid: this.child && this.alive(this.child) ? this.child.pid : undefined,
      restarts: this.restarts,
      ready: this.readyInfo,
    };
  }

  private spawn(): void {
    const command = this.spec.command();
    const child = spawn(command.executable ?? process.execPath, command.args, {
      cwd: command.cwd,
      env: { ...process.env, ...command.env, [SUPERVISED_ENV]: "1" },
      stdio: ["pipe", "pipe", "pipe"],
      // Its own process group, out of reach of the terminal's Ctrl-C (on Windows it would open a console).
      detached: process.platform !== "win32",
    });
    this.child = child;
    this.state = "starting";
    this.readyAt = undefined;
    const name = this.spec.name;
    const { out, err } = this.supervisor.options;
    let announced = false;
    readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (!announced && line.startsWith(READY_PREFIX)) {
        announced = true;
        this.onReady(child, line.slice(READY_PREFIX.length));
        return;
      }
      this.remember(line);
      out(`[${name}] ${line}`);
    });
    readline.createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
      this.remember(line);
      err(`[${name}] ${line}`);
    });
    // Never written to: it only tells the part that the supervisor is alive (dev/part.ts).
    child.stdin?.on("error", () => {});
    child.on("error", (error) => this.supervisor.warn(`${name}: ${error.message}`));
    // "close", not "exit": by then every line the part printed has been read (the error of a failed start
    // quotes them).
    child.on("close", (code, signal) => this.onExit(child, code, signal));
    const timeout = this.spec.readyTimeoutMs ?? 60_000;
    this.readyTimer = setTimeout(() => {
      this.supervisor.warn(`${name} was not ready within ${timeout} ms; killing it`);
      child.kill("SIGKILL");
    }, timeout);
  }

  private remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
  }

  private onReady(child: ChildProcess, json: string): void {
    clearTimeout(this.readyTimer);
    let info: unknown;
    try {
      info = JSON.parse(json);
    } catch {
      this.supervisor.warn(`${this.spec.name} printed a ready line that is not JSON; killing it`);
      child.kill("SIGKILL");
      return;
    }
    this.state = "ready";
    this.readyAt = Date.now();
    this.readyInfo = info;
    // A part that serves HTTP says where, so tools (npm run chaos) can reach it.
    const url = (info as { url?: unknown } | null)?.url;
    const at = typeof url === "string" ? ` at ${url}` : "";
    this.supervisor.note(
      this.everReady
        ? `${this.spec.name} ready again after restart ${this.restarts}${at} (pid ${child.pid})`
        : `${this.spec.name} ready${at} (pid ${child.pid})`,
    );
    this.everReady = true;
    this.supervisor.emit("ready", this.spec.name, info, this.restarts);
    this.first?.resolve(info);
    this.first = undefined;
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(this.readyTimer);
    if (this.child !== child) return;
    const name = this.spec.name;
    this.supervisor.emit("exit", name, code, signal);
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (this.supervisor.isStopping) {
      this.state = "stopped";
      return;
    }
    if (this.first) {
      this.state = "stopped";
      this.first.reject(new Error(`${name} exited (${how}) before it was ready:\n${this.tail.join("\n")}`));
      this.first = undefined;
      return;
    }
    // A part that ran well for a while crashed once; one that dies right after starting keeps crashing.
    const stable =
      this.readyAt !== undefined && Date.now() - this.readyAt >= this.supervisor.options.stableAfterMs;
    this.crashesInARow = stable ? 1 : this.crashesInARow + 1;
    const { initialBackoffMs, maxBackoffMs } = this.supervisor.options;
    const delay = Math.min(initialBackoffMs * 2 ** (this.crashesInARow - 1), maxBackoffMs);
    this.restarts++;
    this.state = "waiting";
    if (delay >= maxBackoffMs) {
      this.supervisor.warn(
        `${name} keeps crashing (${how}; ${this.crashesInARow} crashes in a row, ${this.restarts} restarts): next try in ${delay} ms`,
      );
      this.supervisor.emit("crashLoop", name, this.restarts, delay);
    } else {
      this.supervisor.warn(`${name} exited (${how}); restart ${this.restarts} in ${delay} ms`);
    }
    this.supervisor.emit("restart", name, this.restarts, delay);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.supervisor.isStopping) this.spawn();
    }, delay);
  }

  cancelRestart(): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }

  private alive(child: ChildProcess): boolean {
    return child.exitCode === null && child.signalCode === null;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child && this.alive(this.child)) this.child.kill(signal);
  }

  /** True when the part exited with code 0 on SIGTERM (or was not running). */
  async stop(): Promise<boolean> {
    const child = this.child;
    if (!child || !this.alive(child)) {
      this.state = "stopped";
      return true;
    }
    // After the part's own "close" handling (registered first), so its exit is reported when this resolves.
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    child.kill("SIGTERM");
    const grace = setTimeout(() => {
      this.supervisor.warn(
        `${this.spec.name} did not stop within ${this.supervisor.options.graceMs} ms; killing it`,
      );
      child.kill("SIGKILL");
    }, this.supervisor.options.graceMs);
    const code = await exited;
    clearTimeout(grace);
    this.state = "stopped";
    return code === 0;
  }
}
