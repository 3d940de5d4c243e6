import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  cronError,
  maintenanceWindowsSchema,
  NEVER,
  windowOpensAt,
  type MaintenanceWindow,
} from "../../../lib/tenants/maintenance";

const at = (iso: string) => new Date(iso);
const iso = (d: Date | undefined) => d?.toISOString();

describe("windowOpensAt", () => {
  test("no windows: always open", () => {
    assert.equal(windowOpensAt([], at("2026-01-01T12:00:00Z")), undefined);
  });

  // Every day 22:00-02:00 UTC: the window spans midnight.
  const overMidnight: MaintenanceWindow[] = [{ cron: "0 22 * * *", durationMinutes: 240, timeZone: "UTC" }];
  test("a window spanning midnight is open on both sides of it and closed after", () => {
    assert.equal(windowOpensAt(overMidnight, at("2026-01-01T22:00:00Z")), undefined, "at the opening");
    assert.equal(windowOpensAt(overMidnight, at("2026-01-01T23:59:59Z")), undefined);
    assert.equal(windowOpensAt(overMidnight, at("2026-01-02T00:30:00Z")), undefined, "after midnight");
    assert.equal(windowOpensAt(overMidnight, at("2026-01-02T01:59:59.999Z")), undefined);
    assert.equal(
      iso(windowOpensAt(overMidnight, at("2026-01-02T02:00:00Z"))),
      "2026-01-02T22:00:00.000Z",
      "the end instant is outside",
    );
    assert.equal(iso(windowOpensAt(overMidnight, at("2026-01-02T12:00:00Z"))), "2026-01-02T22:00:00.000Z");
    assert.equal(iso(windowOpensAt(overMidnight, at("2026-01-01T21:59:59Z"))), "2026-01-01T22:00:00.000Z");
  });

  // 01:00-02:00 Berlin local time: 00:00Z in winter (CET), 23:00Z the day before in summer (CEST).
  const berlin: MaintenanceWindow[] = [{ cron: "0 1 * * *", durationMinutes: 60, timeZone: "Europe/Berlin" }];
  test("a window follows its time zone across the DST switch", () => {
    // Clocks go forward on 2026-03-29 at 02:00 local.
    assert.equal(iso(windowOpensAt(berlin, at("2026-03-27T12:00:00Z"))), "2026-03-28T00:00:00.000Z");
    assert.equal(iso(windowOpensAt(berlin, at("2026-03-28T12:00:00Z"))), "2026-03-29T00:00:00.000Z");
    assert.equal(iso(windowOpensAt(berlin, at("2026-03-29T12:00:00Z"))), "2026-03-29T23:00:00.000Z");
    assert.equal(windowOpensAt(berlin, at("2026-03-29T23:30:00Z")), undefined, "open in summer time");
    assert.equal(iso(windowOpensAt(berlin, at("2026-03-30T00:00:00Z"))), "2026-03-30T23:00:00.000Z");
    // And back on 2026-10-25.
    assert.equal(iso(windowOpensAt(berlin, at("2026-10-24T12:00:00Z"))), "2026-10-24T23:00:00.000Z");
    assert.equal(iso(windowOpensAt(berlin, at("2026-10-25T12:00:00Z"))), "2026-10-26T00:00:00.000Z");
  });

  test("an opening inside the skipped hour is moved to the end of the gap, not dropped", () => {
    const gap: MaintenanceWindow[] = [{ cron: "30 2 * * *", durationMinutes: 30, timeZone: "Europe/Berlin" }];
    // 02:30 does not exist on 2026-03-29; 03:00 CEST is 01:00Z.
    assert.equal(iso(windowOpensAt(gap, at("2026-03-28T12:00:00Z"))), "2026-03-29T01:00:00.000Z");
  });

  test("several windows: open if any is, else the earliest opening", () => {
    const windows: MaintenanceWindow[] = [
      { cron: "0 3 * * 6", durationMinutes: 120, timeZone: "UTC" }, // Saturdays 03:00-05:00
      { cron: "0 20 * * 1-5", durationMinutes: 60, timeZone: "America/New_York" }, // weekdays 20:00 NY
    ];
    // Friday 2026-01-02 12:00Z: next NY 20:00 is 2026-01-03T01:00Z, before Saturday 03:00Z.
    assert.equal(iso(windowOpensAt(windows, at("2026-01-02T12:00:00Z"))), "2026-01-03T01:00:00.000Z");
    assert.equal(windowOpensAt(windows, at("2026-01-03T04:00:00Z")), undefined);
    assert.equal(windowOpensAt(windows, at("2026-01-03T01:30:00Z")), undefined);
  });

  test("same inputs, same answer (the orchestrator replays it)", () => {
    const now = at("2026-05-05T05:05:05.123Z");
    assert.equal(iso(windowOpensAt(berlin, now)), iso(windowOpensAt(berlin, new Date(now))));
  });

  test("a cron that never fires again never opens", () => {
    const past: MaintenanceWindow[] = [{ cron: "0 0 1 1 *", durationMinutes: 60, timeZone: "UTC" }];
    assert.ok(windowOpensAt(past, at("2026-06-01T00:00:00Z")));
    assert.equal(NEVER.getTime(), 8.64e15);
  });
});

describe("maintenance window validation", () => {
  test("cron errors say why", () => {
    assert.equal(cronError("0 2 * * 6"), undefined);
    assert.match(cronError("0 2 * *") ?? "", /five/);
    assert.match(cronError("0 0 30 2 *") ?? "", /never fires/);
    assert.ok(cronError("61 * * * *"));
    assert.ok(cronError("0 0 0 * * *"), "six fields are refused");
  });

  test("the schema names each bad field by index and defaults the time zone to UTC", () => {
    const r = maintenanceWindowsSchema.safeParse([
      { cron: "0 2 * * 6", durationMinutes: 60, timeZone: "Europe/Berlin" },
      { cron: "nope", durationMinutes: 0, timeZone: "Mars/Olympus" },
    ]);
    assert.ok(!r.success);
    assert.deepEqual(r.error.issues.map((i) => i.path.join(".")).sort(), [
      "1.cron",
      "1.durationMinutes",
      "1.timeZone",
    ]);
    const ok = maintenanceWindowsSchema.parse([{ cron: "0 2 * * 6", durationMinutes: 60 }]);
    assert.equal(ok[0].timeZone, "UTC");
  });
});
