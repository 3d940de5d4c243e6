/**
 * Races the code handles are not errors: a person reading the console must not see one for them.
 * Each case fakes the losing side of the race and checks that nothing is logged at warn or error.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DurableClient } from "durable-functions";
import { ensureStatusPumpActivity, dispatchStatus } from "../../../lib/deployments/activities";
import type { DeploymentDeps } from "../../../lib/deployments/deps";
import { createLogger, type LogLevel } from "../../../lib/logging/logger";
import type { ReceivedStatus } from "../../../lib/messaging/channel";

function recorder() {
  const levels: LogLevel[] = [];
  return { levels, log: createLogger((level) => levels.push(level)) };
}

function quietConsole(t: { mock: { method: (o: object, m: string, f: () => void) => unknown } }) {
  const loud: string[] = [];
  t.mock.method(console, "warn", () => loud.push("warn"));
  t.mock.method(console, "error", () => loud.push("error"));
  return loud;
}

const gone = () => Promise.reject(Object.assign(new Error("Instance is not running (410)"), { status: 410 }));

test("ensureStatusPump: another deployment started the pump first (startNew conflicts)", async (t) => {
  const loud = quietConsole(t);
  const client = {
    getStatus: () => Promise.resolve(undefined),
    startNew: () =>
      Promise.reject(new Error("An Orchestration instance with the ID statusPump:contoso already exists")),
  } as unknown as DurableClient;
  const started = await ensureStatusPumpActivity(
    {
      settings: { statusDelivery: "pump" },
      health: { quarantine: () => Promise.resolve(undefined) },
    } as never,
    client,
    "contoso",
  );
  assert.equal(started, false);
  assert.deepEqual(loud, []);
});

const message = { messageId: "m1" } as ReceivedStatus["message"];
const status = (state: "Pong" | "Succeeded") => ({
  schemaVersion: 1 as const,
  deploymentId: state === "Pong" ? "ping-1" : "d-1",
  attempt: 1,
  state,
  progress: 100,
  sequence: 3,
  reportedAt: "2026-01-02T12:00:00.000Z",
});

test("dispatchStatus: a late Pong for a verification that timed out, a repeated status for a finished deployment", async (t) => {
  const loud = quietConsole(t);
  const settled: string[] = [];
  const settle = {
    complete: () => (settled.push("complete"), Promise.resolve()),
    deadLetter: () => (settled.push("deadLetter"), Promise.resolve()),
  };
  const client = {
    raiseEvent: gone,
    getStatus: () => Promise.resolve(undefined),
  } as unknown as DurableClient;
  const finished = {
    id: "d-1",
    tenant: "contoso",
    attempt: 1,
    instanceId: "deploy:contoso:d-1:1",
    phase: "Completed",
  };
  const rt = {
    ledger: { report: () => Promise.resolve({ record: finished, before: finished, applied: false }) },
  } as unknown as DeploymentDeps;
  const { levels, log } = recorder();

  await dispatchStatus(
    rt,
    client,
    "contoso",
    { ok: true, status: status("Pong"), message, bytes: 0 },
    settle,
    log,
  );
  await dispatchStatus(
    rt,
    client,
    "contoso",
    { ok: true, status: status("Succeeded"), message, bytes: 0 },
    settle,
    log,
  );

  assert.deepEqual(settled, ["complete", "complete"], "both are completed, not redelivered");
  assert.deepEqual(
    levels.filter((l) => l === "warn" || l === "error"),
    [],
  );
  assert.deepEqual(loud, []);
});
