import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { FAST_RETRIES } from "../../helpers/servicebus";

const cli = path.join(__dirname, "..", "..", "..", "dev", "servicebus-emulator", "cli.js");

test("the CLI prints one line per namespace when ready and serves the official emulator's connection string", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-cli-"));
  const configFile = path.join(dir, "Config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      UserConfig: { Namespaces: [{ Name: "sbemulatorns", Queues: [{ Name: "queue.1", Properties: {} }] }] },
    }),
  );
  const child = spawn(process.execPath, [cli, "--config", configFile], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const first = out.split("\n")[0];
        if (out.includes("\n") && first) resolve(first);
      });
      child.on("exit", (code) => reject(new Error(`exited ${code}`)));
    });
    const match = /^namespace sbemulatorns listening on sb:\/\/127\.0\.0\.1:(\d+) queues=queue\.1$/.exec(
      line,
    );
    assert.ok(match, line);
    const client = new ServiceBusClient(
      `Endpoint=sb://localhost:${match[1]};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;`,
      FAST_RETRIES,
    );
    await client.createSender("queue.1").sendMessages({ body: "via cli" });
    const [m] = await client
      .createReceiver("queue.1", { receiveMode: "receiveAndDelete" })
      .receiveMessages(1, { maxWaitTimeInMs: 1000 });
    assert.equal(m?.body, "via cli");
    await client.close();
  } finally {
    child.kill("SIGTERM");
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the CLI exits with a clear message for a bad config", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-cli-"));
  const configFile = path.join(dir, "Config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      UserConfig: {
        Namespaces: [{ Name: "n", Queues: [{ Name: "q", Properties: { LockDuration: "soon" } }] }],
      },
    }),
  );
  const child = spawn(process.execPath, [cli, "--config", configFile], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(code, 1);
  assert.match(err, /LockDuration/);
});
