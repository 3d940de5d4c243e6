import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnStack, type StackProcess } from "../../dev/stack-process";
import { assertOneTruth } from "../helpers/one-truth";

interface Deployment {
  phase: string;
  outcome?: string;
  progress?: number;
}

async function waitFor(api: string, id: string, done: (d: Deployment) => boolean): Promise<Deployment> {
  // Generous: a status the dead host had received but not completed comes back after its 30 s lock.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`${api}/deployments/${id}`).catch(() => undefined);
    const d = res?.ok ? ((await res.json()) as Deployment) : undefined;
    if (d && done(d)) return d;
    if (Date.now() > deadline) throw new Error(`deployment ${id} is still ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function start(api: string, tenant: string, steps: number, stepMs: number): Promise<string> {
  const res = await fetch(`${api}/tenants/${tenant}/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ spec: { demo: { outcome: "succeed", steps, stepMs } } }),
  });
  assert.equal(res.status, 202);
  return ((await res.json()) as { id: string }).id;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("kill -9 of the Provider host with a deployment in flight: the supervisor restarts it and the deployment finishes", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-crash-"));
  let stack: StackProcess | undefined;
  try {
    stack = await spawnStack(dataDir);
    const { api } = stack;
    // Fabrikam: the Entra path, so the restarted host must also sign in again through the issuer.
    const id = await start(api, "fabrikam", 5, 600);
    await waitFor(api, id, (d) => d.phase === "InProgress");
    const before = stack.pidOf("provider");
    const mark = stack.output().length;
    process.kill(before, "SIGKILL");
    await stack.waitForOutput(
      /^\[supervisor\] provider exited \(signal SIGKILL\); restart 1 in \d+ ms$/m,
      mark,
    );
    const again = await stack.waitForOutput(
      /^\[supervisor\] provider ready again after restart 1(?: at \S+)? \(pid (\d+)\)$/m,
      mark,
    );
    assert.notEqual(Number(again[1]), before);
    assert.equal(alive(before), false);

    // Same URL: the supervisor gives a restarted part the port it had.
    const done = await waitFor(api, id, (d) => d.outcome !== undefined);
    assert.equal(done.outcome, "Succeeded", "the in-flight deployment finishes after the crash");
    assert.equal(done.progress, 100);
    await assertOneTruth(new URL(api).origin, id);
    // The restarted host takes new work too, through the other way in (SAS).
    const next = await start(api, "contoso", 2, 50);
    assert.equal((await waitFor(api, next, (d) => d.outcome !== undefined)).outcome, "Succeeded");

    const parts = ["azurite", "issuer", "servicebus", "provider", "agent-contoso", "agent-fabrikam"];
    const pids = parts.map((p) => (stack as StackProcess).pidOf(p));
    const running = stack;
    stack = undefined;
    assert.equal(await running.stop(), 0, "Ctrl-C is a clean stop");
    assert.deepEqual(pids.filter(alive), [], "no part outlives the stack");
  } finally {
    await stack?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
