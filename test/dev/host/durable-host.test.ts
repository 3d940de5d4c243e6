import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";

// The sample-shaped Durable app, run end to end on the dev host: HTTP starter → durable client →
// engine → activities, with the status links served by the same host.
const appDir = path.join(__dirname, "..", "..", "..", "..", "test", "fixtures", "durable-app");
let azurite: RunningAzurite;
let host: RunningHost | undefined;

before(async () => {
  azurite = await startAzurite();
  host = await startHost({
    appDir,
    port: 0,
    quiet: true,
    settings: { AzureWebJobsStorage: azurite.connectionString },
    log: () => {},
  });
});

after(async () => {
  await host?.stop();
  await azurite.stop();
});

interface Status {
  runtimeStatus: string;
  output: unknown;
  customStatus: unknown;
}

async function start(name: string, input?: unknown): Promise<{ id: string; statusQueryGetUri: string }> {
  const res = await fetch(`${host!.url}/api/orchestrators/${name}`, {
    method: "POST",
    body: input === undefined ? "" : JSON.stringify(input),
  });
  assert.equal(res.status, 202);
  assert.ok(res.headers.get("location"));
  return (await res.json()) as { id: string; statusQueryGetUri: string };
}

async function finished(uri: string): Promise<Status> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await fetch(uri);
    if (res.status === 200) return (await res.json()) as Status;
    assert.equal(res.status, 202, "running instances answer 202");
    if (Date.now() > deadline) throw new Error(`still running: ${uri}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("the host finds the app's durable functions and serves its starters and the status links on its own origin", async () => {
  const names = host!.functions.map((f) => f.name);
  for (const n of ["httpStart", "httpSyncStart", "helloSequence", "sayHello", "cancelTimer"])
    assert.ok(names.includes(n), n);
  const started = await start("helloSequence");
  assert.ok(started.statusQueryGetUri.startsWith(host!.url), started.statusQueryGetUri);
  const s = await finished(started.statusQueryGetUri);
  assert.equal(s.runtimeStatus, "Completed");
  assert.deepEqual(s.output, ["Hello Tokyo", "Hello Seattle", "Hello Cairo"]);
});

test("sub-orchestration, custom status, retries and a cancelled timer, through HTTP", async () => {
  const cases: [string, unknown, (s: Status) => void][] = [
    ["sayHelloWithSubOrchestrator", "Ada", (s) => assert.equal(s.output, "Hello Ada")],
    ["sayHelloWithCustomStatus", "Bob", (s) => assert.equal(s.customStatus, "Hello Bob")],
    ["helloWithRetry", undefined, (s) => assert.match(String(s.output), /after 2 attempts$/)],
    ["cancelTimer", undefined, (s) => assert.equal(s.output, "Hello from the other side")],
  ];
  for (const [name, input, check] of cases) {
    const s = await finished((await start(name, input)).statusQueryGetUri);
    assert.equal(s.runtimeStatus, "Completed", name);
    check(s);
  }
});

test("a synchronous start returns the output directly", async () => {
  const res = await fetch(`${host!.url}/api/orchestrators/wait/helloSequence?timeout=10`, { method: "POST" });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), ["Hello Tokyo", "Hello Seattle", "Hello Cairo"]);
});
