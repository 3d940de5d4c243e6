import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import { startHarness, waitFor, type Harness } from "./harness";

let h: Harness;

before(async () => {
  h = await startHarness(() => {
    df.app.activity("Echo", { handler: async (input: unknown) => `child got ${String(input)}` });
    df.app.orchestration("ClientChild", function* (context) {
      return yield context.df.callActivity("Echo", context.df.getInput());
    });
    df.app.activity("StartChild", {
      extraInputs: [df.input.durableClient()],
      handler: async (input: unknown, context) => {
        const client = df.getClient(context);
        return client.startNew("ClientChild", { instanceId: `child-of-${String(input)}`, input });
      },
    });
    df.app.orchestration("ClientParent", function* (context) {
      return yield context.df.callActivity("StartChild", context.df.instanceId);
    });
  });
});

after(async () => {
  await h.close();
});

test("an activity with a durable client input can start another orchestration", async () => {
  const id = await h.client.startNew("ClientParent", { instanceId: "parent-1" });
  const parent = await waitFor(h.client, id);
  assert.equal(parent.runtimeStatus, "Completed");
  assert.equal(parent.output, "child-of-parent-1");
  const child = await waitFor(h.client, "child-of-parent-1");
  assert.equal(child.runtimeStatus, "Completed");
  assert.equal(child.output, "child got parent-1");
});
