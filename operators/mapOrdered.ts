import { Observable, type OperatorFunction } from 'rxjs';

/**
 * `mergeMap` with bounded concurrency that emits in input order. Order matters: the store, the
 * progress counts and the limit per class must not depend on which worker finished first.
 * `fn` may resolve to undefined to drop an item (after releasing its ticket).
 */
export function mapOrdered<T, R>(fn: (item: T) => Promise<R | undefined>, concurrency = 1): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      type Entry = { item: T; started: boolean; settled: boolean; value?: R; error?: unknown; failed?: boolean };
      const queue: Entry[] = [];
      let running = 0;
      let sourceDone = false;
      let closed = false;

      const pump = (): void => {
        if (closed) return;
        for (const e of queue) {
          if (running >= concurrency) break;
          if (!e.started) start(e);
        }
        while (queue.length > 0 && queue[0]!.settled) {
          const e = queue.shift()!;
          if (e.failed) {
            closed = true;
            subscriber.error(e.error);
            return;
          }
          if (e.value !== undefined) subscriber.next(e.value);
        }
        if (sourceDone && queue.length === 0) {
          closed = true;
          subscriber.complete();
        }
      };

      const start = (e: Entry): void => {
        e.started = true;
        running++;
        let p: Promise<R | undefined>;
        try {
          p = fn(e.item);
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then(
          (v) => {
            e.value = v;
          },
          (err: unknown) => {
            e.failed = true;
            e.error = err;
          },
        ).finally(() => {
          e.settled = true;
          running--;
          pump();
        });
      };

      const sub = source.subscribe({
        next: (item) => {
          queue.push({ item, started: false, settled: false });
          pump();
        },
        error: (err: unknown) => {
          closed = true;
          subscriber.error(err);
        },
        complete: () => {
          sourceDone = true;
          pump();
        },
      });
      return () => {
        closed = true;
        sub.unsubscribe();
      };
    });
}
