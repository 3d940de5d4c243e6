/**
 * The customer agent's deployers. A deployer plans one Deploy command, then performs it step by step; the
 * agent's orchestration runs each call as its own activity, so a deployment survives an agent restart
 * (finished steps are never run again), Cancel is honoured between steps, and progress is reported after
 * each one. The orchestration owns statuses, sequencing, duplicates, cancellation and deadlines.
 *
 * `demoDeployer` simulates steps and obeys
 * `spec.demo = { outcome: "succeed" | "fail" | "ignore" | "stall", steps?, stepMs?, failTenants? }`;
 * `failTenants` makes the named tenants fail whatever `outcome` says, so one spec rolled out to many
 * tenants can show an error budget at work. Its health probe (a spec with a health check) obeys
 * `spec.demo.health = "healthy" | "unhealthy"` and `spec.demo.unhealthyTenants`, the same way.
 */
import type { Command } from "../../lib/messaging/contracts";

/** What to do with a Deploy, decided once per attempt (the decision is kept in the orchestration's history). */
export type Plan =
  | { kind: "run"; steps: number; message?: string }
  | { kind: "reject"; message: string }
  /** Never answer (`afterAccept: false`), or answer Accepted and then nothing more: the demo's ignore and stall. */
  | { kind: "silent"; afterAccept: boolean; message?: string };

/** The result of one step; `progress` (0-100) and `message` default to the step's share and "step i of n". */
export type StepResult =
  | { kind: "continue"; progress?: number; message?: string; detail?: unknown }
  /** Done early: the deployment succeeded with this step. */
  | { kind: "succeeded"; message?: string; detail?: unknown }
  | { kind: "failed"; message: string; progress?: number; detail?: unknown };

interface StepContext {
  /** 1-based. */
  step: number;
  steps: number;
}

/** Which probe of a health check's window this is (1-based), of how many, and when the window ends. */
export interface ProbeContext {
  probe: number;
  probes: number;
  /** ISO 8601: a probe still running then is too late for its verdict to count; answer before it. */
  deadline: string;
}

/** One health probe's answer. */
export interface ProbeResult {
  healthy: boolean;
  message?: string;
}

export interface Deployer {
  /** Decides whether and how to run the Deploy. Changes nothing; may run again after a crash. */
  plan(command: Command): Promise<Plan>;
  /**
   * Performs one step. Runs at least once: after a crash the step that was in flight runs again, so a
   * step must be safe to repeat. Throwing ends the deployment Failed with the error's message.
   */
  runStep(command: Command, context: StepContext): Promise<StepResult>;
  /**
   * Probes the deployed release's health once, after the deployment succeeded (the command's spec carried
   * a health check; `probe` is its opaque description). Changes nothing; throwing counts as unhealthy.
   */
  checkHealth(command: Command, probe: Record<string, unknown>, context: ProbeContext): Promise<ProbeResult>;
}

interface DemoSpec {
  outcome?: "succeed" | "fail" | "ignore" | "stall";
  steps?: number;
  stepMs?: number;
  failTenants?: unknown;
  health?: "healthy" | "unhealthy";
  unhealthyTenants?: unknown;
}

const OUTCOMES = ["succeed", "fail", "ignore", "stall"];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const demoOf = (command: Command) => ((command.spec ?? {}).demo ?? {}) as DemoSpec;
const failsHere = (command: Command, demo: DemoSpec) =>
  demo.outcome === "fail" || (Array.isArray(demo.failTenants) && demo.failTenants.includes(command.tenant));
const unhealthyHere = (command: Command, demo: DemoSpec) =>
  demo.health === "unhealthy" ||
  (Array.isArray(demo.unhealthyTenants) && demo.unhealthyTenants.includes(command.tenant));
const clamp = (value: number | undefined, fallback: number, min: number, max: number) =>
  Math.min(Math.max(Math.floor(value ?? fallback), min), max);

export const demoDeployer: Deployer = {
  async plan(command) {
    const demo = demoOf(command);
    const outcome = demo.outcome ?? "succeed";
    if (!OUTCOMES.includes(outcome))
      return {
        kind: "reject",
        message: `spec.demo.outcome "${String(outcome)}" is not succeed, fail, ignore or stall`,
      };
    // ignore: the Provider's acceptance timeout fires; stall: accepted, then its completion timeout fires.
    if (outcome === "ignore") return { kind: "silent", afterAccept: false };
    if (outcome === "stall")
      return { kind: "silent", afterAccept: true, message: "accepted by the demo deployer" };
    return { kind: "run", steps: clamp(demo.steps, 3, 1, 100), message: "accepted by the demo deployer" };
  },

  async runStep(command, { step, steps }) {
    const demo = demoOf(command);
    await sleep(clamp(demo.stepMs, 200, 0, 60_000));
    if (failsHere(command, demo) && step === Math.ceil(steps / 2))
      return { kind: "failed", message: `step ${step} of ${steps} failed (demo)` };
    return { kind: "continue" };
  },

  async checkHealth(command, _probe, { probe, probes }) {
    return unhealthyHere(command, demoOf(command))
      ? { healthy: false, message: `probe ${probe} of ${probes} failed (demo)` }
      : { healthy: true, message: `probe ${probe} of ${probes} passed (demo)` };
  },
};
