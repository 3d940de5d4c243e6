/**
 * The part's side of the local stack's supervisor (dev/supervisor.ts). A part announces that it is ready,
 * and what the others need to reach it (its actual ports, when 0 asked for any), with one `ready <json>`
 * line on stdout; it stops cleanly on SIGINT or SIGTERM; and when supervised it also stops when its
 * supervisor is gone (its stdin, a pipe from the supervisor, closes), so a killed `npm start` leaves no
 * process behind holding ports or files.
 */

/** Set by the supervisor in each part's environment. */
export const SUPERVISED_ENV = "STACK_SUPERVISED";
export const READY_PREFIX = "ready ";

export function announceReady(info: Record<string, unknown>): void {
  process.stdout.write(`${READY_PREFIX}${JSON.stringify(info)}\n`);
}

/** Runs `stop` once on SIGINT, SIGTERM or (supervised) the supervisor's end, then exits 0 (1 if it failed). */
export function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const run = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`stopping failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", run);
  process.on("SIGTERM", run);
  if (process.env[SUPERVISED_ENV]) {
    process.stdin.on("end", run);
    process.stdin.on("error", run);
    process.stdin.resume();
  }
}
