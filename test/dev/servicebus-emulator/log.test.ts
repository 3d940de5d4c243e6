import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  EntityChanges,
  NamespaceStore,
  PersistedMessage,
} from "../../../dev/servicebus-emulator/persistence";

const message = (seq: number, deliveryCount = 0): PersistedMessage => ({
  seq,
  amqp: Buffer.from("x").toString("base64"),
  size: 1,
  enqueuedAt: 0,
  expiresAt: Number.MAX_SAFE_INTEGER,
  deliveryCount,
  state: "active",
});

const changes = (upserts: PersistedMessage[], deletes: number[] = []): Record<string, EntityChanges> => ({
  q: { nextSeq: 10, upserts, deletes, sessions: [], duplicates: [] },
});

function withDir(fn: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-log-"));
  try {
    fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("a torn last line (a crash during an append that was never acknowledged) is dropped and cut off", () =>
  withDir((dir) => {
    const a = new NamespaceStore(dir, "ns");
    a.load();
    a.append(changes([message(1), message(2)]));
    a.close();
    fs.appendFileSync(path.join(dir, "ns.wal"), '{"lsn":2,"entities":{"q":{"nextSe');
    const b = new NamespaceStore(dir, "ns");
    assert.deepEqual(
      b.load().q?.messages.map((m) => m.seq),
      [1, 2],
    );
    b.append(changes([], [1]));
    b.close();
    assert.deepEqual(
      new NamespaceStore(dir, "ns").load().q?.messages.map((m) => m.seq),
      [2],
      "the next append starts on a line of its own",
    );
  }));

test("lines already in the snapshot are skipped (a compaction cut short between rename and truncation)", () =>
  withDir((dir) => {
    const a = new NamespaceStore(dir, "ns");
    a.load();
    a.append(changes([message(1, 0)]));
    a.append(changes([message(1, 3)]));
    const wal = fs.readFileSync(path.join(dir, "ns.wal"));
    a.compact({ q: { nextSeq: 10, messages: [], sessionStates: [], duplicates: [] } });
    a.close();
    // The old lines are back, as if the truncation had not happened: they must not resurrect message 1.
    fs.writeFileSync(path.join(dir, "ns.wal"), wal);
    assert.deepEqual(new NamespaceStore(dir, "ns").load().q?.messages, []);
  }));

test("a corrupt line before the last one is refused, not skipped", () =>
  withDir((dir) => {
    const a = new NamespaceStore(dir, "ns");
    a.load();
    a.append(changes([message(1)]));
    a.close();
    fs.appendFileSync(path.join(dir, "ns.wal"), "garbage\n");
    fs.appendFileSync(path.join(dir, "ns.wal"), `${JSON.stringify({ lsn: 3, entities: changes([]) })}\n`);
    assert.throws(() => new NamespaceStore(dir, "ns").load(), /line 2 is corrupt/);
  }));

test("the first format (one JSON snapshot, no log) still loads", () =>
  withDir((dir) => {
    const entity = { nextSeq: 5, messages: [message(4)], sessionStates: [], duplicates: [] };
    fs.writeFileSync(path.join(dir, "ns.json"), JSON.stringify({ q: { queue: entity, dlq: entity } }));
    const loaded = new NamespaceStore(dir, "ns").load();
    assert.equal(loaded.q?.nextSeq, 5);
    assert.deepEqual(
      loaded["q/$deadletterqueue"]?.messages.map((m) => m.seq),
      [4],
    );
  }));
