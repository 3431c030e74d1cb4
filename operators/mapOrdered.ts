import { Observable, type OperatorFunction } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import { dropAll, holdAll } from './flow.js';

interface Slot<T, R> {
  input: T;
  state: 'running' | 'done' | 'failed';
  value?: R;
  error?: unknown;
  settled: Promise<void>;
}

function checkConcurrency(concurrency: number): void {
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new DdpsError('BAD_ARGUMENT', `concurrency ${concurrency}: expected a whole number >= 1`);
  }
}

/**
 * Bounded concurrency in input order, the one implementation behind both forms below: at most
 * `concurrency` inputs started and not yet taken, and results taken oldest first, so they never
 * depend on which input finished first (determinism, resume), and a slow input holds back at most
 * `concurrency - 1` finished ones.
 */
class OrderedWindow<T, R> {
  private readonly slots: Array<Slot<T, R>> = [];

  constructor(
    private readonly fn: (input: T) => Promise<R>,
    private readonly concurrency: number,
    private readonly onSettle: () => void,
  ) {
    checkConcurrency(concurrency);
  }

  get hasRoom(): boolean {
    return this.slots.length < this.concurrency;
  }

  get size(): number {
    return this.slots.length;
  }

  start(input: T): void {
    const slot = { input, state: 'running' } as Slot<T, R>;
    slot.settled = new Promise<R>((resolve) => resolve(this.fn(input))).then(
      (value) => {
        slot.state = 'done';
        slot.value = value;
        this.onSettle();
      },
      (error: unknown) => {
        slot.state = 'failed';
        slot.error = error;
        this.onSettle();
      },
    );
    this.slots.push(slot);
  }

  /** The oldest input, removed from the window, once it has settled; undefined while it runs. */
  take(): Slot<T, R> | undefined {
    return this.slots.length > 0 && this.slots[0].state !== 'running' ? this.slots.shift() : undefined;
  }

  /** Empties the window (its inputs keep running, their results are not taken); returns the inputs it held. */
  clear(): T[] {
    return this.slots.splice(0).map((s) => s.input);
  }

  /** Resolves once every started input has settled. */
  async drain(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.settled));
  }
}

/**
 * `fn` over the stream with at most `concurrency` items started but not yet emitted, emitting in
 * input order (see OrderedWindow). A failed item goes to `onError` when that is given and accepts
 * it (returns true), and is dropped; otherwise it ends the stream.
 *
 * A sample (or micro-batch) holds its place in the Flow window from arrival until its result has been
 * handed on, it is dropped, or the subscription ends: use it for an asynchronous step of your own that
 * should count against the window.
 */
export function mapOrdered<T, R>(
  fn: (input: T) => Promise<R>,
  concurrency: number,
  onError?: (input: T, err: unknown) => boolean,
): OperatorFunction<T, R> {
  checkConcurrency(concurrency);
  return (source) =>
    new Observable<R>((subscriber) => {
      // A queue with a moving head (shift() on a long backlog would be quadratic); taken entries are
      // cleared so a started input is held only by its slot.
      let waiting: Array<T | undefined> = [];
      let head = 0;
      let sourceDone = false;
      const window = new OrderedWindow(fn, concurrency, () => flush());

      const start = (): void => {
        while (window.hasRoom && head < waiting.length) {
          const input = waiting[head] as T;
          waiting[head++] = undefined;
          window.start(input);
        }
        if (head > 1024 && head * 2 > waiting.length) {
          waiting = waiting.slice(head);
          head = 0;
        }
      };

      function flush(): void {
        for (let slot = window.take(); slot !== undefined && !subscriber.closed; slot = window.take()) {
          if (slot.state === 'done') {
            subscriber.next(slot.value as R);
            dropAll(slot.input);
            continue;
          }
          let handled = false;
          try {
            handled = onError !== undefined && onError(slot.input, slot.error);
          } catch (err) {
            dropAll(slot.input);
            subscriber.error(err);
            return;
          }
          dropAll(slot.input);
          if (!handled) {
            subscriber.error(slot.error);
            return;
          }
        }
        if (subscriber.closed) return;
        start();
        if (sourceDone && window.size === 0 && head === waiting.length) subscriber.complete();
      }

      const sub = source.subscribe({
        next: (input) => {
          holdAll(input);
          waiting.push(input);
          start();
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          flush();
        },
      });
      return () => {
        sub.unsubscribe();
        // Whatever is still here will never be handed on: its places are free.
        for (const input of window.clear()) dropAll(input);
        for (let i = head; i < waiting.length; i++) dropAll(waiting[i]);
        waiting = [];
        head = 0;
      };
    });
}

/**
 * The pull-based form, for sources that must not be read ahead (a shard being streamed): the next
 * input is read only when fewer than `concurrency` are in flight, and results come in input order.
 * The first failure, in input order, is thrown. However the loop ends (done, a failure, the consumer
 * breaking out), the source is closed and every started input has settled before it returns.
 */
export async function* mapOrderedIterable<T, R>(source: AsyncIterable<T> | Iterable<T>, fn: (input: T) => Promise<R>, concurrency: number): AsyncGenerator<R> {
  let wake: (() => void) | undefined;
  const window = new OrderedWindow(fn, concurrency, () => wake?.());
  const it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  let sourceDone = false;
  try {
    for (;;) {
      while (!sourceDone && window.hasRoom) {
        const next = await it.next();
        if (next.done === true) sourceDone = true;
        else window.start(next.value);
      }
      if (window.size === 0) return;
      let slot = window.take();
      while (slot === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        slot = window.take();
      }
      if (slot.state === 'failed') throw slot.error;
      yield slot.value as R;
    }
  } finally {
    if (!sourceDone) await it.return?.();
    await window.drain();
  }
}
