import test from 'ava';
import { isDdpsError } from '../core/errors.js';
import { keyedUniform, seededRandom } from '../models/noise.js';
import { resampleRgb } from '../models/resample.js';
import {
  type AugmentConfig,
  applyCutMix,
  betaSample,
  randomPermutation,
  randomResizedCropBox,
  renderAug,
  sampleCutMix,
  sampleImageAug,
  shuffleStrips,
  stripBounds,
} from '../operators/math/augment.js';

const CIFAR: AugmentConfig = { shufflePatches: 1, rrcScale: [1, 1], rrcRatio: [3 / 4, 4 / 3], flip: 0.5, cutmixBeta: 1 };
const NETTE: AugmentConfig = { ...CIFAR, shufflePatches: 2, rrcScale: [0.5, 1] };

/** An image whose pixel (x, y) is (x, y, 7) in every position: every pixel says where it came from. */
function coords(width: number, height: number) {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgb.set([x, y, 7], (y * width + x) * 3);
  return { rgb, width, height };
}

const pixel = (img: { rgb: ArrayLike<number>; width: number }, x: number, y: number) => Array.from({ length: 3 }, (_, c) => img.rgb[(y * img.width + x) * 3 + c]);

test('randomPermutation: every permutation of 3 about equally often', (t) => {
  const next = seededRandom(1);
  const counts = new Map<string, number>();
  for (let i = 0; i < 6000; i++) {
    const p = randomPermutation(next, 3).join('');
    counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  t.is(counts.size, 6);
  for (const [p, n] of counts) t.true(n > 850 && n < 1150, `${p}: ${n}`);
});

test('randomResizedCropBox: scale (1, 1) gives the whole square image; scale (0.5, 1) stays in range', (t) => {
  for (let i = 0; i < 200; i++) t.deepEqual(randomResizedCropBox(keyedUniform(0, `k${i}`, 0), 32, 32, [1, 1], [3 / 4, 4 / 3]).slice(2), [32, 32]);
  let areas = 0;
  for (let i = 0; i < 2000; i++) {
    const [x, y, w, h] = randomResizedCropBox(keyedUniform(0, `k${i}`, 1), 224, 224, [0.5, 1], [3 / 4, 4 / 3]);
    t.true(x >= 0 && y >= 0 && x + w <= 224 && y + h <= 224);
    const a = (w * h) / 224 ** 2;
    t.true(a > 0.48 && a <= 1, `area ${a}`);
    areas += a;
  }
  // Uniform on [0.5, 1] before the big, overflowing tries fall back: the mean sits a little below 0.75.
  t.true(areas / 2000 > 0.65 && areas / 2000 < 0.78, `mean area ${areas / 2000}`);
});

test('betaSample: Beta(1, 1) is uniform, Beta(2, 5) has mean 2/7 and variance 10/392', (t) => {
  const next = seededRandom(3);
  const u = Array.from({ length: 20000 }, () => betaSample(next, 1, 1));
  t.true(Math.abs(u.reduce((a, b) => a + b, 0) / u.length - 0.5) < 0.01);
  const b = Array.from({ length: 20000 }, () => betaSample(next, 2, 5));
  const mean = b.reduce((a, v) => a + v, 0) / b.length;
  const variance = b.reduce((a, v) => a + (v - mean) ** 2, 0) / b.length;
  t.true(Math.abs(mean - 2 / 7) < 0.005, `mean ${mean}`);
  t.true(Math.abs(variance - 10 / 392) < 0.002, `variance ${variance}`);
  t.true(isDdpsError(t.throws(() => betaSample(next, 0, 1)), 'BAD_ARGUMENT'));
});

test('sampleCutMix: the box side is int(size sqrt(1 - lambda)) before clipping, inside the image', (t) => {
  for (let i = 0; i < 300; i++) {
    const c = sampleCutMix(keyedUniform(0, 'cut', i), 8, 32, 1);
    t.deepEqual([...c.perm].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
    const [x1, y1, x2, y2] = c.box;
    t.true(0 <= x1 && x1 <= x2 && x2 <= 32 && 0 <= y1 && y1 <= y2 && y2 <= 32);
    const half = Math.floor(Math.trunc(32 * Math.sqrt(1 - c.lam)) / 2);
    t.true(x2 - x1 <= 2 * half && y2 - y1 <= 2 * half);
  }
});

test('stripBounds and shuffleStrips: swapped halves land where the orders say', (t) => {
  t.deepEqual(stripBounds(7, 2), [[0, 3], [3, 7]]);
  t.deepEqual(stripBounds(9, 3), [[0, 3], [3, 6], [6, 9]]);
  const img = coords(6, 4);
  const s = shuffleStrips(img, [1, 0], [1, 0]);
  t.deepEqual(pixel(s, 0, 0), [3, 2, 7]);
  t.deepEqual(pixel(s, 5, 3), [2, 1, 7]);
  const same = shuffleStrips(img, [0, 1], [0, 1]);
  t.deepEqual(Array.from(same.rgb), Array.from(img.rgb));
  t.true(isDdpsError(t.throws(() => shuffleStrips(img, [0, 0], [0, 1])), 'BAD_ARGUMENT'));
});

test('renderAug: a whole-image crop at the same size is the image; flip mirrors; crops take their window', (t) => {
  const img = coords(8, 8);
  const same = renderAug(img, { crop: [0, 0, 8, 8], flip: false }, 8);
  t.deepEqual(Array.from(same.rgb), Array.from(img.rgb));
  const flipped = renderAug(img, { crop: [0, 0, 8, 8], flip: true }, 8);
  t.deepEqual(pixel(flipped, 0, 2), [7, 2, 7]);
  const window = renderAug(img, { crop: [2, 4, 4, 4], flip: false }, 4);
  t.deepEqual(pixel(window, 0, 0), [2, 4, 7]);
  t.deepEqual(pixel(window, 3, 3), [5, 7, 7]);
  // Halving uses PIL's widened triangle (antialiased): output 0 weighs columns 0, 1, 2 by 0.75, 0.75, 0.25.
  const half = renderAug(img, { crop: [0, 0, 8, 8], flip: false }, 4);
  t.true(Math.abs(half.rgb[0]! - 1.25 / 1.75) < 1e-6, `${half.rgb[0]}`);
});

test('resampleRgb: constant images stay constant at any size; values are not rounded', (t) => {
  const flat = new Uint8Array(5 * 3 * 3).fill(200);
  for (const [w, h] of [[2, 2], [11, 7], [5, 3]] as const) t.true(resampleRgb(flat, 5, 3, w, h).every((v) => Math.abs(v - 200) < 1e-4));
  const ramp = Uint8Array.from({ length: 2 * 1 * 3 }, (_, i) => (i < 3 ? 0 : 255));
  const up = resampleRgb(ramp, 2, 1, 4, 1);
  t.true(up[3]! > 0 && up[3]! < 255 && !Number.isInteger(up[3]!), `${up[3]}`);
});

test('applyCutMix: image i takes the box of image perm[i], the rest is its own', (t) => {
  const a = { rgb: new Float32Array(4 * 4 * 3).fill(1), width: 4, height: 4 };
  const b = { rgb: new Float32Array(4 * 4 * 3).fill(2), width: 4, height: 4 };
  const [ma, mb] = applyCutMix([a, b], { perm: [1, 0], box: [1, 2, 3, 4], lam: 0.5 });
  t.deepEqual(pixel(ma!, 1, 2), [2, 2, 2]);
  t.deepEqual(pixel(ma!, 0, 2), [1, 1, 1]);
  t.deepEqual(pixel(ma!, 1, 1), [1, 1, 1]);
  t.deepEqual(pixel(mb!, 2, 3), [1, 1, 1]);
  t.is(a.rgb[0], 1, 'inputs untouched');
});

test('sampleImageAug: ShufflePatches orders only at factor > 1; flips about half the time', (t) => {
  let flips = 0;
  for (let i = 0; i < 1000; i++) {
    const c = sampleImageAug(keyedUniform(2, `k${i}`, 0), 32, 32, CIFAR);
    t.is(c.cols, undefined);
    if (c.flip) flips++;
    const n = sampleImageAug(keyedUniform(2, `k${i}`, 0), 224, 224, NETTE);
    t.deepEqual([...n.cols!].sort(), [0, 1]);
  }
  t.true(flips > 440 && flips < 560, `${flips}`);
});
