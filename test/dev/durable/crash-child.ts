/**
 * Child process for the crash test: runs an engine on the given Azurite, starts three instances (one
 * in a hanging activity, one waiting on a timer, one whose sub-orchestration hangs in an activity) and
 * reports READY once the timer instance runs.
 * argv: <table connection string>
 */
import { startHarness } from "./harness";
import { registerFixtureApp } from "./fixture-app";
import type { RunningAzurite } from "../../../dev/azurite";

async function main(): Promise<void> {
  const azurite: RunningAzurite = {
    connectionString: process.argv[2],
    tableEndpoint: "",
    stop: async () => {},
  };
  const h = await startHarness(registerFixtureApp, { azurite });
  await h.client.startNew("TimerOnly", { instanceId: "crash-timer", input: 1500 });
  await h.client.startNew("Crashable", { instanceId: "crash-activity" });
  await h.client.startNew("CrashParent", { instanceId: "crash-parent" });
  for (;;) {
    const s = await h.client.getStatus("crash-timer");
    if (s.runtimeStatus === "Running") break;
    await new Promise((r) => setTimeout(r, 10));
  }
  process.stdout.write("READY\n");
}

void main();
