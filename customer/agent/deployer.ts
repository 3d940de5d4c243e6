/**
 * The customer agent's deployers. A deployer performs one Deploy command and reports through the
 * reporter; the agent owns sequencing, duplicates and cancellation. `demoDeployer` simulates steps and
 * obeys `spec.demo = { outcome: "succeed" | "fail" | "ignore" | "stall", steps?, stepMs? }`.
 */
import type { Command, StatusState } from "../../lib/messaging/contracts";

export interface Reporter {
  report(state: StatusState, progress: number, message?: string, detail?: unknown): Promise<void>;
  /** True once a Cancel command for this deployment attempt has arrived. */
  cancelled(): boolean;
}

export interface Deployer {
  deploy(command: Command, reporter: Reporter): Promise<void>;
}

interface DemoSpec {
  outcome?: "succeed" | "fail" | "ignore" | "stall";
  steps?: number;
  stepMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const demoDeployer: Deployer = {
  async deploy(command, reporter) {
    const demo = ((command.spec ?? {}).demo ?? {}) as DemoSpec;
    const outcome = demo.outcome ?? "succeed";
    if (!["succeed", "fail", "ignore", "stall"].includes(outcome)) {
      await reporter.report(
        "Rejected",
        0,
        `spec.demo.outcome "${String(outcome)}" is not succeed, fail, ignore or stall`,
      );
      return;
    }
    if (outcome === "ignore") return; // never answers: the Provider's acceptance timeout fires
    const steps = Math.min(Math.max(Math.floor(demo.steps ?? 3), 1), 100);
    const stepMs = Math.min(Math.max(Math.floor(demo.stepMs ?? 200), 0), 60_000);
    await reporter.report("Accepted", 0, "accepted by the demo deployer");
    if (outcome === "stall") return; // accepted, then silent: the completion timeout fires
    for (let step = 1; step <= steps; step++) {
      await sleep(stepMs);
      if (reporter.cancelled()) {
        await reporter.report(
          "Cancelled",
          Math.round(((step - 1) / steps) * 100),
          `cancelled before step ${step}`,
        );
        return;
      }
      if (outcome === "fail" && step === Math.ceil(steps / 2)) {
        await reporter.report(
          "Failed",
          Math.round((step / steps) * 100),
          `step ${step} of ${steps} failed (demo)`,
        );
        return;
      }
      if (step < steps)
        await reporter.report("InProgress", Math.round((step / steps) * 100), `step ${step} of ${steps}`);
    }
    await reporter.report("Succeeded", 100, `all ${steps} steps done`);
  },
};
