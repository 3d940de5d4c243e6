/**
 * Timer triggers: six-field NCRONTAB (`{second} {minute} {hour} {day} {month} {day-of-week}`) or a
 * TimeSpan (`hh:mm:ss`), `runOnStartup`, and no overlapping runs of one function (singleton, as in
 * Azure). The handler receives the Timer object shape of the real host.
 */
import { Cron } from "croner";
import type { RegisteredFunction } from "./functions-core";
import { createContext, HostLog, invoke } from "./invoke";
import { resolveSetting } from "./settings";

export interface TimerHandle {
  stop(): void;
}

function parseTimeSpan(schedule: string): number | undefined {
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(schedule.trim());
  if (!m) return undefined;
  const [, d, h, min, s] = m;
  return (((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(min)) * 60 + Number(s)) * 1000;
}

export function startTimer(
  fn: RegisteredFunction,
  log: HostLog,
  inputsByType: Record<string, () => unknown>,
): TimerHandle {
  const schedule = resolveSetting(fn.trigger.schedule);
  const interval = parseTimeSpan(schedule);
  let running = false;
  let last: Date | undefined;
  let cron: Cron | undefined;
  const next = (): Date | undefined =>
    interval !== undefined ? new Date(Date.now() + interval) : (cron?.nextRun() ?? undefined);
  const fire = async (scheduledFor: Date) => {
    if (running) {
      log("warn", `Timer '${fn.name}' is still running; skipping this occurrence`, { function: fn.name });
      return;
    }
    running = true;
    const now = new Date();
    const timer = {
      isPastDue: now.getTime() - scheduledFor.getTime() > 1000,
      schedule: { adjustForDST: true },
      scheduleStatus: {
        last: (last ?? new Date(0)).toISOString(),
        next: next()?.toISOString(),
        lastUpdated: now.toISOString(),
      },
    };
    last = now;
    try {
      await invoke(fn, timer, createContext(fn, { log, inputsByType }), log);
    } catch {
      // logged by invoke; the schedule goes on
    } finally {
      running = false;
    }
  };
  let intervalHandle: NodeJS.Timeout | undefined;
  if (interval !== undefined) {
    if (interval <= 0) throw new Error(`Timer '${fn.name}': the TimeSpan "${schedule}" must be positive.`);
    intervalHandle = setInterval(() => void fire(new Date()), interval);
  } else {
    const fields = schedule.trim().split(/\s+/);
    if (fields.length !== 6) {
      throw new Error(
        `Timer '${fn.name}': "${schedule}" is not a six-field NCRONTAB expression ({second} {minute} {hour} {day} {month} {day-of-week}).`,
      );
    }
    cron = new Cron(schedule, { protect: false }, () => void fire(new Date()));
  }
  if (fn.trigger.runOnStartup === true) void fire(new Date());
  return {
    stop() {
      cron?.stop();
      if (intervalHandle) clearInterval(intervalHandle);
    },
  };
}
