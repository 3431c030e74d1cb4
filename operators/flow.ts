/**
 * Backpressure for RxJS. Observables push, so a source that emits as fast as it can reads the whole
 * dataset into memory before the first model call ends (DESIGN.md). A Flow bounds the samples that
 * ddps's operators hold at once, and nobody has to give anything back by hand:
 *
 * - The source reads a sample only while fewer than `window` samples hold a place, and gives the
 *   sample a Ticket: its place.
 * - A ddps operator holds the place of every sample it has received and not yet finished with. It
 *   hands a sample on synchronously (the next operator receives it inside the emitting call), and a
 *   sample made from another keeps its ticket (`{ ...sample, more }`), so the place passes from
 *   operator to operator without ever being free.
 * - When the last holder lets go and no ddps operator took the sample in the meantime, the place is
 *   free at once: the sample was dropped (filter, take, first, a catchError that swallows it, a bad
 *   sample skipped), stored by the sink, or delivered to your own subscriber.
 * - A sample that comes back into a ddps operator later, out of an asynchronous operator of yours,
 *   takes its place again on arrival (an operator cannot refuse an item, so this never waits).
 * - An operator that waits for more input before it emits (batch) gives up a partial batch when the
 *   source is waiting for room, so no window is too small to make progress.
 * - Unsubscribing (take, first, an error, your own unsubscribe) lets go of every place the operators
 *   held and stops the source, which closes its shard file; nothing stays parked.
 *
 * What the Flow cannot see is a sample waiting inside an asynchronous operator of yours (mergeMap's
 * own queue): use mapOrdered for an asynchronous step that should count against the window.
 */

/** A sample's place in its Flow's window. */
export class Ticket {
  private holders = 0;
  private ownReleased = false;

  /** @internal Use Flow.acquire. */
  constructor(readonly flow: Flow) {
    this.hold();
  }

  /** Another holder (an operator that received the sample). Takes the place again if it was free. */
  hold(): void {
    if (this.holders++ === 0) this.flow.taken();
  }

  /** One holder lets go; the place is free when none is left. */
  drop(): void {
    if (this.holders === 0) return;
    if (--this.holders === 0) this.flow.freed();
  }

  /** The acquirer's own hold lets go (idempotent): a source calls it once its emission returned. */
  release(): void {
    if (this.ownReleased) return;
    this.ownReleased = true;
    this.drop();
  }
}

/** The read-ahead window of a pipeline: how many samples ddps's operators may hold at once (see the module comment). */
export class Flow {
  private held = 0;
  private top = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly pressure = new Set<() => void>();

  /** @param window the most samples held at once by ddps's operators. */
  constructor(readonly window: number) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError(`flow window must be a positive integer, got ${window}`);
  }

  /** Samples holding a place now. */
  get alive(): number {
    return this.held;
  }

  /** Sources parked until a place is free. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** The most samples that ever held a place at once. */
  get peak(): number {
    return this.top;
  }

  /**
   * A ticket for a new sample, held by the caller, once fewer than `window` samples hold a place.
   * With `signal`, resolves undefined if it aborts first (an unsubscribed source stops waiting).
   */
  acquire(): Promise<Ticket>;
  acquire(signal: AbortSignal): Promise<Ticket | undefined>;
  async acquire(signal?: AbortSignal): Promise<Ticket | undefined> {
    while (this.held >= this.window) {
      if (signal?.aborted) return undefined;
      for (const f of this.pressure) queueMicrotask(f);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal?.removeEventListener('abort', wake);
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve();
        };
        this.waiters.push(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
    return signal?.aborted ? undefined : new Ticket(this);
  }

  /**
   * Calls `fn` whenever a source has to wait for room: an operator holding samples back for more
   * input lets some go. Returns the unregister function.
   */
  onPressure(fn: () => void): () => void {
    this.pressure.add(fn);
    return () => this.pressure.delete(fn);
  }

  /** @internal Ticket bookkeeping. */
  taken(): void {
    this.held++;
    if (this.held > this.top) this.top = this.held;
  }

  /** @internal Ticket bookkeeping. */
  freed(): void {
    this.held--;
    this.waiters[0]?.();
  }
}

/** The tickets an item carries: its own, or each element's for a micro-batch. */
export function ticketsOf(item: unknown): Ticket[] {
  if (Array.isArray(item)) return item.flatMap(ticketsOf);
  const t = (item as { ticket?: unknown } | null | undefined)?.ticket;
  return t instanceof Ticket ? [t] : [];
}

/** Holds every ticket `item` carries (an operator received it). */
export function holdAll(item: unknown): void {
  for (const t of ticketsOf(item)) t.hold();
}

/** Lets go of every ticket `item` carries (an operator is done with it). */
export function dropAll(item: unknown): void {
  for (const t of ticketsOf(item)) t.drop();
}

/** Releases the acquirer's hold on the ticket a sample carries, if any (a sink ends a hand-held sample). */
export function release(item: { ticket?: Ticket }): void {
  item.ticket?.release();
}
