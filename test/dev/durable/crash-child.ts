/**
 * Child process for the crash test: runs an engine on the given Azurite, starts two instances and
 * reports READY once one is inside a (hanging) activity and the other waits on a timer.
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
  for (;;) {
    const s = await h.client.getStatus("crash-timer");
    if (s.runtimeStatus === "Running") break;
    await new Promise((r) => setTimeout(r, 10));
  }
  process.stdout.write("READY\n");
}

void main();
