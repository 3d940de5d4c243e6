/**
 * `npm run demo`: runs the product's scenarios against the local stack (the one already running at
 * DEMO_API_URL, default http://localhost:$PORT/api with PORT defaulting to 7071, or a fresh one it
 * starts and stops itself) and ends with a table of outcomes and durations. A scenario counts only if the
 * deployment record and its orchestration instance agree and both ended (for a rollout: the rollout's
 * too, dev/demo-rollouts.ts; tenant parameters and notifications check what they show,
 * dev/demo-features.ts). Exit code 1 if any is wrong.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { featureScenarios } from "./demo-features";
import { rolloutScenarios } from "./demo-rollouts";
import { checkOneTruth } from "./one-truth";
import { spawnStack } from "./stack-process";

interface Result {
  scenario: string;
  expected: string;
  actual: string;
  seconds: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function reachable(api: string): Promise<boolean> {
  try {
    return (await fetch(`${api}/tenants`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

async function ownStack(): Promise<{ api: string; stop: () => Promise<void> }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "demo-stack-"));
  const stack = await spawnStack(dataDir);
  return {
    api: stack.api,
    stop: async () => {
      await stack.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The demo's calls to the stack's API (`api`: its base, with `/api`) and its wait for a deployment. */
function client(api: string) {
  const call = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${api}${url}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const until = async (id: string, done: (d: Record<string, unknown>) => boolean) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const d = (await call("GET", `/deployments/${id}`)).body;
      if (done(d)) return d;
      if (Date.now() > deadline) return d;
      await sleep(150);
    }
  };
  const deploy = async (
    tenant: string,
    demo: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ) => {
    const res = await call("POST", `/tenants/${tenant}/deployments`, { spec: { demo }, ...extra });
    if (res.status !== 202) throw new Error(`start failed: ${res.status} ${JSON.stringify(res.body)}`);
    return String(res.body.id);
  };
  const finished = (d: Record<string, unknown>) => d.phase === "Completed";
  /**
   * The deployment's outcome once its record and its orchestration instance agree and both ended; what
   * disagrees otherwise (a record that says Cancelled over a Running instance is not a cancel).
   */
  const outcomeOf = async (id: string, done = finished): Promise<string> => {
    const d = await until(id, done);
    if (!finished(d)) return `stuck at ${String(d.phase)}`;
    const check = await checkOneTruth(new URL(api).origin, id, 15_000);
    return check.ok ? String(check.record.outcome) : check.problem;
  };
  return { call, until, deploy, finished, outcomeOf };
}

/** Runs one scenario, prints its line and returns its row; a thrown error is its (wrong) result. */
async function runScenario(name: string, expected: string, run: () => Promise<string>): Promise<Result> {
  const started = Date.now();
  let actual: string;
  try {
    actual = await run();
  } catch (error) {
    actual = `error: ${(error as Error).message}`;
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(`  ${actual === expected ? "✔" : "✘"} ${name.padEnd(20)} ${actual} (${seconds.toFixed(1)} s)`);
  return { scenario: name, expected, actual, seconds };
}

async function main(): Promise<void> {
  const wanted = process.env.DEMO_API_URL ?? `http://localhost:${process.env.PORT || "7071"}/api`;
  const stack = (await reachable(wanted)) ? { api: wanted, stop: async () => {} } : await ownStack();
  const { api } = stack;
  console.log(`Running scenarios against ${api}\n`);

  const { call, until, deploy, finished, outcomeOf } = client(api);

  const rollouts = await rolloutScenarios(api, call);
  const features = featureScenarios({ api, call, outcomeOf: (id) => outcomeOf(id) });
  const results = await Promise.all([
    runScenario("success", "Succeeded", async () =>
      outcomeOf(await deploy("contoso", { outcome: "succeed", steps: 3, stepMs: 100 })),
    ),
    runScenario("failure", "Failed", async () =>
      outcomeOf(await deploy("fabrikam", { outcome: "fail", steps: 2, stepMs: 100 })),
    ),
    runScenario("timeout", "TimedOut", async () =>
      outcomeOf(await deploy("contoso", { outcome: "ignore" }, { acceptanceTimeoutSeconds: 3 })),
    ),
    runScenario("cancel", "Cancelled", async () => {
      const id = await deploy("fabrikam", { outcome: "succeed", steps: 40, stepMs: 200 });
      await until(id, (d) => d.phase === "InProgress" || finished(d));
      await call("POST", `/deployments/${id}/cancel`);
      return outcomeOf(id);
    }),
    runScenario("retry", "Failed (attempt 2)", async () => {
      const id = await deploy("contoso", { outcome: "fail", steps: 1, stepMs: 50 });
      await outcomeOf(id);
      const retried = await call("POST", `/deployments/${id}/retry`);
      if (retried.status !== 202) return `retry refused: ${retried.status}`;
      const outcome = await outcomeOf(id, (x) => x.attempt === 2 && finished(x));
      return `${outcome} (attempt 2)`;
    }),
    runScenario("verify", "ok", async () => {
      const v = (await call("POST", "/tenants/fabrikam/verify", { timeoutSeconds: 20 })).body;
      return v.ok ? "ok" : `failed: ${JSON.stringify(v.steps)}`;
    }),
    ...[...rollouts, ...features].filter((r) => !r.alone).map((r) => runScenario(r.name, r.expected, r.run)),
  ]);
  // Scenarios that move tenants' current release run one at a time, after the rest.
  for (const r of [...rollouts, ...features].filter((f) => f.alone))
    results.push(await runScenario(r.name, r.expected, r.run));

  console.log("\n| scenario | expected | actual | seconds |\n| --- | --- | --- | --- |");
  for (const r of results)
    console.log(`| ${r.scenario} | ${r.expected} | ${r.actual} | ${r.seconds.toFixed(1)} |`);
  await stack.stop();
  const wrong = results.filter((r) => r.actual !== r.expected);
  if (wrong.length > 0) {
    console.error(`\n${wrong.length} scenario(s) ended wrong: ${wrong.map((r) => r.scenario).join(", ")}`);
    process.exit(1);
  }
  console.log("\nAll scenarios ended as expected.");
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
