import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as df from "durable-functions";
import {
  planActivity,
  probeActivity,
  sendStatusActivity,
  stepActivity,
} from "../../../customer/agent/activities";
import { createCommandHandler, InvalidCommandError } from "../../../customer/agent/commands";
import type { Deployer } from "../../../customer/agent/deployer";
import { durableInstances } from "../../../customer/agent/instances";
import {
  AGENT_ACTIVITIES,
  AGENT_EVENTS,
  AGENT_ORCHESTRATION,
  agentInstanceId,
  agentOrchestrator,
  type AgentResult,
  type PlanInput,
  type ProbeInput,
  type StepInput,
} from "../../../customer/agent/orchestration";
import { createLogger } from "../../../lib/logging/logger";
import { generateKeyPairSync } from "node:crypto";
import {
  type Command,
  commandMessage,
  type OutgoingMessage,
  signedCommandMessage,
  type Status,
} from "../../../lib/messaging/contracts";
import { localSigningKey, publicKeySet, type SigningKey } from "../../../lib/signing/keys";
import { appVersioning, startHarness, waitFor, type Harness } from "../../dev/durable/harness";
import { recordHistories } from "../../replay/recorder";
import { VirtualClock } from "../../../dev/durable/clock";

// The agent's orchestration and command handling on the real durable-functions SDK replay (the project's
// durable engine, Azurite state, a real DurableClient). The deployer and the status sink are the test's,
// so a step or a send can be held, failed or counted; the real queues are covered in test/e2e/agent.test.ts.

const quiet = createLogger(() => {});

interface Gate {
  promise: Promise<void>;
  release(): void;
  reached: Promise<void>;
  arrive(): void;
}
const gates = new Map<string, Gate>();
function gate(key: string): Gate {
  let g = gates.get(key);
  if (!g) {
    let release!: () => void;
    let arrive!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    const reached = new Promise<void>((r) => (arrive = r));
    g = { promise, release, reached, arrive };
    gates.set(key, g);
  }
  return g;
}

/** Steps started, as `<deploymentId>:<step>`; statuses delivered; sends to fail once, by message id. */
const ran: string[] = [];
const sent: Status[] = [];
const failOnce = new Set<string>();
/** Sends to fail this many times in a row, by `<deploymentId>:s<sequence>`. */
const failTimes = new Map<string, number>();

interface TestSpec {
  steps?: number;
  holdStep?: number;
  throwAt?: number;
  stepMs?: number;
  silent?: "ignore" | "stall";
  /** The Provider's Cancel comes this many (virtual) days after the plan (time-skipping tests). */
  cancelAfterDays?: number;
  /** Health probes fail from this one on (1-based); `probeThrows` makes that probe throw instead. */
  unhealthyAt?: number;
  probeThrows?: boolean;
  healthCheck?: unknown;
}
const specOf = (c: Command) => (c.spec ?? {}) as TestSpec;

const deployer: Deployer = {
  async plan(command) {
    const spec = specOf(command);
    if (spec.cancelAfterDays !== undefined) await cancelLater?.(command, spec.cancelAfterDays);
    if (spec.silent) return { kind: "silent", afterAccept: spec.silent === "stall" };
    return { kind: "run", steps: spec.steps ?? 3, message: "accepted" };
  },
  async runStep(command, { step }) {
    const spec = specOf(command);
    ran.push(`${command.deploymentId}:${step}`);
    if (spec.holdStep === step) {
      const g = gate(`${command.deploymentId}:step${step}`);
      g.arrive();
      await g.promise;
    }
    if (spec.stepMs) await new Promise((r) => setTimeout(r, spec.stepMs));
    if (spec.throwAt === step) throw new Error("boom");
    return { kind: "continue" };
  },
  async checkHealth(command, probe, context) {
    const spec = specOf(command);
    probed.push(`${command.deploymentId}:${context.probe}/${context.probes}:${JSON.stringify(probe)}`);
    const failing = spec.unhealthyAt !== undefined && context.probe >= spec.unhealthyAt;
    if (failing && spec.probeThrows) throw new Error("no route to the service");
    return failing ? { healthy: false, message: "the service answers 503" } : { healthy: true };
  },
};

/** Health probes run, as `<deploymentId>:<probe>/<probes>:<probe JSON>`. */
const probed: string[] = [];
const probesOf = (id: string) =>
  probed.filter((p) => p.startsWith(`${id}:`)).map((p) => p.slice(id.length + 1));

let raiseThrough: ((instanceId: string, event: string, body: unknown) => Promise<void>) | undefined;
/** Set by the time-skipping tests: arranges a Cancel for the attempt at a virtual time. */
let cancelLater: ((command: Command, days: number) => Promise<void>) | undefined;

const holdSequences = new Map<string, number>();
async function send(status: Status): Promise<void> {
  const key = `${status.deploymentId}:s${status.sequence}`;
  if (failOnce.delete(key)) throw new Error(`broker unavailable (${key})`);
  const left = failTimes.get(key) ?? 0;
  if (left > 0) {
    failTimes.set(key, left - 1);
    throw new Error(`broker unavailable (${key}, ${left} more)`);
  }
  if (holdSequences.get(status.deploymentId) === status.sequence) {
    const g = gate(key);
    g.arrive();
    await g.promise;
  }
  sent.push(status);
}

function register(): void {
  df.app.orchestration(AGENT_ORCHESTRATION, agentOrchestrator);
  // Raises an event at a virtual time: started from an activity before the wait it is for, so the
  // skipping clock cannot pass that time first.
  df.app.orchestration("testRaiseAt", function* (context) {
    const input = context.df.getInput() as { at: number };
    yield context.df.createTimer(new Date(input.at));
    yield context.df.callActivity("testRaise", input);
  });
  df.app.activity("testRaise", {
    handler: (input: { instanceId: string; event: string; body: unknown }) =>
      raiseThrough?.(input.instanceId, input.event, input.body),
  });
  df.app.activity(AGENT_ACTIVITIES.plan.name, {
    handler: (input: PlanInput) => planActivity(deployer, input, quiet),
  });
  df.app.activity(AGENT_ACTIVITIES.step.name, {
    handler: (input: StepInput) => stepActivity(deployer, input, quiet),
  });
  df.app.activity(AGENT_ACTIVITIES.probe.name, {
    handler: (input: ProbeInput) => probeActivity(deployer, input, quiet),
  });
  df.app.activity(AGENT_ACTIVITIES.sendStatus.name, {
    handler: (status: Status) => sendStatusActivity(send, status, quiet),
  });
}

/** A health check in the wire form (lib/messaging/contracts.ts). */
const healthCheck = (windowSeconds: number, intervalSeconds: number, version = 1) => ({
  version,
  probe: { path: "/healthz" },
  windowSeconds,
  intervalSeconds,
});

let n = 0;
function command(type: Command["type"], spec: TestSpec = {}, extra: Partial<Command> = {}): Command {
  return {
    schemaVersion: 1,
    type,
    deploymentId: extra.deploymentId ?? `d${++n}-${Date.now()}`,
    attempt: 1,
    tenant: "contoso",
    ...(type === "Deploy" ? { spec: spec as Record<string, unknown> } : {}),
    requestedAt: new Date().toISOString(),
    deadline: new Date(Date.now() + 60_000).toISOString(),
    ...extra,
  };
}

const statusesOf = (id: string) =>
  sent.filter((s) => s.deploymentId === id).map((s) => `${s.sequence} ${s.state} ${s.progress}`);
const stepsOf = (id: string) => ran.filter((r) => r.startsWith(`${id}:`)).map((r) => Number(r.split(":")[1]));

describe("the agent orchestration", () => {
  let h: Harness;
  /** `npm run histories:record` keeps each test's histories for the replay test; otherwise a no-op. */
  let record: (t: { name: string }) => Promise<void>;
  before(async () => {
    h = await startHarness(register, { versioning: appVersioning("customer") });
    record = recordHistories(h, "customer", [AGENT_ORCHESTRATION]);
  });
  afterEach((t) => record(t));
  after(async () => {
    await h.close();
  });

  const start = async (c: Command) => {
    const instanceId = agentInstanceId(c.deploymentId, c.attempt);
    await h.client.startNew(AGENT_ORCHESTRATION, { instanceId, input: { command: c } });
    return instanceId;
  };
  const result = async (instanceId: string) => {
    const s = await waitFor(h.client, instanceId);
    assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.output));
    return s.output as AgentResult;
  };

  test("after a success with a health check, the agent probes and reports Healthy after the window", async () => {
    const c = command("Deploy", { steps: 1, healthCheck: healthCheck(5, 5) });
    const out = await result(await start(c));
    assert.equal(out.outcome, "Succeeded");
    assert.equal(out.health, "Healthy", JSON.stringify({ out, probed, sent: statusesOf(c.deploymentId) }));
    assert.deepEqual(probesOf(c.deploymentId), ['1/1:{"path":"/healthz"}']);
    assert.deepEqual(statusesOf(c.deploymentId), ["1 Accepted 0", "2 Succeeded 100", "3 Healthy 100"]);
  });

  test("one step per activity, statuses in order with sequences fixed by the orchestration; a failed send is retried", async () => {
    const c = command("Deploy", { steps: 3 });
    failOnce.add(`${c.deploymentId}:s2`);
    const out = await result(await start(c));
    assert.deepEqual(out, {
      outcome: "Succeeded",
      message: "all 3 steps done",
      steps: 3,
      sequence: 4,
      undelivered: 0,
    });
    assert.deepEqual(stepsOf(c.deploymentId), [1, 2, 3]);
    assert.deepEqual(statusesOf(c.deploymentId), [
      "1 Accepted 0",
      "2 InProgress 33",
      "3 InProgress 67",
      "4 Succeeded 100",
    ]);
    const mine = sent.filter((s) => s.deploymentId === c.deploymentId);
    assert.ok(mine.every((s) => s.message !== undefined && s.reportedAt));
    assert.equal(h.logs.filter((l) => /already yielded/.test(l)).length, 0, "each task is yielded once");
  });

  test("a cancel while a step runs is honoured when the step ends; the next step never starts", async () => {
    const c = command("Deploy", { steps: 3, holdStep: 2 });
    const id = await start(c);
    await gate(`${c.deploymentId}:step2`).reached;
    await h.client.raiseEvent(id, AGENT_EVENTS.cancel, { reason: "changed plans" });
    gate(`${c.deploymentId}:step2`).release();
    const out = await result(id);
    assert.equal(out.outcome, "Cancelled");
    assert.equal(out.message, "cancelled before step 3 (changed plans)");
    assert.deepEqual(stepsOf(c.deploymentId), [1, 2]);
    assert.deepEqual(statusesOf(c.deploymentId), ["1 Accepted 0", "2 InProgress 33", "3 Cancelled 67"]);
  });

  test("a cancel while a status is being sent stops the deployment before its next step", async () => {
    const c = command("Deploy", { steps: 3 });
    holdSequences.set(c.deploymentId, 1);
    const id = await start(c);
    await gate(`${c.deploymentId}:s1`).reached;
    await h.client.raiseEvent(id, AGENT_EVENTS.cancel, {});
    gate(`${c.deploymentId}:s1`).release();
    const out = await result(id);
    assert.equal(out.message, "cancelled before step 1");
    assert.deepEqual(stepsOf(c.deploymentId), []);
    assert.deepEqual(statusesOf(c.deploymentId), ["1 Accepted 0", "2 Cancelled 0"]);
  });

  test("the command's deadline stops the deployment between steps", async () => {
    const c = command(
      "Deploy",
      { steps: 3, stepMs: 400 },
      { deadline: new Date(Date.now() + 300).toISOString() },
    );
    const out = await result(await start(c));
    assert.equal(out.outcome, "Cancelled");
    assert.match(String(out.message), /^the deadline .* passed before step 2$/);
    assert.deepEqual(stepsOf(c.deploymentId), [1]);
  });

  test("a step that throws ends the deployment Failed with the error", async () => {
    const c = command("Deploy", { steps: 3, throwAt: 2 });
    const out = await result(await start(c));
    assert.equal(out.outcome, "Failed");
    assert.match(String(out.message), /^step 2 of 3 failed: .*boom/);
    assert.deepEqual(statusesOf(c.deploymentId), ["1 Accepted 0", "2 InProgress 33", "3 Failed 33"]);
  });

  test("a silent deployment still acknowledges a Cancel until its deadline, then ends without a word", async () => {
    const stalled = command("Deploy", { silent: "stall" });
    const id = await start(stalled);
    for (let i = 0; statusesOf(stalled.deploymentId).length === 0; i++) {
      assert.ok(i < 200, "Accepted was never sent");
      await new Promise((r) => setTimeout(r, 25));
    }
    await h.client.raiseEvent(id, AGENT_EVENTS.cancel, { reason: "completion timeout" });
    const out = await result(id);
    assert.equal(out.message, "cancelled (completion timeout)");
    assert.deepEqual(statusesOf(stalled.deploymentId), ["1 Accepted 0", "2 Cancelled 0"]);
    const ignored = command(
      "Deploy",
      { silent: "ignore" },
      { deadline: new Date(Date.now() + 300).toISOString() },
    );
    assert.equal((await result(await start(ignored))).outcome, "Silent");
    assert.deepEqual(statusesOf(ignored.deploymentId), []);
  });

  describe("the command handler (the receiver's logic) on the real Durable client", () => {
    const handler = createCommandHandler({ sendStatus: send });
    const handle = (c: Command, messageId = `${c.deploymentId}:${c.attempt}:${c.type}`, deliveryCount = 1) =>
      handler.handle(
        { ...commandMessage(c, new Date()), messageId, deliveryCount },
        durableInstances(h.client),
        quiet,
      );

    test("a Deploy delivered twice at once, and again after it ended, starts one instance", async () => {
      const c = command("Deploy", { steps: 2 });
      const first = await Promise.all([handle(c), handle(c, "another-message-id")]);
      assert.deepEqual(first.sort(), ["duplicate", "started"]);
      await result(agentInstanceId(c.deploymentId, 1));
      assert.equal(await handle(c, "a-late-redelivery"), "duplicate");
      assert.deepEqual(stepsOf(c.deploymentId), [1, 2]);
    });

    test("a Cancel before its Deploy closes the attempt; the Deploy then runs nothing", async () => {
      const deploy = command("Deploy", { steps: 2 });
      const cancel = { ...command("Cancel", {}, { deploymentId: deploy.deploymentId }), reason: "too late" };
      assert.equal(await handle(cancel), "cancelledBeforeStart");
      const out = await result(agentInstanceId(deploy.deploymentId, 1));
      assert.equal(out.outcome, "Cancelled");
      assert.equal(await handle(deploy), "duplicate");
      assert.deepEqual(stepsOf(deploy.deploymentId), []);
      assert.deepEqual(statusesOf(deploy.deploymentId), ["1 Cancelled 0"]);
      assert.equal(
        sent.find((s) => s.deploymentId === deploy.deploymentId)?.message,
        "cancelled before it started (too late)",
      );
    });

    test("a Cancel for a running deployment is raised to it; for a finished one it is ignored", async () => {
      const deploy = command("Deploy", { steps: 3, holdStep: 1 });
      assert.equal(await handle(deploy), "started");
      await gate(`${deploy.deploymentId}:step1`).reached;
      const cancel = command("Cancel", {}, { deploymentId: deploy.deploymentId });
      assert.equal(await handle(cancel), "cancelRaised");
      gate(`${deploy.deploymentId}:step1`).release();
      assert.equal((await result(agentInstanceId(deploy.deploymentId, 1))).outcome, "Cancelled");
      assert.equal(await handle(cancel, "cancel-again"), "cancelIgnored");
      assert.deepEqual(stepsOf(deploy.deploymentId), [1]);
    });

    test("Ping is answered at once without an instance; an expired Deploy starts nothing", async () => {
      const ping = command("Ping");
      assert.equal(await handle(ping), "pong");
      assert.deepEqual(statusesOf(ping.deploymentId), ["0 Pong 100"]);
      const expired = command("Deploy", {}, { deadline: new Date(Date.now() - 1000).toISOString() });
      assert.equal(await handle(expired), "expired");
      await assert.rejects(h.client.getStatus(agentInstanceId(expired.deploymentId, 1)), /HTTP 404/);
    });

    test("a Deploy that breaks the contract is reported Rejected and refused with the reason", async () => {
      const body = { type: "Deploy", deploymentId: `bad-${Date.now()}`, attempt: 1, nonsense: true };
      await assert.rejects(
        handler.handle(
          { body, contentType: "application/json", messageId: "junk", deliveryCount: 1 },
          durableInstances(h.client),
          quiet,
        ),
        (e: unknown) => e instanceof InvalidCommandError && e.reason === "SchemaViolation",
      );
      assert.deepEqual(statusesOf(body.deploymentId), ["1 Rejected 0"]);
    });
  });

  describe("signed commands: the agent runs only what its pinned Provider keys verify", () => {
    const keyPem = () =>
      generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({
        type: "pkcs8",
        format: "pem",
      }) as string;
    let provider: SigningKey;
    let stranger: SigningKey;
    let handler: ReturnType<typeof createCommandHandler>;
    before(async () => {
      provider = await localSigningKey(keyPem(), "test");
      stranger = await localSigningKey(keyPem(), "test");
      const trust = { keys: await publicKeySet([provider]), tenant: "contoso" };
      handler = createCommandHandler({ sendStatus: send, trust: () => trust });
    });
    const deliver = (message: OutgoingMessage, messageId: string) =>
      handler.handle({ ...message, messageId, deliveryCount: 1 }, durableInstances(h.client), quiet);
    const signed = (c: Command, by = provider) => signedCommandMessage(c, new Date(), by);
    /** The refusal's reason; nothing ran for the deployment and nothing was answered. */
    async function refused(c: Command, message: OutgoingMessage): Promise<string> {
      let reason = "";
      await assert.rejects(deliver(message, `refused-${c.deploymentId}`), (e: unknown) => {
        reason = e instanceof InvalidCommandError ? e.reason : String(e);
        return e instanceof InvalidCommandError;
      });
      await assert.rejects(h.client.getStatus(agentInstanceId(c.deploymentId, c.attempt)), /HTTP 404/);
      assert.deepEqual(
        sent.filter((s) => s.deploymentId === c.deploymentId && s.attempt === c.attempt),
        [],
        "a refused command is never answered",
      );
      return reason;
    }

    test("a signed Deploy for this tenant runs, as bytes and as the JSON a host decoded", async () => {
      const c = command("Deploy", { steps: 1 });
      assert.equal(await deliver(await signed(c), "signed-bytes"), "started");
      await result(agentInstanceId(c.deploymentId, 1));
      const decoded = command("Deploy", { steps: 1 });
      const message = await signed(decoded);
      const body = JSON.parse((message.body as Buffer).toString("utf8")) as unknown;
      assert.equal(await deliver({ ...message, body } as OutgoingMessage, "signed-decoded"), "started");
    });

    test("unsigned, signed by another key, or altered: refused, never run, never answered", async () => {
      const unsigned = command("Deploy", { steps: 1 });
      assert.equal(await refused(unsigned, commandMessage(unsigned, new Date())), "InvalidSignature");
      const foreign = command("Deploy", { steps: 1 });
      assert.equal(await refused(foreign, await signed(foreign, stranger)), "UnknownKey");
      // A genuine signature moved onto another body (an older spec under the same signature).
      const genuine = await signed(command("Deploy", { steps: 1 }));
      const altered = command("Deploy", { steps: 5 });
      const swapped = {
        ...commandMessage(altered, new Date()),
        applicationProperties: genuine.applicationProperties,
      };
      assert.equal(await refused(altered, swapped as OutgoingMessage), "InvalidSignature");
    });

    test("another tenant's, expired, without a deadline, or an older attempt than one already run: refused", async () => {
      const other = command("Deploy", {}, { tenant: "fabrikam" });
      assert.equal(await refused(other, await signed(other)), "WrongTenant");
      const late = command("Deploy", {}, { deadline: new Date(Date.now() - 1000).toISOString() });
      assert.equal(await refused(late, await signed(late)), "Expired");
      const { deadline: _none, ...open } = command("Deploy", {});
      assert.equal(await refused(open, await signed(open)), "Expired");
      const second = command("Deploy", { steps: 1 }, { attempt: 2 });
      assert.equal(await deliver(await signed(second), "attempt-2"), "started");
      const first = command("Deploy", { steps: 1 }, { deploymentId: second.deploymentId, attempt: 1 });
      assert.equal(await refused(first, await signed(first)), "Replayed");
    });

    test("a Cancel past its deadline (the Provider's timeout) still stops the attempt", async () => {
      const deploy = command("Deploy", { steps: 3, holdStep: 1 });
      assert.equal(await deliver(await signed(deploy), "hold-deploy"), "started");
      await gate(`${deploy.deploymentId}:step1`).reached;
      const cancel = command(
        "Cancel",
        {},
        {
          deploymentId: deploy.deploymentId,
          deadline: new Date(Date.now() - 1).toISOString(),
          reason: "completion timeout",
        },
      );
      assert.equal(await deliver(await signed(cancel), "late-cancel"), "cancelRaised");
      gate(`${deploy.deploymentId}:step1`).release();
      assert.equal((await result(agentInstanceId(deploy.deploymentId, 1))).outcome, "Cancelled");
    });
  });
});

describe("the agent orchestration on the time-skipping clock (the Azure Storage backend's timers and retries)", () => {
  let h: Harness;
  const clock = new VirtualClock();
  before(async () => {
    h = await startHarness(register, { timeSkipping: true, clock, versioning: appVersioning("customer") });
    raiseThrough = (instanceId, event, body) => h.client.raiseEvent(instanceId, event, body);
    cancelLater = async (c, days) => {
      const input = {
        at: clock.now() + days * 86_400_000,
        instanceId: agentInstanceId(c.deploymentId, c.attempt),
        event: AGENT_EVENTS.cancel,
        body: { reason: "completion timeout" },
      };
      await h.client.startNew("testRaiseAt", { input });
    };
  });
  after(async () => {
    raiseThrough = cancelLater = undefined;
    await h.close();
  });
  /** A deadline on the virtual clock, which earlier tests moved days ahead. */
  const inAnHour = () => ({ deadline: new Date(clock.now() + 3_600_000).toISOString() });
  const run = async (c: Command) => {
    const instanceId = agentInstanceId(c.deploymentId, c.attempt);
    await h.client.startNew(AGENT_ORCHESTRATION, { instanceId, input: { command: c } });
    const s = await waitFor(h.client, instanceId);
    assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s.output));
    return s.output as AgentResult;
  };

  test("a status send that fails past the deadline is retried on (bounded by attempts) instead of hanging", async () => {
    // Accepted fails 8 times: backoff 1+2+4+8+16+30+30+30 s passes the 60 s deadline. With the old retry
    // timeout at the deadline, DTFx stopped retrying without the retry timer the SDK waits for and the
    // agent hung forever (azure-functions-durable-js#629).
    const c = command("Deploy", {}, { deadline: new Date(clock.now() + 60_000).toISOString() });
    failTimes.set(`${c.deploymentId}:s1`, 8);
    const out = await run(c);
    assert.equal(out.outcome, "Cancelled");
    assert.match(String(out.message), /^the deadline .* passed before step 1$/);
    assert.equal(out.undelivered, 0);
    assert.deepEqual(statusesOf(c.deploymentId), ["1 Accepted 0", "2 Cancelled 0"]);
    assert.ok(!h.logs.some((l) => l.includes("azure-functions-durable-js#629")));
  });

  test("a silent deployment with a 7-day deadline acknowledges a Cancel on day 4, on timers of under 6 days", async () => {
    // A single 7-day deadline timer would be split by the SDK; cancelled after its second piece (day 3),
    // the extension's replay is non-deterministic and the agent fails.
    const c = command(
      "Deploy",
      { silent: "ignore", cancelAfterDays: 4 },
      { deadline: new Date(clock.now() + 7 * 86_400_000).toISOString() },
    );
    const out = await run(c);
    assert.equal(out.outcome, "Cancelled");
    assert.equal(out.message, "cancelled (completion timeout)");
    const s = await h.client.getStatus(agentInstanceId(c.deploymentId, c.attempt), { showHistory: true });
    for (const t of s.history as { EventType: string; Timestamp: string; FireAt?: string }[])
      if (t.EventType === "TimerCreated")
        assert.ok(Date.parse(String(t.FireAt)) - Date.parse(t.Timestamp) < 6 * 86_400_000, JSON.stringify(t));
    assert.ok(!h.logs.some((l) => /longer than maximumShortTimerDuration|Non-Deterministic/.test(l)));
  });

  test("a health check probes every interval for its window, each probe on its own timer, then Healthy", async () => {
    const c = command("Deploy", { steps: 2, healthCheck: healthCheck(300, 60) }, inAnHour());
    const out = await run(c);
    assert.equal(out.health, "Healthy", JSON.stringify({ out, probed, sent: statusesOf(c.deploymentId) }));
    assert.deepEqual(
      probesOf(c.deploymentId).map((p) => p.split(":")[0]),
      ["1/5", "2/5", "3/5", "4/5", "5/5"],
    );
    assert.deepEqual(statusesOf(c.deploymentId).slice(-2), ["3 Succeeded 100", "4 Healthy 100"]);
    const s = await h.client.getStatus(agentInstanceId(c.deploymentId, c.attempt), { showHistory: true });
    const timers = (s.history as { EventType: string; Timestamp: string; FireAt?: string }[]).filter(
      (e) => e.EventType === "TimerCreated",
    );
    assert.equal(timers.length, 5);
    // Each probe waits its interval (the event's timestamp is a moment after the orchestration's clock).
    for (const t of timers) {
      const wait = Date.parse(String(t.FireAt)) - Date.parse(t.Timestamp);
      assert.ok(wait > 59_000 && wait <= 60_000, JSON.stringify(t));
    }
  });

  test("the first failed probe reports Unhealthy with its message, and no probe runs after it", async () => {
    const c = command("Deploy", { steps: 1, unhealthyAt: 2, healthCheck: healthCheck(300, 60) }, inAnHour());
    const out = await run(c);
    assert.equal(out.health, "Unhealthy");
    assert.deepEqual(
      probesOf(c.deploymentId).map((p) => p.split(":")[0]),
      ["1/5", "2/5"],
    );
    const last = sent.filter((x) => x.deploymentId === c.deploymentId).at(-1);
    assert.equal(last?.state, "Unhealthy");
    assert.equal(last?.message, "the service answers 503");
  });

  test("a probe that throws is unhealthy; a health check of an unknown version, or a failed deployment, probes nothing", async () => {
    const throwing = command(
      "Deploy",
      { steps: 1, unhealthyAt: 1, probeThrows: true, healthCheck: healthCheck(60, 30) },
      inAnHour(),
    );
    const out = await run(throwing);
    assert.equal(out.health, "Unhealthy");
    assert.match(
      String(sent.filter((x) => x.deploymentId === throwing.deploymentId).at(-1)?.message),
      /^probe failed: no route/,
    );

    const future = command("Deploy", { steps: 1, healthCheck: healthCheck(60, 30, 2) }, inAnHour());
    const unread = await run(future);
    assert.equal(unread.outcome, "Succeeded");
    assert.equal(unread.health, undefined);
    assert.deepEqual(probesOf(future.deploymentId), []);
    assert.deepEqual(statusesOf(future.deploymentId).at(-1), "2 Succeeded 100");

    const failed = command("Deploy", { steps: 2, throwAt: 1, healthCheck: healthCheck(60, 30) }, inAnHour());
    const ended = await run(failed);
    assert.equal(ended.outcome, "Failed");
    assert.deepEqual(probesOf(failed.deploymentId), []);
  });
});
