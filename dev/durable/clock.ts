/**
 * The engine's one source of time. Everything the engine reads as "now" (history timestamps, the
 * orchestrator's `currentUtcDateTime`, timer due times, retry intervals) and every wait it arms goes
 * through a Clock, so a test or a dev host can run on virtual time instead of the wall clock.
 */

export interface ClockTimer {
  readonly dueAt: number;
}

export interface Clock {
  /** Milliseconds since the epoch, as the engine sees them. */
  now(): number;
  /** Calls `fn` once the clock reaches `dueAt` (clock time). */
  setTimer(fn: () => void, dueAt: number): ClockTimer;
  clearTimer(timer: ClockTimer): void;
}

/** setTimeout's longest delay; a later wake-up fires early, finds nothing due and re-arms. */
const MAX_TIMEOUT = 2 ** 31 - 1;

interface RealTimer extends ClockTimer {
  handle: NodeJS.Timeout;
}

/** The wall clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, dueAt) {
    const handle = setTimeout(fn, Math.min(Math.max(0, dueAt - Date.now()), MAX_TIMEOUT));
    return { dueAt, handle } as RealTimer;
  },
  clearTimer(timer) {
    clearTimeout((timer as RealTimer).handle);
  },
};

interface VirtualTimer extends ClockTimer {
  fn: () => void;
  handle?: NodeJS.Timeout;
}

/**
 * Wall-clock time plus an offset that only grows. Timers fire when real time reaches them, or at once
 * when `advanceTo` moves the clock past their due time (time skipping).
 */
export class VirtualClock implements Clock {
  private offset = 0;
  private readonly pending = new Set<VirtualTimer>();

  constructor(start?: number) {
    if (start !== undefined) this.offset = start - Date.now();
  }

  now(): number {
    return Date.now() + this.offset;
  }

  setTimer(fn: () => void, dueAt: number): ClockTimer {
    const timer: VirtualTimer = { dueAt, fn };
    this.pending.add(timer);
    this.arm(timer);
    return timer;
  }

  clearTimer(timer: ClockTimer): void {
    const t = timer as VirtualTimer;
    clearTimeout(t.handle);
    this.pending.delete(t);
  }

  /** The earliest due time of a pending timer, if any. */
  nextDueAt(): number | undefined {
    let min: number | undefined;
    for (const t of this.pending) if (min === undefined || t.dueAt < min) min = t.dueAt;
    return min;
  }

  /** Moves the clock forward to `time` (never back) and fires every timer now due. */
  advanceTo(time: number): void {
    if (time > this.now()) this.offset += time - this.now();
    for (const t of this.pending) if (t.dueAt <= this.now()) this.fire(t);
  }

  private arm(t: VirtualTimer): void {
    clearTimeout(t.handle);
    const delay = Math.min(Math.max(0, t.dueAt - this.now()), MAX_TIMEOUT);
    t.handle = setTimeout(() => {
      if (t.dueAt <= this.now()) this.fire(t);
      else this.arm(t);
    }, delay);
  }

  private fire(t: VirtualTimer): void {
    if (!this.pending.delete(t)) return;
    clearTimeout(t.handle);
    t.fn();
  }
}
