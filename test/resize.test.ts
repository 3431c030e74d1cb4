import test from 'ava';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { type DdpsError, isDdpsError } from '../core/errors.js';
import { decode } from '../operators/decode.js';
import { planResize, planWholeImage, scaledSize, toOriginal, toResized } from '../operators/math/resizeTransform.js';
import { resize, resizeImage } from '../operators/resize.js';
import type { Decoded, Prepared, SampleRef } from '../operators/types.js';
import { readSamples, sampleClass, sampleImage } from '../storage/webdataset/index.js';
import { DATA } from './helpers/paths.js';
import { type Box, LATENT_FACTOR, UNET_ALIGN } from '../core/geometry.js';
import { needs } from './helpers/needs.js';

/** The hand-worked geometry below is on the latent grid; the operators' default is the UNet's 64. */
const GRID = LATENT_FACTOR;

type Rgb = readonly [number, number, number];

function image(width: number, height: number, colour: (x: number, y: number) => Rgb, key = 'img'): Decoded {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgb.set(colour(x, y), (y * width + x) * 3);
  return { key, url: 'mem://shard.tar', cls: 2, rgb, width, height };
}

/** Channel c at (x, y) of an NCHW image. */
function at(p: Prepared, c: number, x: number, y: number): number {
  const { width, height } = p.transform;
  return p.pixels[c * width * height + y * width + x];
}

const BLACK: Rgb = [0, 0, 0];
const WHITE: Rgb = [255, 255, 255];

// ---- geometry ----

test('planResize 500x375 at 256: scaled 341x256, trimmed to 336x256 at offsetX 2', (t) => {
  // 500 * 256 / 375 = 341.33 -> 341; 341 - 341 % 8 = 336; (341 - 336) / 2 = 2.5 -> 2.
  t.deepEqual(planResize(500, 375, 256, GRID), { scale: 341 / 500, scaleY: 256 / 375, offsetX: 2, offsetY: 0, width: 336, height: 256 });
  t.deepEqual(scaledSize(planResize(500, 375, 256, GRID), 500, 375), [341, 256]);
  // Portrait: the same along y.
  t.deepEqual(planResize(375, 500, 256, GRID), { scale: 256 / 375, scaleY: 341 / 500, offsetX: 0, offsetY: 2, width: 256, height: 336 });
  t.deepEqual(scaledSize(planResize(375, 500, 256, GRID), 375, 500), [256, 341]);
});

test('planResize: square upsampling, exact multiples and odd remainders', (t) => {
  t.deepEqual(planResize(224, 224, 256, GRID), { scale: 256 / 224, offsetX: 0, offsetY: 0, width: 256, height: 256 });
  // 1000 * 256 / 300 = 853.33 -> 853 -> 848, offset floor(5 / 2) = 2.
  t.like(planResize(1000, 300, 256, GRID), { offsetX: 2, offsetY: 0, width: 848, height: 256 });
  // Already 256 short: 263 long -> 256, offset floor(7 / 2) = 3, scale exactly 1 on both axes.
  t.deepEqual(planResize(263, 256, 256, GRID), { scale: 1, offsetX: 3, offsetY: 0, width: 256, height: 256 });
  // 640x480 -> 341.33 -> 341 like 500x375, at a different scale.
  t.deepEqual(planResize(640, 480, 256, GRID), { scale: 341 / 640, scaleY: 256 / 480, offsetX: 2, offsetY: 0, width: 336, height: 256 });
});

test('defaults are what an SD UNet accepts: resizeImage(img) is 256 on the short side, both sides multiples of 64', async (t) => {
  t.is(UNET_ALIGN, 64);
  // 500 * 256 / 375 = 341.33 -> 341; 341 - 341 % 64 = 320; offset floor(21 / 2) = 10.
  t.deepEqual(planResize(500, 375, 256), { scale: 341 / 500, scaleY: 256 / 375, offsetX: 10, offsetY: 0, width: 320, height: 256 });
  const p = await resizeImage(image(500, 375, () => WHITE));
  t.deepEqual(p.transform, planResize(500, 375, 256));
  t.is(p.pixels.length, 3 * 320 * 256);
  t.true(isDdpsError(t.throws(() => planResize(500, 375, 224)), 'BAD_ARGUMENT'), '224 is off the UNet grid');
});

test('planWholeImage stretches to imageSize square with no trim', (t) => {
  t.deepEqual(planWholeImage(32, 32, 256), { scale: 8, offsetX: 0, offsetY: 0, width: 256, height: 256 });
  t.deepEqual(planWholeImage(32, 24, 256), { scale: 8, scaleY: 256 / 24, offsetX: 0, offsetY: 0, width: 256, height: 256 });
  t.deepEqual(scaledSize(planWholeImage(32, 24, 256), 32, 24), [256, 256]);
});

test('bad sizes are BAD_ARGUMENT', (t) => {
  for (const [w, h, s] of [[500, 375, 250], [500, 375, 0], [0, 375, 256], [500.5, 375, 256], [500, Number.NaN, 256]]) {
    const err = t.throws(() => planResize(w, h, s));
    t.true(isDdpsError(err, 'BAD_ARGUMENT'), String(err));
  }
  t.true(isDdpsError(t.throws(() => planWholeImage(32, 32, 12)), 'BAD_ARGUMENT'));
});

test('toOriginal / toResized: hand-worked 500x375 round trip', (t) => {
  const tr = planResize(500, 375, 256, GRID);
  // x: (8 + 2) / 0.682 = 14.66 -> 14, (232 + 2) / 0.682 = 343.1 -> 344;
  // y: 16 * 375 / 256 = 23.44 -> 23, 240 * 375 / 256 = 351.6 -> 352.
  const orig = toOriginal([8, 16, 224, 224], tr);
  t.deepEqual(orig, [14, 23, 330, 329]);
  // x: 14 * 0.682 - 2 = 7.55 -> 7, 344 * 0.682 - 2 = 232.6 -> 233; y: 23 * 256 / 375 = 15.7 -> 15, 352 * 256 / 375 = 240.3 -> 241.
  t.deepEqual(toResized(orig, tr), [7, 15, 226, 226]);
  // Outside the resized window is clamped away: the window itself spans x 2 / 0.682 = 2.9 .. 338 / 0.682 = 495.6.
  t.deepEqual(toOriginal([-10, -10, 400, 300], tr), [2, 0, 494, 375]);
  t.deepEqual(toResized([0, 0, 500, 375], tr), [0, 0, 336, 256]);
});

test('toOriginal / toResized: whole-image scale 8 maps exactly both ways', (t) => {
  const tr = planWholeImage(32, 32, 256);
  t.deepEqual(toResized([1, 2, 3, 4], tr), [8, 16, 24, 32]);
  t.deepEqual(toOriginal([8, 16, 24, 32], tr), [1, 2, 3, 4]);
  t.deepEqual(toOriginal([0, 0, 256, 256], tr), [0, 0, 32, 32]);
});

test('toOriginal stays inside the image and toResized of it covers the box (random boxes, many shapes)', (t) => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  let checked = 0;
  for (const [w, h, whole] of [[500, 375, false], [375, 500, false], [333, 1001, false], [224, 224, false], [31, 17, true], [4000, 3, false]] as const) {
    const tr = (whole ? planWholeImage : planResize)(w, h, 256, GRID);
    for (let i = 0; i < 200; i++) {
      const bx = rand(tr.width);
      const by = rand(tr.height);
      const box: Box = [bx, by, 1 + rand(tr.width - bx), 1 + rand(tr.height - by)];
      const o = toOriginal(box, tr);
      if (!(o[0] >= 0 && o[1] >= 0 && o[0] + o[2] <= w && o[1] + o[3] <= h)) return t.fail(`${w}x${h}: ${box} -> ${o}`);
      const back = toResized(o, tr);
      const covers = back[0] <= box[0] && back[1] <= box[1] && back[0] + back[2] >= box[0] + box[2] && back[1] + back[3] >= box[1] + box[3];
      if (!covers) return t.fail(`${w}x${h}: ${box} -> ${o} -> ${back}`);
      checked++;
    }
  }
  t.is(checked, 1200);
});

// ---- pixels ----

test('a black|white split at x = 250 of 500x375 lands at the trimmed column 168 (170.5 scaled - 2)', async (t) => {
  const p = await resizeImage(image(500, 375, (x) => (x < 250 ? BLACK : WHITE)), { imageSize: 256, align: GRID });
  t.deepEqual(p.transform, planResize(500, 375, 256, GRID));
  t.deepEqual(p.size, [500, 375]);
  t.is(p.pixels.length, 3 * 336 * 256);
  for (const y of [0, 100, 255]) {
    for (let c = 0; c < 3; c++) {
      // 250 * 0.682 = 170.5 scaled: column 170 (centre 170.5) sits on the edge, mid-grey; 168 after the trim.
      t.true(Math.abs(at(p, c, 168, y)) < 0.01, `(168, ${y}) = ${at(p, c, 168, y)}`);
      for (let x = 0; x <= 160; x++) if (at(p, c, x, y) !== -1) return t.fail(`(${x}, ${y}) = ${at(p, c, x, y)}`);
      for (let x = 176; x < 336; x++) if (at(p, c, x, y) !== 1) return t.fail(`(${x}, ${y}) = ${at(p, c, x, y)}`);
    }
  }
});

test('the same split along y in a portrait image lands at row 168', async (t) => {
  const p = await resizeImage(image(375, 500, (_x, y) => (y < 250 ? BLACK : WHITE)), { imageSize: 256, align: GRID });
  t.deepEqual([p.transform.width, p.transform.height, p.transform.offsetY], [256, 336, 2]);
  t.true(Math.abs(at(p, 1, 100, 168)) < 0.01);
  t.is(at(p, 1, 100, 160), -1);
  t.is(at(p, 1, 100, 176), 1);
});

test('a solid colour maps to exactly v / 127.5 - 1 everywhere', async (t) => {
  const colour: Rgb = [17, 128, 250];
  const p = await resizeImage(image(300, 200, () => colour), { imageSize: 256 });
  // 300 * 256 / 200 = 384 exactly: one scale for both axes.
  t.deepEqual(p.transform, { scale: 1.28, offsetX: 0, offsetY: 0, width: 384, height: 256 });
  const expected = colour.map((v) => Math.fround(v / 127.5 - 1));
  // -0.86667, 0.00392, 0.96078: 128 is not mid-grey, 127.5 is.
  t.deepEqual(expected.map((v) => Math.round(v * 1e5) / 1e5), [-0.86667, 0.00392, 0.96078]);
  const plane = 384 * 256;
  let wrong = 0;
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) if (p.pixels[c * plane + i] !== expected[c]) wrong++;
  t.is(wrong, 0);
});

test('NCHW layout: with no resampling (24x16 at 16) each channel plane holds its own x/y pattern', async (t) => {
  const p = await resizeImage(image(24, 16, (x, y) => [x * 10, y * 15, 255 - x - y]), { imageSize: 16, align: GRID });
  t.deepEqual(p.transform, { scale: 1, offsetX: 0, offsetY: 0, width: 24, height: 16 });
  t.is(p.pixels.length, 3 * 24 * 16);
  for (const [x, y] of [[0, 0], [23, 0], [0, 15], [5, 9], [23, 15]]) {
    t.deepEqual(
      [0, 1, 2].map((c) => at(p, c, x, y)),
      [x * 10, y * 15, 255 - x - y].map((v) => Math.fround(v / 127.5 - 1)),
      `pixel (${x}, ${y})`,
    );
  }
});

test('whole-image mode upsamples 32x32 to 256x256: a split at x = 16 lands at 128', async (t) => {
  const p = await resizeImage(image(32, 32, (x) => (x < 16 ? BLACK : WHITE)), { imageSize: 256, wholeImage: true, minSize: 32 });
  t.deepEqual(p.transform, { scale: 8, offsetX: 0, offsetY: 0, width: 256, height: 256 });
  t.deepEqual(p.size, [32, 32]);
  for (const y of [0, 128, 255]) {
    t.is(at(p, 0, 120, y), -1);
    t.is(at(p, 0, 136, y), 1);
    // libvips upsampling puts the mid-grey on the first column past the edge (half an output pixel late).
    t.true(at(p, 0, 127, y) < 0 && at(p, 0, 129, y) > 0 && Math.abs(at(p, 0, 128, y)) < 0.05, `${at(p, 0, 128, y)}`);
    for (let x = 1; x < 256; x++) if (at(p, 0, x, y) < at(p, 0, x - 1, y)) return t.fail(`not monotone at ${x}`);
  }
});

test('a short side below minSize is BAD_SAMPLE naming the sample, its size and the minimum', async (t) => {
  const err = await t.throwsAsync(resizeImage(image(100, 150, () => WHITE, 'tiny/one'), { imageSize: 256, minSize: 224 }));
  t.true(isDdpsError(err, 'BAD_SAMPLE'));
  t.is((err as DdpsError).sample, 'tiny/one');
  t.is((err as DdpsError).file, 'mem://shard.tar');
  for (const part of ['"tiny/one"', 'mem://shard.tar', '100x150', '224']) t.true(err!.message.includes(part), err!.message);
  // Exactly the minimum passes.
  t.deepEqual((await resizeImage(image(224, 300, () => WHITE), { imageSize: 256, minSize: 224 })).size, [224, 300]);
});

test('pixels that do not match the stated size are BAD_SAMPLE', async (t) => {
  const img = { ...image(20, 20, () => WHITE, 'short'), width: 40 };
  const err = await t.throwsAsync(resizeImage(img, { imageSize: 16, align: GRID }));
  t.true(isDdpsError(err, 'BAD_SAMPLE'), String(err));
  t.regex(err!.message, /"short" in mem:\/\/shard\.tar: cannot resize the 40x20 image/);
});

// ---- operators ----

test('resize() keeps order over mixed sizes and drops images below minSize through onError', async (t) => {
  const sizes: Array<[number, number]> = [[900, 700], [64, 64], [300, 300], [1200, 200], [100, 500], [250, 400]];
  const input = sizes.map(([w, h], i) => image(w, h, (x, y) => [(x + i) % 256, y % 256, 7], `k${i}`));
  const dropped: string[] = [];
  const out = await lastValueFrom(
    from(input).pipe(resize({ imageSize: 64, align: GRID, minSize: 200, concurrency: 4, onError: (ref: SampleRef) => dropped.push(ref.key) }), toArray()),
  );
  t.deepEqual(
    out.map((p) => p.key),
    ['k0', 'k2', 'k3', 'k5'],
  );
  t.deepEqual(dropped, ['k1', 'k4']);
  t.deepEqual(
    out.map((p) => [p.transform.width, p.transform.height]),
    [[80, 64], [64, 64], [384, 64], [64, 96]],
  );
  t.true(out.every((p) => !('rgb' in p) && p.pixels.length === 3 * p.transform.width * p.transform.height));
});

needs('shared')('shard -> decode -> resize: 224x224 imagenette images become 256x256 in [-1, 1], in order', async (t) => {
  const items: Array<SampleRef & { image: Buffer }> = [];
  for await (const s of readSamples(join(DATA, 'imagenette/train-000000.tar'))) {
    items.push({ key: s.__key__, url: s.__url__, cls: sampleClass(s)!, image: sampleImage(s)! });
    if (items.length === 8) break;
  }
  const out = await lastValueFrom(from(items).pipe(decode({ concurrency: 4 }), resize({ imageSize: 256, minSize: 224 }), toArray()));
  t.deepEqual(
    out.map((p) => p.key),
    items.map((i) => i.key),
  );
  for (const p of out) {
    t.deepEqual(p.size, [224, 224]);
    t.deepEqual(p.transform, { scale: 256 / 224, offsetX: 0, offsetY: 0, width: 256, height: 256 });
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of p.pixels) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    t.true(lo >= -1 && hi <= 1 && hi - lo > 0.5, `${p.key}: [${lo}, ${hi}]`);
  }
});
