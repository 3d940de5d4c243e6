/**
 * Tenant maintenance windows: `{ cron, durationMinutes, timeZone }`, each opening at every occurrence
 * of a five-field cron (`minute hour day month weekday`) in an IANA time zone and staying open for its
 * duration. A deployment to a tenant with windows waits until one is open.
 *
 * Pure and deterministic given its inputs (croner reads no clock when given a start date), so the
 * deployment orchestrator may call it with `currentUtcDateTime`.
 */
import { Cron } from "croner";
import { z } from "zod";

export interface MaintenanceWindow {
  cron: string;
  durationMinutes: number;
  timeZone: string;
}

const MAX_MAINTENANCE_WINDOWS = 16;
/** A week: any longer and a weekly cron would leave the window open for good. */
const MAX_WINDOW_MINUTES = 7 * 24 * 60;

/** Stands for "never": every window's cron has no future occurrence. */
export const NEVER = new Date(8.64e15);

function cronOf(w: Pick<MaintenanceWindow, "cron" | "timeZone">): Cron {
  return new Cron(w.cron, { timezone: w.timeZone, mode: "5-part", paused: true });
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Why a cron expression is refused, or undefined when it is fine. */
export function cronError(cron: string): string | undefined {
  try {
    const c = new Cron(cron, { mode: "5-part", paused: true });
    // A pattern such as "0 0 30 2 *" parses but never fires: a window that never opens is a mistake.
    if (!c.nextRun(new Date(0))) return "never fires";
    return undefined;
  } catch (error) {
    return (error as Error).message.replace(/^CronPattern: /, "");
  }
}

const maintenanceWindowSchema = z
  .strictObject({
    cron: z.string().max(256),
    durationMinutes: z.number().int().min(1).max(MAX_WINDOW_MINUTES),
    timeZone: z.string().max(64).default("UTC"),
  })
  .superRefine((w, ctx) => {
    const error = cronError(w.cron);
    if (error !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["cron"],
        message: `must be a five-field cron expression (minute hour day month weekday): ${error}`,
      });
    if (!isTimeZone(w.timeZone))
      ctx.addIssue({
        code: "custom",
        path: ["timeZone"],
        message: "must be an IANA time zone name, e.g. Europe/Berlin or UTC",
      });
  });

export const maintenanceWindowsSchema = z.array(maintenanceWindowSchema).max(MAX_MAINTENANCE_WINDOWS);

/**
 * When the next window opens: undefined when one is open at `now` (or there are none), else the
 * earliest opening after `now` (NEVER when no cron fires again). A window is open at `now` iff its first
 * occurrence after `now - duration` is not after `now`; the end instant itself is outside the window.
 */
export function windowOpensAt(windows: readonly MaintenanceWindow[], now: Date): Date | undefined {
  if (windows.length === 0) return undefined;
  let next = NEVER.getTime();
  for (const w of windows) {
    const cron = cronOf(w);
    const since = new Date(now.getTime() - w.durationMinutes * 60_000);
    const first = cron.nextRun(since);
    if (!first) continue;
    if (first.getTime() <= now.getTime()) return undefined;
    next = Math.min(next, first.getTime());
  }
  return new Date(next);
}
