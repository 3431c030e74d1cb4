import { Observable, type OperatorFunction } from 'rxjs';

/**
 * Micro-batches of up to `size` items that share a key (a model call needs one tensor shape).
 * At most `size - 1` items wait here at any time, so a bounded Flow window of at least `size`
 * can never deadlock on a half-full batch: when the waiting items of all keys reach `size`, the
 * largest group goes out as it is.
 */
export function batch<T>(size: number, keyOf: (item: T) => string = () => ''): OperatorFunction<T, T[]> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`batch size must be a positive integer, got ${size}`);
  return (source) =>
    new Observable<T[]>((subscriber) => {
      const groups = new Map<string, T[]>();
      let waiting = 0;
      const flush = (key: string): void => {
        const g = groups.get(key)!;
        groups.delete(key);
        waiting -= g.length;
        subscriber.next(g);
      };
      const sub = source.subscribe({
        next: (item) => {
          const key = keyOf(item);
          const g = groups.get(key) ?? [];
          g.push(item);
          groups.set(key, g);
          waiting++;
          if (g.length >= size) flush(key);
          else if (waiting >= size) {
            let largest = key;
            for (const [k, v] of groups) if (v.length > groups.get(largest)!.length) largest = k;
            flush(largest);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          for (const key of [...groups.keys()]) flush(key);
          subscriber.complete();
        },
      });
      return () => sub.unsubscribe();
    });
}

/** The inverse of batch: one item at a time again. */
export function unbatch<T>(): OperatorFunction<T[], T> {
  return (source) =>
    new Observable<T>((subscriber) =>
      source.subscribe({
        next: (items) => items.forEach((i) => subscriber.next(i)),
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}
