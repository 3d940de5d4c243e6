/**
 * Upgrade in flight (docs/upgrading.md): the previous release's `npm start` (from releases.json, built by
 * dev/upgrade.ts) gets work in every waiting state, Ctrl-C, then this checkout's stack starts on the same
 * data folder and everything must end with its real outcome. In-flight work goes to contoso and fabrikam
 * only: their agents were durable in every release (0.1.0's other four forgot their runs on a restart).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  isShallowClone,
  previousRelease,
  prepareRelease,
  readReleases,
  releaseMissing,
  type PreparedRelease,
} from "../../dev/upgrade";
import { spawnStack, type StackProcess } from "../../dev/stack-process";
import { commandMessage } from "../../lib/messaging/contracts";
import { assertOneTruth, assertRolloutTruth } from "../helpers/one-truth";

interface Deployment {
  id: string;
  instanceId: string;
  phase: string;
  outcome?: string;
  progress?: number;
  message?: string;
  windowOpensAt?: string;
  timeline?: { source: string; event: string; at: string }[];
}

interface Rollout {
  state: string;
  tenants: { tenant: string; phase: string; deploymentId?: string; outcome?: string }[];
}

const TIMEOUT_MS = 150_000;

async function poll<T>(
  what: string,
  read: () => Promise<T | undefined>,
  done: (v: T) => boolean,
): Promise<T> {
  const deadline = Date.now() + TIMEOUT_MS;
  let last: T | undefined;
  for (;;) {
    last = await read().catch(() => undefined);
    if (last !== undefined && done(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what} is still ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${url} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

const post = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

const deployment = (api: string, id: string, done: (d: Deployment) => boolean) =>
  poll(`deployment ${id}`, () => json<Deployment>(`${api}/deployments/${id}`), done);
const rollout = (api: string, id: string, done: (r: Rollout) => boolean) =>
  poll(`rollout ${id}`, () => json<Rollout>(`${api}/rollouts/${id}`), done);

async function startDeployment(api: string, tenant: string, body: Record<string, unknown>): Promise<string> {
  return (await json<{ id: string }>(`${api}/tenants/${tenant}/deployments`, post(body))).id;
}

async function startRollout(api: string, body: Record<string, unknown>): Promise<string> {
  return (await json<{ id: string }>(`${api}/rollouts`, post(body))).id;
}

/** A rollout over contoso (wave `first`) then fabrikam (`second`); the window registered on fabrikam is not theirs. */
const twoWaves = (extra: Record<string, unknown>) => ({
  spec: { demo: { outcome: "succeed", steps: 2, stepMs: 300 } },
  targets: { tenants: ["contoso", "fabrikam"] },
  waves: [
    { name: "first", tenants: ["contoso"] },
    { name: "second", tenants: ["fabrikam"] },
  ],
  maxConcurrency: 1,
  ignoreMaintenanceWindow: true,
  ...extra,
});

/** A five-field UTC cron for the first whole minute at least `leadMs` from now. */
function cronAtLeast(leadMs: number): string {
  const at = new Date(Math.ceil((Date.now() + leadMs) / 60_000) * 60_000);
  return `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`;
}

test("the previous release is the newest in releases.json not above package.json's version", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "releases-"));
  const sha = (c: string) => c.repeat(40);
  const at = (version: string, releases: Record<string, string>) => {
    fs.writeFileSync(path.join(root, "package.json"), JSON.stringify({ version }));
    fs.writeFileSync(path.join(root, "releases.json"), JSON.stringify(releases));
    return previousRelease(root);
  };
  try {
    const releases = { "0.1.0": sha("a"), "0.10.0": sha("c"), "0.2.0": sha("b") };
    // Not yet bumped: the code since 0.1.0 is upgraded from 0.1.0.
    assert.deepEqual(at("0.1.0", { "0.1.0": sha("a") }), { version: "0.1.0", commit: sha("a") });
    // Bumped, not yet recorded; then recorded; versions compare by number, not as text.
    assert.equal(at("0.2.0", { "0.1.0": sha("a") }).version, "0.1.0");
    assert.equal(at("0.2.0", releases).version, "0.2.0");
    assert.equal(at("0.9.0", releases).version, "0.2.0");
    assert.equal(at("0.10.1", releases).version, "0.10.0");
    assert.throws(() => at("0.0.1", releases), /no release at or below 0.0.1/);
    assert.throws(() => at("0.1.0", { "0.1.0": "fb52088" }), /full 40-character commit sha/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  // The repository's own file is well formed and names 0.1.0.
  assert.ok(readReleases().some((r) => r.version === "0.1.0"));
});

test("upgrade in flight: work started on the previous release ends with its real outcome on this one", async (t) => {
  // A shallow CI checkout cannot hold the previous release (.ci/run unshallows when it can): said loudly,
  // never silently. Anywhere else a missing release fails the test.
  const missing = releaseMissing(previousRelease());
  if (missing && isShallowClone()) return t.skip(`shallow clone: ${missing}`);
  const began = Date.now();
  const release: PreparedRelease = prepareRelease();
  t.diagnostic(
    `previous release ${release.version} (${release.commit.slice(0, 7)}) ${release.reused ? "reused" : "built"} in ${Math.round((Date.now() - began) / 1000)} s`,
  );
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "upgrade-"));
  let running: StackProcess | undefined;
  try {
    // 1. The previous release, with work in each state a Ctrl-C can catch. Steps are long enough that a
    //    loaded machine still reaches the stop with them running (the window wait is longer anyway).
    const old = (running = await spawnStack(dataDir, release.startScript));
    const api = old.api;
    const long = {
      spec: { demo: { outcome: "succeed", steps: 15, stepMs: 1000 } },
      ignoreMaintenanceWindow: true,
    };
    const runs = [await startDeployment(api, "contoso", long), await startDeployment(api, "fabrikam", long)];
    const approval = await startRollout(api, twoWaves({ approval: "afterEachWave" }));
    const baking = await startRollout(api, twoWaves({ bakeSeconds: 40 }));
    // Mid-batch: one wave of both tenants, one at a time, so one deploys and one waits at the stop.
    const batch = await startRollout(api, {
      ...twoWaves({}),
      spec: { demo: { outcome: "succeed", steps: 12, stepMs: 1000 } },
      waves: [{ name: "all", tenants: ["contoso", "fabrikam"] }],
    });

    for (const id of runs) await deployment(api, id, (d) => d.phase === "InProgress");
    await rollout(api, approval, (r) => r.state === "WaitingForApproval");
    await rollout(api, baking, (r) => r.state === "Baking");
    const midBatch = await rollout(api, batch, (r) =>
      r.tenants.some((x) => x.deploymentId !== undefined && x.phase !== "Completed"),
    );
    const batchFirst = midBatch.tenants.find((x) => x.deploymentId !== undefined)?.deploymentId as string;
    await deployment(api, batchFirst, (d) => d.phase === "InProgress");

    // A maintenance window that opens a little after the restart: registered last, so that nothing else
    // waits for it (the rest says ignoreMaintenanceWindow), and the deployment waits for it at the stop.
    const fabrikam = await fetch(`${api}/tenants/fabrikam`);
    // The GET view minus what only the server writes is the PUT body.
    const { name, createdAt, updatedAt, ...registration } = (await fabrikam.json()) as Record<
      string,
      unknown
    >;
    assert.equal(name, "fabrikam");
    assert.ok(createdAt !== undefined && updatedAt !== undefined);
    const replaced = await fetch(`${api}/tenants/fabrikam`, {
      method: "PUT",
      headers: { "content-type": "application/json", "if-match": fabrikam.headers.get("etag") as string },
      body: JSON.stringify({
        ...registration,
        maintenanceWindows: [{ cron: cronAtLeast(25_000), durationMinutes: 30, timeZone: "UTC" }],
      }),
    });
    assert.equal(replaced.status, 200, await replaced.text());
    const windowed = await startDeployment(api, "fabrikam", {
      spec: { demo: { outcome: "succeed", steps: 3, stepMs: 300 } },
    });
    const waiting = await deployment(api, windowed, (d) => d.phase === "WaitingForWindow");
    assert.ok(Date.parse(waiting.windowOpensAt as string) > Date.now(), "the window opens after the stop");

    // Cancel grace, last, so that it is still open at the stop: the agent honours a Cancel only between
    // steps, so it acknowledges this one only when its 6 s step ends (and a Ctrl-C still finds the agent
    // done with the step within the supervisor's 10 s).
    const cancelled = await startDeployment(api, "contoso", {
      spec: { demo: { outcome: "succeed", steps: 2, stepMs: 6000 } },
    });
    await deployment(api, cancelled, (d) => d.phase === "Accepted");
    await json(`${api}/deployments/${cancelled}/cancel`, post({}));
    const { instanceId } = await json<Deployment>(`${api}/deployments/${cancelled}`);
    await poll(
      `deployment ${cancelled}'s instance`,
      () =>
        json<{ customStatus?: { message?: string } }>(
          `${new URL(api).origin}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}`,
        ),
      (s) => s.customStatus?.message === "Cancel requested",
    );

    // Everything is still where it was put when Ctrl-C comes.
    assert.equal((await json<Rollout>(`${api}/rollouts/${approval}`)).state, "WaitingForApproval");
    assert.equal((await json<Rollout>(`${api}/rollouts/${baking}`)).state, "Baking");
    for (const id of [...runs, batchFirst, cancelled])
      assert.equal(
        (await json<Deployment>(`${api}/deployments/${id}`)).outcome,
        undefined,
        `${id} in flight`,
      );
    running = undefined;
    // Usually a clean stop (0). Now and then the supervisor has to kill a part that did not stop within its
    // 10 s (1), which an upgrade must survive as well, so either is accepted and the kill is reported.
    const code = await old.stop();
    if (code !== 0) t.diagnostic(`the previous release did not stop cleanly:\n${old.output().slice(-2000)}`);
    assert.ok(code === 0 || code === 1, `the previous release exited ${code}`);

    // 2. This checkout's stack on the same data.
    const current = (running = await spawnStack(dataDir));
    const api2 = current.api;
    const origin = new URL(api2).origin;
    await rollout(api2, approval, (r) => r.state === "WaitingForApproval");
    await json(`${api2}/rollouts/${approval}/approve`, post({}));

    for (const id of [...runs, batchFirst]) {
      const d = await deployment(api2, id, (x) => x.outcome !== undefined);
      assert.equal(d.outcome, "Succeeded", `${id}: ${d.message}`);
      assert.equal(d.progress, 100);
    }
    const cancel = await deployment(api2, cancelled, (x) => x.outcome !== undefined);
    assert.equal(cancel.outcome, "Cancelled", cancel.message);
    const windowDone = await deployment(api2, windowed, (x) => x.outcome !== undefined);
    assert.equal(windowDone.outcome, "Succeeded", windowDone.message);
    const accepted = windowDone.timeline?.find((e) => e.source === "agent");
    assert.ok(
      accepted && Date.parse(accepted.at) >= Date.parse(waiting.windowOpensAt as string),
      "the agent heard of it only once the window opened",
    );
    for (const id of [approval, baking, batch]) {
      const r = await assertRolloutTruth(origin, id, TIMEOUT_MS);
      assert.equal(r.state, "Succeeded", `rollout ${id}`);
      assert.deepEqual(
        r.waves.map((w) => [w.total, w.succeeded]),
        id === batch
          ? [[2, 2]]
          : [
              [1, 1],
              [1, 1],
            ],
      );
    }

    // Every deployment either stack started ended as it really did: only ours was Cancelled, nothing
    // Failed (a non-determinism or another Provider-side error ends a deployment Failed), one truth each.
    for (const tenant of ["contoso", "fabrikam"]) {
      const all = await json<{ items: Deployment[] }>(`${api2}/tenants/${tenant}/deployments?top=100`);
      for (const d of all.items) {
        assert.equal(d.outcome, d.id === cancelled ? "Cancelled" : "Succeeded", `${d.id}: ${d.message}`);
        await assertOneTruth(origin, d.id);
      }
    }
    assert.doesNotMatch(current.output(), /non-?determinis/i);
    running = undefined;
    assert.equal(await current.stop(), 0);
  } finally {
    await running?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    release.dispose();
  }
});

test("the previous release's agent reads this release's Deploy with a health check, and deploys it as before", async (t) => {
  // The health check rides in the spec because the command's schema refuses unknown fields
  // (docs/messages.md, "Health reports"): the previous release's own parser and deployer are the judges.
  const missing = releaseMissing(previousRelease());
  if (missing && isShallowClone()) return t.skip(`shallow clone: ${missing}`);
  const release = prepareRelease();
  try {
    const built = (module: string) => path.join(release.dir, "dist", ...module.split("/"));
    /* eslint-disable @typescript-eslint/no-require-imports -- the previous release's build, by path */
    const old = require(
      built("lib/messaging/contracts.js"),
    ) as typeof import("../../lib/messaging/contracts");
    const oldAgent = require(
      built("customer/agent/deployer.js"),
    ) as typeof import("../../customer/agent/deployer");
    /* eslint-enable @typescript-eslint/no-require-imports */
    const healthCheck = { version: 1, probe: { path: "/healthz" }, windowSeconds: 60, intervalSeconds: 30 };
    const message = commandMessage(
      {
        schemaVersion: 1,
        type: "Deploy",
        deploymentId: "r-1.contoso",
        attempt: 1,
        tenant: "contoso",
        spec: { demo: { steps: 1 }, healthCheck },
        requestedAt: new Date().toISOString(),
      },
      new Date(),
    );
    const parsed = old.parseCommand({
      body: Buffer.from(JSON.stringify(message.body), "utf8"),
      contentType: message.contentType,
      applicationProperties: message.applicationProperties,
    });
    assert.ok(parsed.ok, JSON.stringify(parsed));
    assert.deepEqual(parsed.value.spec?.healthCheck, healthCheck);
    assert.equal((await oldAgent.demoDeployer.plan(parsed.value)).kind, "run");
  } finally {
    release.dispose();
  }
});
