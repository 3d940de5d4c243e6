/**
 * `npm run chaos`: the project's own fault-injection suite, against the real local stack (`npm start`'s
 * supervised processes on free ports and a fresh data folder). Each scenario injects one fault while
 * deployments are in flight and then counts, per deployment:
 * - lost: the deployment has no record any more;
 * - wrong: record and orchestration instance disagree, or the outcome is not the real one;
 * - stuck: not ended (record or instance) by the scenario's deadline;
 * - duplicated: run twice (a second attempt, a second Accepted, or an agent step scheduled twice);
 * and the recovery time (fault to the last deployment ended). It prints a table and exits 1 unless every
 * count is 0. Scenarios: kill -9 of the Provider host, kill -9 of a customer agent, the Service Bus
 * emulator frozen (SIGSTOP: connections hang, as in a network partition) with deployments started during
 * the freeze, and a flood of bad statuses beside real deployments. `CHAOS_SCALE=small` runs a short
 * version (what `npm test` runs); `CHAOS_ONLY=<name,...>` picks scenarios.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBusClient, type ServiceBusMessage } from "@azure/service-bus";
import { AGENT_ACTIVITIES, agentInstanceId, statusMessage } from "./product";
import { calibrate } from "./calibration";
import { checkOneTruth, checkRolloutTruth, type DeploymentView, type RolloutView } from "./one-truth";
import { WELL_KNOWN_KEY, WELL_KNOWN_KEY_NAME } from "./servicebus-emulator/config";
import { spawnStack, type StackProcess } from "./stack-process";

interface Scale {
  providerKill: number;
  agentKill: number;
  outage: { inFlight: number; startedDuring: number; seconds: number };
  badStatuses: { bad: number; real: number };
}

const SCALES: Record<string, Scale> = {
  full: {
    providerKill: 100,
    agentKill: 10,
    outage: { inFlight: 20, startedDuring: 3, seconds: 10 },
    badStatuses: { bad: 1000, real: 10 },
  },
  small: {
    providerKill: 10,
    agentKill: 3,
    outage: { inFlight: 4, startedDuring: 1, seconds: 4 },
    badStatuses: { bad: 70, real: 3 },
  },
};

export interface ScenarioResult {
  scenario: string;
  deployments: number;
  lost: number;
  wrong: number;
  stuck: number;
  duplicated: number;
  recoverySeconds: number;
  problems: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Where a part that serves HTTP listens, as the supervisor last reported it ready. */
function partUrl(stack: StackProcess, part: string): string {
  const all = [
    ...stack.output().matchAll(new RegExp(`^\\[supervisor\\] ${part} ready.* at (\\S+) \\(pid`, "gm")),
  ];
  const last = all.at(-1);
  if (!last) throw new Error(`the supervisor has not reported where ${part} listens`);
  return last[1] as string;
}

/**
 * Where a customer's agent host serves its Durable management API: its own part (`agent-contoso`), or
 * its thread in the `agents` part, which prints `[agents] <tenant>: agent host at <url>`.
 */
function agentHostUrl(stack: StackProcess, tenant: string): string {
  const shared = [
    ...stack.output().matchAll(new RegExp(`^\\[agents\\] ${tenant}: agent host at (\\S+)$`, "gm")),
  ];
  return shared.at(-1)?.[1] ?? partUrl(stack, `agent-${tenant}`);
}

/** A SAS connection string for a SAS customer's namespace, from the banner and the emulator's dev key. */
function namespaceConnectionString(stack: StackProcess, tenant: string): string {
  const m = new RegExp(`${tenant}\\.servicebus\\.localhost -> sb://localhost:(\\d+)`).exec(stack.output());
  if (!m) throw new Error(`the banner does not show ${tenant}'s namespace`);
  return `Endpoint=sb://localhost:${m[1]};SharedAccessKeyName=${WELL_KNOWN_KEY_NAME};SharedAccessKey=${WELL_KNOWN_KEY};UseDevelopmentEmulator=true;`;
}

class Chaos {
  readonly origin: string;
  constructor(
    readonly stack: StackProcess,
    readonly scale: Scale,
  ) {
    this.origin = new URL(stack.api).origin;
  }

  async call(method: string, url: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.stack.api}${url}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  }

  /** Lets a tenant take every deployment a scenario starts at once. */
  async raiseLimit(tenant: string): Promise<void> {
    const r = (await this.call("GET", `/tenants/${tenant}`)).body as Record<string, unknown> & {
      limits: Record<string, number>;
    };
    const res = await this.call("PUT", `/tenants/${tenant}`, {
      directoryId: r.directoryId,
      ...(r.displayName ? { displayName: r.displayName } : {}),
      serviceBus: r.serviceBus,
      auth: r.auth,
      labels: r.labels,
      maintenanceWindows: r.maintenanceWindows,
      limits: { ...r.limits, maxConcurrentDeployments: 1000 },
    });
    if (res.status !== 200)
      throw new Error(`raising ${tenant}'s limit: ${res.status} ${JSON.stringify(res.body)}`);
  }

  async start(tenant: string, demo: Record<string, unknown>): Promise<string> {
    const res = await this.call("POST", `/tenants/${tenant}/deployments`, {
      spec: { demo },
      completionTimeoutSeconds: 300,
    });
    if (res.status !== 202) throw new Error(`start on ${tenant}: ${res.status} ${JSON.stringify(res.body)}`);
    return (res.body as { id: string }).id;
  }

  async startMany(tenants: string[], n: number, demo: Record<string, unknown>): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i += 10)
      ids.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(10, n - i) }, (_, k) =>
            this.start(tenants[(i + k) % tenants.length]!, demo),
          ),
        )),
      );
    return ids;
  }

  /** The record; undefined when there is none, or while the Provider is down (it is being restarted). */
  async record(id: string): Promise<DeploymentView | undefined> {
    try {
      const res = await fetch(`${this.stack.api}/deployments/${id}`);
      return res.status === 200 ? ((await res.json()) as DeploymentView) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Waits until at least `count` of the deployments report progress (so a fault lands mid-run). */
  async untilInProgress(ids: string[], count: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const records = await Promise.all(ids.map((id) => this.record(id)));
      if (records.filter((r) => r?.phase === "InProgress").length >= count) return;
      await sleep(100);
    }
    throw new Error(`fewer than ${count} of ${ids.length} deployments reached InProgress`);
  }

  /** Waits until every deployment ended (or the deadline passed); returns when the last one ended. */
  async settle(ids: string[], timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let pending = [...ids];
    while (pending.length > 0 && Date.now() < deadline) {
      const records = await Promise.all(pending.map(async (id) => [id, await this.record(id)] as const));
      pending = records.filter(([, r]) => r?.phase !== "Completed").map(([id]) => id);
      if (pending.length > 0) await sleep(200);
    }
    return Date.now();
  }

  /**
   * Whether the customer's agent ran the attempt more than once: its instance started twice, or it
   * scheduled more deployer steps than the deployment has (a step re-run after a crash in the middle of
   * it is at-least-once execution inside one scheduled step, and not counted here).
   */
  async agentRanTwice(record: DeploymentView, tenant: string, steps: number): Promise<string | undefined> {
    const agentUrl = agentHostUrl(this.stack, tenant);
    const instance = encodeURIComponent(agentInstanceId(record.id, record.attempt));
    const res = await fetch(
      `${agentUrl}/runtime/webhooks/durabletask/instances/${instance}?showHistory=true`,
    );
    if (res.status !== 200) return `the agent has no instance for it (${res.status})`;
    const history =
      ((await res.json()) as { historyEvents?: { EventType: string; FunctionName?: string }[] })
        .historyEvents ?? [];
    const starts = history.filter((e) => e.EventType === "ExecutionStarted").length;
    if (starts > 1) return `the agent's instance started ${starts} times`;
    const scheduled = history.filter(
      (e) => e.EventType === "TaskScheduled" && e.FunctionName === AGENT_ACTIVITIES.step.name,
    ).length;
    return scheduled > steps ? `the agent scheduled ${scheduled} steps of ${steps}` : undefined;
  }

  /** Counts the four failure kinds over a scenario's deployments. */
  async judge(
    scenario: string,
    ids: { id: string; tenant: string; expected: string; steps: number }[],
    faultAt: number,
    endedAt: number,
  ): Promise<ScenarioResult> {
    const result: ScenarioResult = {
      scenario,
      deployments: ids.length,
      lost: 0,
      wrong: 0,
      stuck: 0,
      duplicated: 0,
      recoverySeconds: Math.round((endedAt - faultAt) / 100) / 10,
      problems: [],
    };
    for (const { id, tenant, expected, steps } of ids) {
      const check = await checkOneTruth(this.origin, id, 2000);
      if (!check.ok) {
        if (check.lost) result.lost++;
        else if (check.stuck) result.stuck++;
        else result.wrong++;
        result.problems.push(check.problem);
        continue;
      }
      const r = check.record;
      if (r.outcome !== expected) {
        result.wrong++;
        result.problems.push(`${id}: ${r.outcome} (${r.message ?? ""}), expected ${expected}`);
      }
      const full = await this.record(id);
      const accepted = (full?.timeline ?? []).filter(
        (e) => e.source === "agent" && e.event === "Accepted",
      ).length;
      const twice =
        r.attempt > 1
          ? `attempt ${r.attempt}`
          : accepted > 1
            ? `${accepted} Accepted reports`
            : await this.agentRanTwice(r, tenant, steps);
      if (twice) {
        result.duplicated++;
        result.problems.push(`${id} ran twice: ${twice}`);
      }
    }
    return result;
  }

  /** `kill -9` of one part once enough deployments report progress; the supervisor restarts it. */
  async killMidRun(
    scenario: string,
    part: string,
    tenants: string[],
    n: number,
    steps: number,
    inProgress: number,
  ): Promise<ScenarioResult> {
    const ids = await this.startMany(tenants, n, { outcome: "succeed", steps, stepMs: 500 });
    await this.untilInProgress(ids, inProgress);
    const faultAt = Date.now();
    process.kill(this.stack.pidOf(part), "SIGKILL");
    const endedAt = await this.settle(ids, 240_000);
    return this.judge(
      scenario,
      ids.map((id, i) => ({ id, tenant: tenants[i % tenants.length]!, expected: "Succeeded", steps })),
      faultAt,
      endedAt,
    );
  }

  providerKill(): Promise<ScenarioResult> {
    const n = this.scale.providerKill;
    return this.killMidRun(
      "Provider host kill -9",
      "provider",
      ["contoso", "fabrikam"],
      n,
      8,
      Math.ceil(n / 4),
    );
  }

  agentKill(): Promise<ScenarioResult> {
    const n = this.scale.agentKill;
    return this.killMidRun("customer agent kill -9", "agent-contoso", ["contoso"], n, 6, Math.ceil(n / 2));
  }

  /**
   * `kill -9` of the Provider host in the middle of a rollout over every customer (the second wave in
   * flight): the rollout must still end Succeeded, each tenant deployed once, record and instances in
   * agreement (the batch's advance re-runs after the crash and finds the deployments it had started).
   */
  async rolloutProviderKill(): Promise<ScenarioResult> {
    const tenants = ((await this.call("GET", "/tenants")).body as { items: { name: string }[] }).items.map(
      (t) => t.name,
    );
    const steps = 6;
    const res = await this.call("POST", "/rollouts", {
      spec: { demo: { outcome: "succeed", steps, stepMs: 400 } },
      targets: { tenants },
      waves: [{ name: "first", tenants: [tenants[0]] }, { name: "rest" }],
      maxConcurrency: 3,
      ignoreMaintenanceWindow: true,
    });
    if (res.status !== 202) throw new Error(`rollout: ${res.status} ${JSON.stringify(res.body)}`);
    const id = (res.body as { id: string }).id;
    const view = async () => {
      try {
        const r = await fetch(`${this.stack.api}/rollouts/${id}`);
        return r.ok ? ((await r.json()) as RolloutView) : undefined;
      } catch {
        return undefined; // the Provider is being restarted
      }
    };
    const deadline = Date.now() + 60_000;
    while (!((await view())?.waves[1]?.running ?? 0)) {
      if (Date.now() > deadline) throw new Error("the rollout's second wave never started");
      await sleep(100);
    }
    const faultAt = Date.now();
    process.kill(this.stack.pidOf("provider"), "SIGKILL");
    const settleBy = Date.now() + 240_000;
    while (Date.now() < settleBy && !["Succeeded", "Halted", "Aborted"].includes((await view())?.state ?? ""))
      await sleep(200);
    const check = await checkRolloutTruth(this.origin, id, 30_000);
    const endedAt = Date.now();
    const rollout = check.ok ? check.rollout : await view();
    const result = await this.judge(
      "Provider host kill -9 mid-rollout",
      (rollout?.tenants ?? []).flatMap((t) =>
        t.deploymentId ? [{ id: t.deploymentId, tenant: t.tenant, expected: "Succeeded", steps }] : [],
      ),
      faultAt,
      endedAt,
    );
    if (!check.ok) {
      result.stuck++;
      result.problems.push(check.problem);
    } else if (
      check.rollout.state !== "Succeeded" ||
      (check.rollout.tenants ?? []).length !== tenants.length
    ) {
      result.wrong++;
      result.problems.push(
        `rollout ${id} ended ${check.rollout.state} with ${JSON.stringify(check.rollout.waves)}`,
      );
    }
    result.lost += tenants.length - result.deployments;
    return result;
  }

  async brokerOutage(): Promise<ScenarioResult> {
    const { inFlight, startedDuring, seconds } = this.scale.outage;
    const tenants = ["contoso", "fabrikam"];
    const demo = { outcome: "succeed", steps: 6, stepMs: 500 };
    const ids = await this.startMany(tenants, inFlight, demo);
    await this.untilInProgress(ids, Math.ceil(inFlight / 2));
    const broker = this.stack.pidOf("servicebus");
    const faultAt = Date.now();
    process.kill(broker, "SIGSTOP");
    let during: string[] = [];
    try {
      await sleep(500);
      during = await this.startMany(tenants, startedDuring, demo);
      await sleep(Math.max(0, seconds * 1000 - (Date.now() - faultAt)));
    } finally {
      process.kill(broker, "SIGCONT");
    }
    const all = [...ids, ...during];
    const endedAt = await this.settle(all, 240_000);
    return this.judge(
      `Service Bus frozen ${seconds} s`,
      all.map((id, i) => ({
        id,
        tenant: tenants[(i < ids.length ? i : i - ids.length) % 2]!,
        expected: "Succeeded",
        steps: 6,
      })),
      faultAt,
      endedAt,
    );
  }

  async badStatuses(): Promise<ScenarioResult> {
    const { bad, real } = this.scale.badStatuses;
    const foreign = await this.start("fabrikam", { outcome: "succeed", steps: 1, stepMs: 50 });
    const ids = await this.startMany(["contoso"], real, { outcome: "succeed", steps: 6, stepMs: 300 });
    const valid = (deploymentId: string, sequence: number) => ({
      schemaVersion: 1,
      deploymentId,
      attempt: 1,
      state: "Succeeded",
      progress: 100,
      sequence,
      reportedAt: new Date().toISOString(),
    });
    // Each class of bad status, as a sender would get it wrong; all claim success, none may be applied.
    const classes: Record<string, (i: number) => ServiceBusMessage> = {
      SchemaViolation: () => ({
        body: { ...valid(ids[0]!, 99), state: "Done" },
        contentType: "application/json",
      }),
      InvalidJson: () => ({ body: Buffer.from("{not json"), contentType: "application/json" }),
      Oversized: () => ({
        body: { ...valid(ids[0]!, 99), message: "x".repeat(66 * 1024) },
        contentType: "application/json",
      }),
      UnsupportedContentType: () => ({ body: valid(ids[0]!, 99), contentType: "text/plain" }),
      UnsupportedSchema: () => ({
        ...statusMessage(valid(ids[0]!, 99) as never),
        applicationProperties: { schema: "deploy.status.v2" },
      }),
      UnknownDeployment: (i) => statusMessage(valid(`no-such-${i}`, 1) as never),
      ForeignDeployment: () => statusMessage(valid(foreign, 99) as never),
    };
    const names = Object.keys(classes);
    const client = new ServiceBusClient(namespaceConnectionString(this.stack, "contoso"));
    const faultAt = Date.now();
    const expected = new Map<string, string>();
    try {
      const sender = client.createSender("status");
      for (let i = 0; i < bad; i += 50) {
        const batch: ServiceBusMessage[] = [];
        for (let k = i; k < Math.min(bad, i + 50); k++) {
          const reason = names[k % names.length]!;
          const messageId = `chaos-bad-${k}`;
          expected.set(messageId, reason);
          batch.push({ ...classes[reason]!(k), messageId });
        }
        for (const m of batch) await sender.sendMessages(m);
      }
      await sender.close();
      const endedAt = await this.settle([...ids, foreign], 240_000);
      const result = await this.judge(
        `${bad} bad statuses beside ${real} deployments`,
        [
          ...ids.map((id) => ({ id, tenant: "contoso", expected: "Succeeded", steps: 6 })),
          { id: foreign, tenant: "fabrikam", expected: "Succeeded", steps: 1 },
        ],
        faultAt,
        endedAt,
      );
      // Every bad status dead-lettered, with its own reason.
      const dlq = client.createReceiver("status", {
        subQueueType: "deadLetter",
        receiveMode: "receiveAndDelete",
      });
      const seen = new Map<string, string>();
      const deadline = Date.now() + 120_000;
      while (seen.size < expected.size && Date.now() < deadline)
        for (const m of await dlq.receiveMessages(100, { maxWaitTimeInMs: 1000 }))
          seen.set(String(m.messageId), String(m.deadLetterReason));
      await dlq.close();
      result.recoverySeconds = Math.max(
        result.recoverySeconds,
        Math.round((Date.now() - faultAt) / 100) / 10,
      );
      for (const [messageId, reason] of expected) {
        const got = seen.get(messageId);
        if (got === undefined) {
          result.lost++;
          result.problems.push(`${messageId} (${reason}) was not dead-lettered`);
        } else if (got !== reason) {
          result.wrong++;
          result.problems.push(`${messageId} dead-lettered as ${got}, not ${reason}`);
        }
      }
      result.deployments += expected.size;
      return result;
    } finally {
      await client.close();
    }
  }
}

const SCENARIOS = [
  "providerKill",
  "agentKill",
  "rolloutProviderKill",
  "brokerOutage",
  "badStatuses",
] as const;

export async function runChaos(scaleName = "full", only?: string[]): Promise<ScenarioResult[]> {
  const scale = SCALES[scaleName];
  if (!scale) throw new Error(`CHAOS_SCALE must be one of ${Object.keys(SCALES).join(", ")}`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "chaos-stack-"));
  const stack = await spawnStack(dataDir);
  const results: ScenarioResult[] = [];
  try {
    const chaos = new Chaos(stack, scale);
    for (const tenant of ["contoso", "fabrikam"]) await chaos.raiseLimit(tenant);
    for (const name of SCENARIOS) {
      if (only && !only.includes(name)) continue;
      console.log(`running ${name} ...`);
      const r = await chaos[name]();
      console.log(
        `  ${r.scenario}: lost ${r.lost}, wrong ${r.wrong}, stuck ${r.stuck}, duplicated ${r.duplicated}, recovered in ${r.recoverySeconds} s`,
      );
      for (const p of r.problems.slice(0, 5)) console.log(`    ${p}`);
      results.push(r);
    }
  } finally {
    await stack.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return results;
}

async function main(): Promise<void> {
  const scale = process.env.CHAOS_SCALE || "full";
  const only = process.env.CHAOS_ONLY ? process.env.CHAOS_ONLY.split(",") : undefined;
  const before = calibrate();
  const started = Date.now();
  const results = await runChaos(scale, only);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const after = calibrate();
  console.log(
    `\nchaos (${scale}) on ${os.cpus().length} x ${os.cpus()[0]?.model ?? "?"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${seconds} s in all`,
  );
  console.log(
    `calibration before / after: sha256 ${Math.round(before.sha256MiBps)} / ${Math.round(after.sha256MiBps)} MiB/s on one core; append + fdatasync ${before.fsyncMs.toFixed(2)} / ${after.fsyncMs.toFixed(2)} ms\n`,
  );
  console.log(
    "| fault | deployments | lost | wrong | stuck | duplicated | recovery (s) |\n| --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const r of results)
    console.log(
      `| ${r.scenario} | ${r.deployments} | ${r.lost} | ${r.wrong} | ${r.stuck} | ${r.duplicated} | ${r.recoverySeconds} |`,
    );
  const bad = results.filter((r) => r.lost + r.wrong + r.stuck + r.duplicated > 0);
  if (bad.length > 0) {
    console.error(`\n${bad.length} scenario(s) lost, falsified, stranded or repeated work.`);
    process.exit(1);
  }
  console.log("\nEvery deployment reached its real outcome, once.");
}

if (require.main === module)
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  });
