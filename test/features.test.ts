import test from 'ava';
import { isDdpsError } from '../core/errors.js';
import { boxCells, l2normalize, meanOf, poolFeature } from '../operators/math/features.js';
import { seededRandom } from '../models/noise.js';


const f = Math.fround;

// 2 channels on a 2x2 map of a 32x32 image (16 px per cell): ch0 = 3 everywhere, ch1 = [0 8; 4 4].
const MAP = Float32Array.of(3, 3, 3, 3, 0, 8, 4, 4);

test('poolFeature: hand-worked channel means, normalised', (t) => {
  // whole image: means (3, 4) -> (0.6, 0.8)
  t.deepEqual(Array.from(poolFeature(MAP, 2, 2, 2, [0, 0, 32, 32], 32, 32)), [f(0.6), f(0.8)]);
  // right column: means (3, 6) -> (1, 2) / sqrt(5)
  t.deepEqual(Array.from(poolFeature(MAP, 2, 2, 2, [16, 0, 16, 32], 32, 32)), [f(3 / Math.sqrt(45)), f(6 / Math.sqrt(45))]);
  // top-left cell: (3, 0) -> (1, 0)
  t.deepEqual(Array.from(poolFeature(MAP, 2, 2, 2, [0, 0, 16, 16], 32, 32)), [1, 0]);
  // a box inside one cell pools that cell only: bottom-right (3, 4)
  t.deepEqual(Array.from(poolFeature(MAP, 2, 2, 2, [20, 20, 4, 4], 32, 32)), [f(0.6), f(0.8)]);
});

test('poolFeature writes into out and returns it', (t) => {
  const out = new Float32Array(2);
  t.is(poolFeature(MAP, 2, 2, 2, [0, 0, 32, 32], 32, 32, out), out);
  t.deepEqual(Array.from(out), [f(0.6), f(0.8)]);
});

test('boxCells: SD 1.5 geometry (1/16) and its edges', (t) => {
  const cells = (x: number, y: number, w: number, h: number) => boxCells([x, y, w, h], 16, 16, 256, 256);
  t.deepEqual(cells(0, 0, 224, 224), { x0: 0, x1: 14, y0: 0, y1: 14 });
  t.deepEqual(cells(32, 8, 224, 224), { x0: 2, x1: 16, y0: 0, y1: 15 });
  t.deepEqual(cells(8, 8, 8, 8), { x0: 0, x1: 1, y0: 0, y1: 1 });
  t.deepEqual(cells(15, 20, 2, 1), { x0: 0, x1: 2, y0: 1, y1: 2 }); // straddles the 16 px line
  t.deepEqual(cells(0, 0, 256, 256), { x0: 0, x1: 16, y0: 0, y1: 16 });
  // empty boxes still get one cell, also on the far edge
  t.deepEqual(cells(0, 0, 0, 0), { x0: 0, x1: 1, y0: 0, y1: 1 });
  t.deepEqual(cells(256, 256, 0, 0), { x0: 15, x1: 16, y0: 15, y1: 16 });
  t.deepEqual(cells(240, 240, 16, 16), { x0: 15, x1: 16, y0: 15, y1: 16 });
});

test('boxCells: non-square images and non-integer ratios', (t) => {
  // 384 x 256 image, 24 x 16 map
  t.deepEqual(boxCells([128, 0, 224, 224], 24, 16, 384, 256), { x0: 8, x1: 22, y0: 0, y1: 14 });
  // 100 px over 7 cells: x 30..70 -> 2.1 .. 4.9 -> cells 2, 3, 4
  t.deepEqual(boxCells([30, 0, 40, 100], 7, 7, 100, 100), { x0: 2, x1: 5, y0: 0, y1: 7 });
});

test('boxCells: a box outside the image is a DdpsError', (t) => {
  const bad = (f: () => unknown) => t.true(isDdpsError(t.throws(f), 'BAD_ARGUMENT'));
  bad(() => boxCells([250, 0, 10, 10], 16, 16, 256, 256));
  bad(() => boxCells([-1, 0, 10, 10], 16, 16, 256, 256));
  bad(() => boxCells([0, 0, 10, NaN], 16, 16, 256, 256));
});

test('poolFeature: unit norm for a 1280-channel map, zero map stays zero', (t) => {
  const rnd = seededRandom(7);
  const c = 1280;
  const map = new Float32Array(c * 16 * 16);
  for (let i = 0; i < map.length; i++) map[i] = rnd() * 2 - 1;
  const v = poolFeature(map, c, 16, 16, [16, 32, 224, 208], 256, 256);
  let s = 0;
  for (const x of v) s += x * x;
  t.true(Math.abs(Math.sqrt(s) - 1) < 1e-6, `norm ${Math.sqrt(s)}`);

  const zero = poolFeature(new Float32Array(c * 16 * 16), c, 16, 16, [0, 0, 224, 224], 256, 256);
  t.true(zero.every((x) => x === 0));
});

test('poolFeature: bad sizes are DdpsErrors', (t) => {
  const bad = (f: () => unknown) => t.true(isDdpsError(t.throws(f), 'BAD_ARGUMENT'));
  bad(() => poolFeature(MAP, 2, 2, 3, [0, 0, 32, 32], 32, 32));
  bad(() => poolFeature(MAP, 2, 2, 2, [0, 0, 32, 32], 32, 32, new Float32Array(3)));
  bad(() => poolFeature(MAP, 2, 2, 2, [0, 0, 32, 32], 0, 32));
});

test('l2normalize: in place, hand values, zero vector', (t) => {
  const v = Float32Array.of(3, 4);
  t.is(l2normalize(v), v);
  t.deepEqual(Array.from(v), [f(0.6), f(0.8)]);
  t.deepEqual(Array.from(l2normalize(Float32Array.of(0, -2, 0))), [0, -1, 0]);
  t.deepEqual(Array.from(l2normalize(new Float32Array(3))), [0, 0, 0]);
});

test('meanOf: element-wise mean, into out', (t) => {
  t.deepEqual(Array.from(meanOf([Float32Array.of(1, 2), Float32Array.of(3, 6)])), [2, 4]);
  const out = new Float32Array(3);
  t.is(meanOf([Float32Array.of(1, 1, 1), Float32Array.of(0, 1, 2), Float32Array.of(2, 1, 0)], out), out);
  t.deepEqual(Array.from(out), [1, 1, 1]);
  const bad = (f: () => unknown) => t.true(isDdpsError(t.throws(f), 'BAD_ARGUMENT'));
  bad(() => meanOf([]));
  bad(() => meanOf([Float32Array.of(1, 2), Float32Array.of(1)]));
  bad(() => meanOf([Float32Array.of(1, 2)], new Float32Array(1)));
});

test('ensemble: average the draws, then pool and normalise once', (t) => {
  // Draw A favours channel 0 in the box, draw B channel 1; averaging normalised features would
  // weight them equally, averaging first keeps B's larger magnitude.
  const a = Float32Array.of(1, 1, 1, 1, 0, 0, 0, 0); // box means (1, 0)
  const b = Float32Array.of(0, 0, 0, 0, 3, 3, 3, 3); // box means (0, 3)
  const v = poolFeature(meanOf([a, b]), 2, 2, 2, [0, 0, 32, 32], 32, 32);
  t.deepEqual(Array.from(v), [f(0.5 / Math.sqrt(2.5)), f(1.5 / Math.sqrt(2.5))]);
});
