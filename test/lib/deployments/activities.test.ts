/**
 * What wakes a deployment orchestration: the agent's acceptance and its end. Progress stays in the
 * ledger, so an instance's history does not grow with its reports; a report the ledger did not write
 * may be a redelivery whose raise a crash cut off, and is raised again.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { wakesDeployment } from "../../../lib/deployments/activities";
import type { DeploymentRecord, Phase } from "../../../lib/deployments/model";
import type { Status } from "../../../lib/messaging/contracts";

const status = (state: Status["state"]): Status =>
  ({
    schemaVersion: 1,
    deploymentId: "d",
    attempt: 1,
    state,
    progress: 0,
    sequence: 2,
    reportedAt: "",
  }) as Status;
const before = (phase: Phase) => ({ before: { phase } as DeploymentRecord, applied: true });

test("acceptance and the agent's end wake the deployment; later progress does not", () => {
  for (const state of ["Accepted", "Succeeded", "Failed", "Cancelled", "Rejected"] as const)
    assert.equal(wakesDeployment(status(state), before("InProgress")), true, state);
  assert.equal(wakesDeployment(status("InProgress"), before("Accepted")), false);
  assert.equal(wakesDeployment(status("InProgress"), before("InProgress")), false);
});

test("the first InProgress of an agent that skipped Accepted wakes it (it is the acceptance)", () => {
  assert.equal(wakesDeployment(status("InProgress"), before("Sent")), true);
});

test("a progress report the ledger did not write (a redelivery, a duplicate) is raised again", () => {
  assert.equal(wakesDeployment(status("InProgress"), { ...before("InProgress"), applied: false }), true);
});
