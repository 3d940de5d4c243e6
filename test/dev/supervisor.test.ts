import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PartSpec, Supervisor } from "../../dev/supervisor";

const fixture = path.join(__dirname, "supervisor", "part-fixture.js");

function part(name: string, env: Record<string, string> = {}): PartSpec {
  return { name, command: () => ({ args: [fixture], env }) };
}

/** Collects what a supervisor prints and emits, in order. */
function recorder(options: ConstructorParameters<typeof Supervisor>[0] = {}) {
  const lines: string[] = [];
  const events: { at: number; event: string; name: string; detail: unknown }[] = [];
  const supervisor = new Supervisor({ out: (l) => lines.push(l), err: (l) => lines.push(l), ...options });
  for (const event of ["ready", "exit", "restart", "crashLoop"])
    supervisor.on(event, (name: string, ...detail: unknown[]) =>
      events.push({ at: performance.now(), event, name, detail }),
    );
  const next = (event: string, count: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (events.filter((e) => e.event === event).length < count) return;
        supervisor.off(event, check);
        resolve();
      };
      supervisor.on(event, check);
      check();
    });
  return { supervisor, lines, events, next };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("a part that crashes is restarted with backoff and a restart count; its lines carry its name", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "supervisor-"));
  const { supervisor, lines, events, next } = recorder({ initialBackoffMs: 50, maxBackoffMs: 1000 });
  try {
    const ready = await supervisor.start([
      part("flaky", { PART_MODE: "crash-first", PART_CRASHES: "3", PART_COUNTER: path.join(dir, "runs") }),
    ]);
    assert.equal((ready.flaky as { run: number }).run, 1);
    await next("ready", 4);
    const flaky = events.filter((e) => e.name === "flaky");
    assert.deepEqual(
      flaky.map((e) => e.event),
      ["ready", "exit", "restart", "ready", "exit", "restart", "ready", "exit", "restart", "ready"],
    );
    const restarts = flaky.filter((e) => e.event === "restart");
    assert.deepEqual(
      restarts.map((e) => e.detail),
      [
        [1, 50],
        [2, 100],
        [3, 200],
      ],
      "the delay doubles with each crash in a row",
    );
    // Each restart waited at least its delay after the exit before the part was ready again.
    for (const r of restarts) {
      const readyAgain = flaky.find((e) => e.event === "ready" && e.at > r.at) as { at: number };
      assert.ok(readyAgain.at - r.at >= (r.detail as number[])[1]! - 5);
    }
    assert.deepEqual(
      flaky.filter((e) => e.event === "exit").map((e) => e.detail),
      [
        [3, null],
        [3, null],
        [3, null],
      ],
    );
    const [status] = supervisor.status();
    assert.equal(status?.state, "ready");
    assert.equal(status?.restarts, 3);
    assert.deepEqual(status?.ready, { run: 4, pid: status?.pid });
    // Stdout lines before a ready line are read before it; stderr is another pipe, complete for the runs
    // that ended.
    for (let run = 1; run <= 4; run++)
      assert.ok(lines.includes(`[flaky] hello from run ${run}`), `stdout of run ${run}`);
    for (let run = 1; run <= 3; run++)
      assert.ok(lines.includes(`[flaky] a warning from run ${run}`), `stderr of run ${run}`);
    assert.ok(lines.includes("[supervisor] flaky exited (code 3); restart 1 in 50 ms"));
    assert.ok(lines.includes(`[supervisor] flaky ready again after restart 3 (pid ${status?.pid})`));
    assert.equal(
      lines.some((l) => l.includes("ready {")),
      false,
      "ready lines are read, not echoed",
    );
  } finally {
    await supervisor.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a part that keeps crashing backs off up to the cap and is reported", async () => {
  const { supervisor, lines, events, next } = recorder({ initialBackoffMs: 20, maxBackoffMs: 80 });
  try {
    await supervisor.start([part("doomed", { PART_MODE: "crash-always" })]);
    await next("crashLoop", 2);
    assert.deepEqual(
      events.filter((e) => e.event === "restart").map((e) => (e.detail as number[])[1]),
      [20, 40, 80, 80],
    );
    assert.ok(
      lines.some((l) =>
        /^\[supervisor\] doomed keeps crashing \(code 3; 3 crashes in a row, 3 restarts\)/.test(l),
      ),
    );
  } finally {
    await supervisor.stop();
  }
  assert.equal(supervisor.status()[0]?.state, "stopped");
});

test("a part that dies before its first ready line fails the start with its last lines", async () => {
  const supervisor = new Supervisor({ out: () => {}, err: () => {} });
  await assert.rejects(
    supervisor.start([
      { name: "broken", command: () => ({ args: ["-e", "console.error('no config'); process.exit(2)"] }) },
    ]),
    /broken exited \(code 2\) before it was ready:\nno config/,
  );
  await supervisor.stop();
});

test("stop: the last stage first, SIGTERM, and SIGKILL after the grace period for a part that ignores it", async () => {
  const { supervisor, events } = recorder({ graceMs: 300 });
  const first = await supervisor.start([part("base")]);
  const second = await supervisor.start([part("clean"), part("stubborn", { PART_MODE: "ignore-term" })]);
  const pids = [first.base, second.clean, second.stubborn].map((r) => (r as { pid: number }).pid);
  assert.equal(await supervisor.stop(), false, "a part that had to be killed is not a clean stop");
  const exits = events.filter((e) => e.event === "exit");
  assert.deepEqual(exits.map((e) => [e.name, ...(e.detail as unknown[])]).sort(), [
    ["base", 0, null],
    ["clean", 0, null],
    ["stubborn", null, "SIGKILL"],
  ]);
  assert.equal(exits.at(-1)?.name, "base", "the first stage stops last");
  assert.deepEqual(
    pids.map((pid) => alive(pid)),
    [false, false, false],
  );
  assert.equal(events.filter((e) => e.event === "restart").length, 0, "a stopped part is not restarted");
});

async function supervisorProcess() {
  const child = spawn(process.execPath, [path.join(__dirname, "supervisor", "supervisor-fixture.js")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pids = await new Promise<number[]>((resolve, reject) => {
    let out = "";
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /^pids (\d+) (\d+)$/m.exec(out);
      if (m) resolve([Number(m[1]), Number(m[2])]);
    });
    child.on("exit", (code) => reject(new Error(`the supervisor exited (${code}): ${out}`)));
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, pids, exited };
}

async function gone(pids: number[]): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (pids.some(alive)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

test("Ctrl-C stops every part and the supervisor exits 0; a killed supervisor leaves no part behind", async () => {
  const interrupted = await supervisorProcess();
  interrupted.child.kill("SIGINT");
  assert.deepEqual(await interrupted.exited, { code: 0, signal: null });
  assert.deepEqual(
    interrupted.pids.map((pid) => alive(pid)),
    [false, false],
    "the supervisor waits for its parts",
  );

  const killed = await supervisorProcess();
  killed.child.kill("SIGKILL");
  await killed.exited;
  assert.ok(await gone(killed.pids), "parts notice that their supervisor is gone and stop");
});
