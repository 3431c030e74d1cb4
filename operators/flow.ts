/**
 * Backpressure for RxJS. Observables push, so a source that emits as fast as it can reads the whole
 * dataset into memory before the first model call ends (DESIGN.md). A Flow caps the samples alive in
 * the pipeline: the source takes a ticket before it reads a sample, and whoever ends a sample's life
 * (the store writing it, an operator dropping it) releases the ticket.
 */

export interface Ticket {
  /** Idempotent: a sample released twice frees one place. */
  release(): void;
}

export class Flow {
  private inFlight = 0;
  private waiters: (() => void)[] = [];

  constructor(readonly window: number) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError(`flow window must be a positive integer, got ${window}`);
  }

  get alive(): number {
    return this.inFlight;
  }

  /** Resolves once fewer than `window` samples are alive, and counts the new one. */
  async acquire(): Promise<Ticket> {
    while (this.inFlight >= this.window) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.inFlight++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        this.waiters.shift()?.();
      },
    };
  }
}

/** Releases the ticket a sample carries, if any. */
export function release(item: { ticket?: Ticket }): void {
  item.ticket?.release();
}
