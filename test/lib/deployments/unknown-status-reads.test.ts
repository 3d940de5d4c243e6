/**
 * A status for a deployment the tenant does not have (made up, or another tenant's) costs the Provider at
 * most one point read before it is dead-lettered: a hostile customer's flood of them must be cheap. The
 * router runs against a real ledger on Azurite whose table client counts its requests.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { TableClient } from "@azure/data-tables";
import type { DurableClient } from "durable-functions";
import { startAzurite, RunningAzurite } from "../../../dev/azurite";
import { dispatchStatus } from "../../../lib/deployments/activities";
import { deploymentInstanceId } from "../../../lib/deployments/contract";
import { DeploymentLedger } from "../../../lib/deployments/ledger";
import type { DeploymentDeps } from "../../../lib/deployments/deps";
import { createLogger } from "../../../lib/logging/logger";
import type { ReceivedStatus } from "../../../lib/messaging/channel";
import type { Status } from "../../../lib/messaging/contracts";
import { createTableClient } from "../../../lib/storage/tables";

let azurite: RunningAzurite;
before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

/** A table client that counts the requests made through it (point reads, queries, writes). */
function counting(client: TableClient): { client: TableClient; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const wrapped = new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function" || !/Entity|Entities|Transaction/.test(String(prop))) return value;
      return (...args: unknown[]) => {
        counts.set(String(prop), (counts.get(String(prop)) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { client: wrapped, counts };
}

const status = (deploymentId: string, attempt: number, state: Status["state"] = "Accepted"): Status => ({
  schemaVersion: 1,
  deploymentId,
  attempt,
  state,
  progress: 0,
  sequence: 1,
  reportedAt: new Date().toISOString(),
});

test("unknown, foreign and made-up attempts: one point read each, and the right dead-letter reason", async () => {
  const { client, counts } = counting(createTableClient(azurite.connectionString, "deploymentsreads"));
  const ledger = new DeploymentLedger(client);
  const now = new Date().toISOString();
  await ledger.create({
    id: "fab-1",
    tenant: "fabrikam",
    attempt: 1,
    instanceId: deploymentInstanceId("fabrikam", "fab-1", 1),
    phase: "Sent",
    progress: 0,
    specDigest: "sha256:x",
    requestedAt: now,
    updatedAt: now,
  });
  await ledger.create({
    id: "con-1",
    tenant: "contoso",
    attempt: 1,
    instanceId: deploymentInstanceId("contoso", "con-1", 1),
    phase: "Sent",
    progress: 0,
    specDigest: "sha256:x",
    requestedAt: now,
    updatedAt: now,
  });
  const rt = { ledger } as unknown as DeploymentDeps;
  const durable = { raiseEvent: () => Promise.resolve() } as unknown as DurableClient;
  const log = createLogger(() => {});
  const cases: [Status, string][] = [
    [status("made-up", 1), "UnknownDeployment"],
    [status("fab-1", 1), "ForeignDeployment"],
    [status("con-1", 7), "UnknownDeployment"],
  ];
  for (const [s, reason] of cases) {
    counts.clear();
    const settled: string[] = [];
    const item = { ok: true, status: s, message: { messageId: "m" }, bytes: 100 } as ReceivedStatus;
    await dispatchStatus(
      rt,
      durable,
      "contoso",
      item,
      {
        complete: () => (settled.push("complete"), Promise.resolve()),
        deadLetter: (_m, r) => (settled.push(r), Promise.resolve()),
      },
      log,
    );
    assert.deepEqual(settled, [reason], `${s.deploymentId}:${s.attempt}`);
    const requests = [...counts.values()].reduce((a, b) => a + b, 0);
    assert.equal(requests, 1, `${s.deploymentId}:${s.attempt}: ${JSON.stringify([...counts])}`);
  }
  // A known attempt is still recorded; once known to this process, its reports cost one read and a write.
  counts.clear();
  const settled: string[] = [];
  const settle = {
    complete: () => (settled.push("complete"), Promise.resolve()),
    deadLetter: (_m: unknown, r: string) => (settled.push(r), Promise.resolve()),
  };
  const item = (s: Status) =>
    ({ ok: true, status: s, message: { messageId: "m" }, bytes: 1 }) as ReceivedStatus;
  await dispatchStatus(rt, durable, "contoso", item(status("con-1", 1)), settle, log);
  assert.equal((await ledger.get("contoso", "con-1", 1))?.phase, "Accepted");
  counts.clear();
  await dispatchStatus(
    rt,
    durable,
    "contoso",
    item({ ...status("con-1", 1, "InProgress"), sequence: 2 }),
    settle,
    log,
  );
  assert.deepEqual(Object.fromEntries(counts), { getEntity: 1, updateEntity: 1 });
  assert.deepEqual(settled, ["complete", "complete"]);
});
