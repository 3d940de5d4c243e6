/**
 * Keeps a receiver's settlements from taking each other's outcome.
 *
 * rhea 3.0.5, the AMQP library under @azure/service-bus, coalesces the settlements written in one flush
 * into disposition ranges, but its `write_dispositions` (lib/session.js) skips the outcome comparison
 * while a range holds a single delivery: the second settlement of a flush always joins the first's range
 * and goes out with the FIRST one's outcome. `complete(a)` and `deadLetter(b)` issued together complete
 * both; two dead-letters issued together both carry the first one's reason (docs/reliability.md).
 *
 * The gate: completes (`accepted`, the one outcome rhea batches correctly) may share a flush with each
 * other; so may settlements of one identical outcome (`sameOutcome(key)`, e.g. dead-letters with the same
 * reason and description): when the second joins the first's range unchecked it carries the first's
 * outcome, which is its own, and from the third on rhea compares and starts a new range. Any other
 * settlement (`exclusive`) waits until nothing is in flight on the receiver and holds it alone until
 * the broker has acknowledged it (the client's settle promise resolves only then, so its disposition has
 * been flushed). Waiters are served in order, so a stream of completes never starves a dead-letter.
 */
type SettlementKind = "complete" | "exclusive" | `same:${string}`;

/** The kind of settlements that all carry the outcome `key` names, and so may be issued together. */
export function sameOutcome(key: string): SettlementKind {
  return `same:${key}`;
}

export class SettlementGate {
  private active = 0;
  private activeKind: SettlementKind | undefined;
  private readonly waiting: { kind: SettlementKind; start: () => void }[] = [];

  async run<T>(kind: SettlementKind, settle: () => Promise<T>): Promise<T> {
    if (this.waiting.length === 0 && this.canStart(kind)) this.enter(kind);
    else
      await new Promise<void>((resolve) =>
        this.waiting.push({
          kind,
          start: () => {
            this.enter(kind);
            resolve();
          },
        }),
      );
    try {
      return await settle();
    } finally {
      this.leave();
    }
  }

  private canStart(kind: SettlementKind): boolean {
    return this.active === 0 || (kind !== "exclusive" && kind === this.activeKind);
  }

  private enter(kind: SettlementKind): void {
    this.active++;
    this.activeKind = kind;
  }

  private leave(): void {
    this.active--;
    if (this.active === 0) this.activeKind = undefined;
    for (let next = this.waiting[0]; next && this.canStart(next.kind); next = this.waiting[0]) {
      this.waiting.shift();
      next.start();
    }
  }
}
