import { Observable, type OperatorFunction } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import { dropAll, holdAll } from './flow.js';

interface Slot<T, R> {
  input: T;
  state: 'running' | 'done' | 'failed';
  value?: R;
  error?: unknown;
}

/**
 * `fn` over the stream with at most `concurrency` items started but not yet emitted, emitting in
 * input order: results never depend on which item finished first (determinism, resume), and a slow
 * item holds back at most `concurrency - 1` finished ones. A failed item goes to `onError` when that
 * is given and accepts it (returns true), and is dropped; otherwise it ends the stream.
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
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new DdpsError('BAD_ARGUMENT', `concurrency ${concurrency}: expected a whole number >= 1`);
  }
  return (source) =>
    new Observable<R>((subscriber) => {
      // A queue with a moving head (shift() on a long backlog would be quadratic); taken entries are
      // cleared so a started input is held only by its slot.
      let waiting: Array<T | undefined> = [];
      let head = 0;
      const window: Array<Slot<T, R>> = [];
      let sourceDone = false;

      const start = (): void => {
        while (window.length < concurrency && head < waiting.length) {
          const input = waiting[head] as T;
          waiting[head++] = undefined;
          const slot: Slot<T, R> = { input, state: 'running' };
          window.push(slot);
          new Promise<R>((resolve) => resolve(fn(input))).then(
            (value) => {
              slot.state = 'done';
              slot.value = value;
              flush();
            },
            (error: unknown) => {
              slot.state = 'failed';
              slot.error = error;
              flush();
            },
          );
        }
        if (head > 1024 && head * 2 > waiting.length) {
          waiting = waiting.slice(head);
          head = 0;
        }
      };

      function flush(): void {
        while (!subscriber.closed && window.length > 0 && window[0].state !== 'running') {
          const slot = window.shift()!;
          if (slot.state === 'done') {
            subscriber.next(slot.value as R);
            dropAll(slot.input);
          } else if (slot.state === 'failed') {
            let handled = false;
            try {
              handled = onError !== undefined && onError(slot.input, slot.error);
            } catch (err) {
              window.unshift(slot);
              subscriber.error(err);
              return;
            }
            if (!handled) {
              window.unshift(slot);
              subscriber.error(slot.error);
              return;
            }
            dropAll(slot.input);
          }
        }
        if (subscriber.closed) return;
        start();
        if (sourceDone && window.length === 0 && head === waiting.length) subscriber.complete();
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
        for (const slot of window.splice(0)) dropAll(slot.input);
        for (let i = head; i < waiting.length; i++) dropAll(waiting[i]);
        waiting = [];
        head = 0;
      };
    });
}
