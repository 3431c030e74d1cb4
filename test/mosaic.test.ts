import test from 'ava';
import { isDdpsError } from '../core/errors.js';
import { cellIndices, distilledKey, layoutImages, mosaicFor, patchesNeeded, type MosaicMode } from '../operators/math/mosaic.js';
import type { ClassSelection, RankedPatch } from '../operators/selectionTypes.js';

function selection(cls: number, count: number): ClassSelection {
  const patches: RankedPatch[] = Array.from({ length: count }, (_, i) => ({
    key: `s${i}`,
    index: 0,
    cls,
    shard: 'a.tar',
    boxOriginal: [i, 0, 10, 10],
    score: -i,
    cluster: i % 3,
    rank: 0,
  }));
  return { cls, needed: count, patches };
}

test('RDED layout, n = 3: image m takes patches m, n+m, 2n+m, 3n+m', (t) => {
  t.deepEqual(cellIndices(3, 12, true), [
    [0, 3, 6, 9],
    [1, 4, 7, 10],
    [2, 5, 8, 11],
  ]);
});

test('patches beyond 4n are not used', (t) => {
  t.deepEqual(cellIndices(2, 11, true), [
    [0, 2, 4, 6],
    [1, 3, 5, 7],
  ]);
});

test('a short class keeps IPC mosaics, read image by image and cycled, four distinct patches each', (t) => {
  // 6 patches for 3 images: RDED's order cycled would give image 0 patches 0, 3, 0, 3.
  t.deepEqual(cellIndices(3, 6, true), [
    [0, 1, 2, 3],
    [4, 5, 0, 1],
    [2, 3, 4, 5],
  ]);
  t.deepEqual(cellIndices(2, 7, true), [
    [0, 1, 2, 3],
    [4, 5, 6, 0],
  ]);
  t.deepEqual(cellIndices(2, 1, true), [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ]);
  t.deepEqual(cellIndices(2, 0, true), []);
});

test('singles: one patch per image, a short class repeats its patches', (t) => {
  t.deepEqual(cellIndices(3, 5, false), [[0], [1], [2]]);
  t.deepEqual(cellIndices(3, 2, false), [[0], [1], [0]]);
  t.deepEqual(cellIndices(3, 0, false), []);
});

test('layoutImages: keys, class, and the patches themselves in cell order', (t) => {
  const sel = selection(7, 12);
  const images = layoutImages(sel, 3, true);
  t.deepEqual(
    images.map((i) => i.key),
    ['007_00000', '007_00001', '007_00002'],
  );
  t.true(images.every((i) => i.cls === 7));
  t.deepEqual(
    images[1]!.cells.map((p) => p.key),
    ['s1', 's4', 's7', 's10'],
  );
  t.is(images[2]!.cells[3], sel.patches[11]);
  const singles = layoutImages(selection(12, 15), 15, false);
  t.is(singles.length, 15);
  t.is(singles[14]!.key, '012_00014');
  t.deepEqual(singles[14]!.cells, [singles[14]!.cells[0]!]);
  t.is(singles[14]!.cells[0]!.key, 's14');
});

test('distilledKey pads class to 3 and image to 5 digits', (t) => {
  t.is(distilledKey(3, 7), '003_00007');
  t.is(distilledKey(999, 12345), '999_12345');
});

test('mosaicFor: auto is on up to IPC 10 except for whole-image stores; on and off force', (t) => {
  t.true(mosaicFor(1, 'auto', false));
  t.true(mosaicFor(10, 'auto', false));
  t.false(mosaicFor(11, 'auto', false));
  t.false(mosaicFor(10, 'auto', true));
  t.true(mosaicFor(50, 'on', false));
  t.true(mosaicFor(1, 'on', true));
  t.false(mosaicFor(1, 'off', false));
  const e = t.throws(() => mosaicFor(1, 'yes' as MosaicMode, false));
  t.true(isDdpsError(e, 'BAD_ARGUMENT'));
});

test('patchesNeeded: 4 x IPC for mosaics, IPC otherwise', (t) => {
  t.is(patchesNeeded(10, true), 40);
  t.is(patchesNeeded(50, false), 50);
  t.deepEqual([1, 2, 10].map((ipc) => patchesNeeded(ipc, true)), [4, 8, 40]);
  for (const bad of [0, -1, 2.5, NaN]) t.throws(() => patchesNeeded(bad, true), { message: /ipc must be a positive integer/ });
});

test('IPC must be a whole number >= 1', (t) => {
  t.true(isDdpsError(t.throws(() => cellIndices(0, 4, true)), 'BAD_ARGUMENT'));
  t.true(isDdpsError(t.throws(() => cellIndices(1.5, 4, true)), 'BAD_ARGUMENT'));
});
