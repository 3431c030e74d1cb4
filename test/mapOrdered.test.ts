import test from 'ava';
import { isDdpsError } from '../core/errors.js';
import { mapOrderedIterable } from '../operators/mapOrdered.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A source that records how far it has been read and whether it was closed. */
function counted(n: number): { source: AsyncGenerator<number>; read: () => number; closed: () => boolean } {
  let read = 0;
  let closed = false;
  const source = (async function* () {
    try {
      for (let i = 0; i < n; i++) {
        read = i + 1;
        yield i;
      }
    } finally {
      closed = true;
    }
  })();
  return { source, read: () => read, closed: () => closed };
}

test('mapOrderedIterable: input order whatever finishes first; reads at most `concurrency` ahead of what is taken', async (t) => {
  const src = counted(40);
  let running = 0;
  let most = 0;
  const out: number[] = [];
  for await (const v of mapOrderedIterable(
    src.source,
    async (i) => {
      most = Math.max(most, ++running);
      await tick((i * 7) % 5);
      running--;
      return i * 10;
    },
    3,
  )) {
    out.push(v);
    t.true(src.read() <= out.length + 3, `read ${src.read()} with ${out.length} taken`);
  }
  t.deepEqual(out, Array.from({ length: 40 }, (_, i) => i * 10));
  t.is(most, 3);
  t.true(src.closed());
});

test('mapOrderedIterable: the first failure in input order is thrown, the source closed, started inputs settled', async (t) => {
  const src = counted(100);
  const settled = new Set<number>();
  const run = async (): Promise<number[]> => {
    const out: number[] = [];
    for await (const v of mapOrderedIterable(
      src.source,
      async (i) => {
        await tick(i === 3 ? 1 : 5);
        settled.add(i);
        if (i === 3 || i === 4) throw new Error(`bad ${i}`);
        return i;
      },
      4,
    ))
      out.push(v);
    return out;
  };
  await t.throwsAsync(run(), { message: 'bad 3' });
  t.true(src.closed());
  t.true(src.read() < 10);
  t.deepEqual([...settled].sort((a, b) => a - b), Array.from({ length: src.read() }, (_, i) => i));
});

test('mapOrderedIterable: breaking out closes the source; a plain iterable works too; concurrency is checked', async (t) => {
  const src = counted(1000);
  for await (const v of mapOrderedIterable(src.source, async (i) => i, 2)) if (v === 5) break;
  t.true(src.closed());
  t.true(src.read() <= 8);
  const squares: number[] = [];
  for await (const v of mapOrderedIterable([1, 2, 3], async (i) => i * i, 8)) squares.push(v);
  t.deepEqual(squares, [1, 4, 9]);
  const err = await t.throwsAsync(async () => {
    for await (const _ of mapOrderedIterable([1], async (i) => i, 0)) t.fail();
  });
  t.true(isDdpsError(err, 'BAD_ARGUMENT'));
});
