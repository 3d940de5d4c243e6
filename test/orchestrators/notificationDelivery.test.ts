/**
 * The notificationDelivery orchestration on its own (real SDK replay on the dev host's durable engine,
 * Azurite state, durable time skipping), with a scripted `deliverNotification` activity: attempts until
 * one is delivered, back-off between them, no retry of what cannot succeed, and the last attempt ends it.
 */
import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import { appVersioning, startHarness, waitFor, type Harness } from "../dev/durable/harness";
import { recordHistories } from "../replay/recorder";
import {
  type AttemptInput,
  type AttemptResult,
  type DeliveryInput,
  deliveryInstanceId,
  NOTIFICATION_ACTIVITIES,
  NOTIFICATION_ORCHESTRATION,
} from "../../lib/notifications/contract";
import { cloudEvent } from "../../lib/notifications/model";

/** Per subscription, what each successive attempt answers (the last one repeats). */
const scripts = new Map<string, AttemptResult[]>();
const attempts = new Map<string, { attempt: number; last: boolean; at: number }[]>();

let h: Harness;
before(async () => {
  h = await startHarness(
    () => {
      // The real module, loaded as the host loads it: it registers the orchestration at module load.
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- registration must happen inside the capture
      require("../../orchestrators/notificationDelivery");
      df.app.activity(NOTIFICATION_ACTIVITIES.deliver.name, {
        handler: (input: AttemptInput): AttemptResult => {
          const seen = attempts.get(input.subscriptionId) ?? [];
          seen.push({ attempt: input.attempt, last: input.last, at: Date.now() });
          attempts.set(input.subscriptionId, seen);
          const script = scripts.get(input.subscriptionId) ?? [];
          return (script.length > 1 ? script.shift() : script[0]) ?? { delivered: true };
        },
      });
    },
    { timeSkipping: true, versioning: appVersioning("provider") },
  );
  record = recordHistories(h, "provider", [NOTIFICATION_ORCHESTRATION]);
});

let record: (t: { name: string }) => Promise<void>;
afterEach((t) => record(t));

after(async () => {
  await h.close();
});

const event = cloudEvent(
  "deployment.finished",
  "/deployments/d-1",
  "contoso:d-1:1",
  { tenant: "contoso", deploymentId: "d-1", attempt: 1, outcome: "Succeeded" },
  "2026-12-07T00:00:00.000Z",
);

async function deliver(subscriptionId: string, limit = 4) {
  const input: DeliveryInput = { subscriptionId, event, attempts: limit, firstSeconds: 10, maxSeconds: 15 };
  const instanceId = deliveryInstanceId(subscriptionId, event.id);
  await h.client.startNew(NOTIFICATION_ORCHESTRATION, { instanceId, input });
  const s = await waitFor(h.client, instanceId, undefined, 30_000);
  assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s));
  return s.output as AttemptResult;
}

test("a failed attempt is tried again after a back-off, until one is delivered", async () => {
  const down = { delivered: false, retry: true, reason: "answered HTTP 503" } as const;
  scripts.set("s-retry", [down, down, { delivered: true }]);
  assert.deepEqual(await deliver("s-retry"), { delivered: true });
  assert.deepEqual(
    attempts.get("s-retry")?.map((a) => a.attempt),
    [1, 2, 3],
  );
});

test("what cannot succeed is not tried again; the last attempt ends the delivery", async () => {
  scripts.set("s-gone", [{ delivered: false, retry: false, reason: "answered HTTP 410" }]);
  assert.deepEqual(await deliver("s-gone"), { delivered: false, retry: false, reason: "answered HTTP 410" });
  assert.equal(attempts.get("s-gone")?.length, 1);
  scripts.set("s-down", [{ delivered: false, retry: true, reason: "timed out" }]);
  const ended = await deliver("s-down", 3);
  assert.equal(ended.delivered, false);
  assert.deepEqual(
    attempts.get("s-down")?.map((a) => [a.attempt, a.last]),
    [
      [1, false],
      [2, false],
      [3, true],
    ],
    "three attempts, the third told it is the last",
  );
});
