import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  ensureReceiverSecret,
  startWebhookReceiver,
  verifyWebhook,
  type WebhookReceiver,
} from "../../dev/webhook-receiver";
import { cloudEvent, webhookSignature } from "../../lib/notifications/model";

// `npm start`'s local webhook receiver: it takes a delivery only with a valid, fresh Standard Webhooks
// signature (checked against the Provider's own signer), answers 401 otherwise, and keeps each event once.
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
let receiver: WebhookReceiver;
const lines: string[] = [];

before(async () => {
  receiver = await startWebhookReceiver({ port: 0, secret: SECRET, keep: 3, log: (l) => lines.push(l) });
});

after(async () => {
  await receiver.close();
});

function delivery(
  id: string,
  opts: { secret?: string; timestamp?: number; tamper?: boolean } = {},
): { headers: Record<string, string>; body: string } {
  const event = cloudEvent(
    "rollout.finished",
    "/rollouts/r-1",
    id,
    { rolloutId: "r-1" },
    new Date().toISOString(),
  );
  const body = JSON.stringify(event);
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    headers: {
      "content-type": "application/cloudevents+json",
      "webhook-id": event.id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": webhookSignature(opts.secret ?? SECRET, event.id, timestamp, body),
    },
    body: opts.tamper ? body.replace("r-1", "r-2") : body,
  };
}

const post = (d: { headers: Record<string, string>; body: string }) =>
  fetch(receiver.url, { method: "POST", headers: d.headers, body: d.body });

test("a delivery signed with the secret is taken, logged and kept once however often it comes", async () => {
  assert.match(receiver.url, /^http:\/\/127\.0\.0\.1:\d+\/hook$/);
  const d = delivery("a");
  assert.equal((await post(d)).status, 204);
  assert.equal((await post(d)).status, 204, "a redelivery is acknowledged");
  const listed = (await (await fetch(receiver.eventsUrl)).json()) as {
    items: { id: string; type: string }[];
  };
  assert.deepEqual(
    listed.items.map((e) => [e.id, e.type]),
    [["rollout.finished:a", "rollout.finished"]],
  );
  assert.ok(
    lines.some((l) => /rollout\.finished rollout\.finished:a$/.test(l)),
    lines.join("\n"),
  );
  assert.ok(lines.some((l) => /already received/.test(l)));
});

test("a wrong secret, a changed body, a stale timestamp or no signature is refused with a 401", async () => {
  const cases = {
    "wrong secret": delivery("b", { secret: "another" }),
    "changed body": delivery("c", { tamper: true }),
    "stale timestamp": delivery("d", { timestamp: Math.floor(Date.now() / 1000) - 301 }),
  };
  for (const [name, d] of Object.entries(cases)) assert.equal((await post(d)).status, 401, name);
  const unsigned = delivery("e");
  delete unsigned.headers["webhook-signature"];
  assert.equal((await post(unsigned)).status, 401);
  const ids = receiver.events().map((e) => e.id);
  assert.ok(!ids.some((id) => /:(b|c|d|e)$/.test(id)), ids.join(", "));
  assert.ok(lines.some((l) => /refused a delivery: signature does not match/.test(l)));
});

test("verifyWebhook takes any one valid v1 signature of several, and only a fresh timestamp", () => {
  const d = delivery("f");
  const both = { ...d.headers, "webhook-signature": `v1,AAAA ${d.headers["webhook-signature"]}` };
  assert.deepEqual(verifyWebhook(SECRET, both, d.body), { ok: true });
  const ts = Number(d.headers["webhook-timestamp"]);
  assert.equal(verifyWebhook(SECRET, d.headers, d.body, (ts + 299) * 1000).ok, true);
  assert.equal(verifyWebhook(SECRET, d.headers, d.body, (ts + 301) * 1000).ok, false);
});

test("only the newest events are kept; the secret is made once and kept private", async () => {
  for (const id of ["g", "h", "i", "j"]) assert.equal((await post(delivery(id))).status, 204);
  assert.deepEqual(
    receiver.events().map((e) => e.id),
    ["rollout.finished:h", "rollout.finished:i", "rollout.finished:j"],
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "receiver-secret-"));
  try {
    const secret = ensureReceiverSecret(dir);
    assert.ok(secret.length >= 40);
    assert.equal(ensureReceiverSecret(dir), secret);
    assert.equal(fs.statSync(path.join(dir, "webhook-receiver-secret")).mode & 0o077, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
