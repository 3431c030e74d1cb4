import { Observable, type OperatorFunction } from 'rxjs';
import { dropAll, type Flow, holdAll, ticketsOf } from './flow.js';

/** The default micro-batch key: a sample's resized size (a model call needs one tensor shape), else one group. */
export function sizeKey(item: unknown): string {
  const t = (item as { transform?: { width: number; height: number } } | null)?.transform;
  return t === undefined ? '' : `${t.width}x${t.height}`;
}

/**
 * Micro-batches of up to `size` items that share a key; by default samples of one resized size, so
 * a batch is one tensor shape for the model. A group goes out when it is full, when the source waits
 * for room in the Flow window (the largest group, as it is: so no window is too small), or at the end.
 */
export function batch<T>(size = 4, keyOf: (item: T) => string = sizeKey): OperatorFunction<T, T[]> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`batch size must be a positive integer, got ${size}`);
  return (source) =>
    new Observable<T[]>((subscriber) => {
      const groups = new Map<string, T[]>();
      const pressure = new Map<Flow, () => void>();
      const flush = (key: string): void => {
        const g = groups.get(key)!;
        groups.delete(key);
        subscriber.next(g);
        dropAll(g);
      };
      const flushLargest = (): void => {
        let largest: string | undefined;
        for (const [k, v] of groups) if (largest === undefined || v.length > groups.get(largest)!.length) largest = k;
        if (largest !== undefined) flush(largest);
      };
      const sub = source.subscribe({
        next: (item) => {
          holdAll(item);
          for (const t of ticketsOf(item)) if (!pressure.has(t.flow)) pressure.set(t.flow, t.flow.onPressure(() => subscriber.closed || flushLargest()));
          const key = keyOf(item);
          const g = groups.get(key) ?? [];
          g.push(item);
          groups.set(key, g);
          if (g.length >= size) flush(key);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          for (const key of [...groups.keys()]) if (!subscriber.closed && groups.has(key)) flush(key);
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        for (const off of pressure.values()) off();
        for (const g of groups.values()) dropAll(g);
        groups.clear();
      };
    });
}

/**
 * Indices of `items` grouped by resized size, groups in order of first appearance: a model operator
 * makes one call per group, so a micro-batch that mixes sizes (a key of your own, bufferCount) still works.
 */
export function sizeGroups(items: readonly unknown[]): number[][] {
  const groups = new Map<string, number[]>();
  items.forEach((it, i) => {
    const k = sizeKey(it);
    const g = groups.get(k);
    if (g) g.push(i);
    else groups.set(k, [i]);
  });
  return [...groups.values()];
}
