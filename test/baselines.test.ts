import test from 'ava';
import { join } from 'node:path';
import { from, lastValueFrom, toArray, type OperatorFunction } from 'rxjs';
import sharp from 'sharp';
import { Classifier, softmax } from '../models/classifier.js';
import { isDdpsError } from '../core/errors.js';
import { StageTimer } from '../models/stageTimer.js';
import { classifierScore, cropBoxes, logSoftmaxAt } from '../operators/classifierScore.js';
import { cropRgb } from '../operators/math/crop.js';
import { decodeImage } from '../operators/decode.js';
import { greedyNms, iou } from '../operators/math/nms.js';
import { planResize, toOriginal } from '../operators/math/resizeTransform.js';
import { keyedUniform } from '../models/noise.js';
import { CLASSIFIER_CROP_STREAM, gridPositions, RANDOM_PATCH_STREAM, randomPatches } from '../operators/randomPatches.js';
import { fromNchw, resizeImage, toNchw } from '../operators/resize.js';
import type { Encoded, Patched } from '../operators/types.js';
import { readSamples, sampleClass, sampleImage } from '../storage/webdataset/index.js';
import { DATA } from './helpers/paths.js';
import { CIFAR_CONFIG, CIFAR_TEACHER } from './helpers/teachers.js';
import { type Box, type ResizeTransform } from '../core/geometry.js';
import { needs } from './helpers/needs.js';


/** An Encoded item with the given pixels (the baselines never read the latent). */
function item(key: string, cls: number, transform: ResizeTransform, pixels?: Float32Array): Encoded {
  return { key, url: 'mem', cls, size: [transform.width, transform.height], transform, pixels: pixels ?? new Float32Array(3 * transform.width * transform.height), latent: new Float32Array(0) };
}

function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

async function run(items: Encoded[], batchSize: number, op: OperatorFunction<Encoded[], Patched[]>): Promise<Map<string, Patched>> {
  const batches = await lastValueFrom(from(chunks(items, batchSize)).pipe(op, toArray()));
  return new Map(batches.flat().map((it) => [it.key, it]));
}

const onGrid = (b: Box): boolean => b.every((v) => v % 8 === 0);
const inside = (b: Box, t: ResizeTransform): boolean => b[0] >= 0 && b[1] >= 0 && b[0] + b[2] <= t.width && b[1] + b[3] <= t.height;

test('keyedUniform: numbers in [0, 1), a function of (seed, key, index) only, uniform', (t) => {
  const a = keyedUniform(0, 'sample_1', 7);
  const xs = Array.from({ length: 20000 }, () => a());
  t.true(xs.every((x) => x >= 0 && x < 1));
  const b = keyedUniform(0, 'sample_1', 7);
  t.deepEqual(Array.from({ length: 100 }, () => b()), xs.slice(0, 100));
  t.not(keyedUniform(1, 'sample_1', 7)(), xs[0]);
  t.not(keyedUniform(0, 'sample_2', 7)(), xs[0]);
  t.not(keyedUniform(0, 'sample_1', 8)(), xs[0]);
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  t.true(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  // Ten equal bins hold 2000 each; 5 standard deviations is about 210.
  const bins = new Array<number>(10).fill(0);
  for (const x of xs) bins[Math.floor(x * 10)]!++;
  t.true(bins.every((n) => Math.abs(n - 2000) < 210), `bins ${bins}`);
});

test('gridPositions: distinct grid corners inside the image; all of them when the grid is small; uniform', (t) => {
  const next = keyedUniform(0, 'k', 0);
  // A 24x16 image with 8-px windows has 3 x 2 corners.
  const all = gridPositions(next, 24, 16, 8, 10);
  t.deepEqual(all.map(([x, y]) => `${x},${y}`).sort(), ['0,0', '0,8', '16,0', '16,8', '8,0', '8,8']);
  const hits = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const ps = gridPositions(keyedUniform(0, `k${i}`, 0), 320, 256, 224, 3);
    t.is(new Set(ps.map((p) => p.join())).size, 3);
    for (const [x, y] of ps) {
      if (x % 8 || y % 8 || x + 224 > 320 || y + 224 > 256) t.fail(`corner ${x},${y}`);
      hits.set(`${x},${y}`, (hits.get(`${x},${y}`) ?? 0) + 1);
    }
  }
  // 13 x 5 = 65 corners, 9000 draws: about 138 each, sd about 12.
  t.is(hits.size, 65);
  t.true([...hits.values()].every((n) => Math.abs(n - 9000 / 65) < 60), `hits ${[...hits.values()]}`);
  t.true(isDdpsError(t.throws(() => gridPositions(next, 64, 64, 72, 1)), 'BAD_ARGUMENT'));
});

test('randomPatches: per-key results whatever the batching or order; grid boxes inside the image, scores in [0, 1), zero score map', async (t) => {
  const config = { patchSize: 64, patchesPerImage: 3, seed: 5, wholeImage: false };
  const items = Array.from({ length: 12 }, (_, i) => {
    const [w, h] = i % 3 === 0 ? [400, 300] : i % 3 === 1 ? [120, 200] : [128, 128];
    return item(`img_${i}`, i % 4, planResize(w, h, 128));
  });
  const one = await run(items, 1, randomPatches({ config }));
  const four = await run(items, 4, randomPatches({ config }));
  const reversed = await run([...items].reverse(), 3, randomPatches({ config }));
  for (const it of items) {
    const p = one.get(it.key)!;
    t.deepEqual(four.get(it.key)!.patches, p.patches);
    t.deepEqual(reversed.get(it.key)!.patches, p.patches);
    t.is(p.patches.length, 3);
    t.is(new Set(p.patches.map((q) => q.box.join())).size, 3);
    for (const q of p.patches) {
      t.true(onGrid(q.box) && inside(q.box, it.transform), `box ${q.box} in ${it.transform.width}x${it.transform.height}`);
      t.deepEqual([q.box[2], q.box[3]], [64, 64]);
      t.deepEqual(q.boxOriginal, toOriginal(q.box, it.transform));
      t.true(q.score >= 0 && q.score < 1);
    }
    t.true(p.patches.every((q, i) => i === 0 || q.score <= p.patches[i - 1]!.score));
    t.is(p.scoreMap.length, (it.transform.width / 8) * (it.transform.height / 8));
    t.true(p.scoreMap.every((v) => v === 0));
  }
  // Another seed moves the patches.
  const other = await run(items, 4, randomPatches({ config: { ...config, seed: 6 } }));
  t.true(items.some((it) => other.get(it.key)!.patches[0]!.box.join() !== one.get(it.key)!.patches[0]!.box.join()));
  // Whole-image mode: the image is the one patch, with a random score.
  const whole = await run(items, 4, randomPatches({ config: { ...config, wholeImage: true } }));
  for (const it of items) {
    const [p] = whole.get(it.key)!.patches;
    t.deepEqual(p!.box, [0, 0, it.transform.width, it.transform.height]);
    t.true(p!.score >= 0 && p!.score < 1);
  }
  t.not(whole.get('img_0')!.patches[0]!.score, whole.get('img_1')!.patches[0]!.score);
  // The draws are the keyed stream's, positions first: the first corner is the first Fisher-Yates pick.
  const it0 = items[0]!;
  const cols = (it0.transform.width - 64) / 8 + 1;
  const rows = (it0.transform.height - 64) / 8 + 1;
  const cell = Math.floor(keyedUniform(5, it0.key, RANDOM_PATCH_STREAM)() * cols * rows);
  t.true(one.get(it0.key)!.patches.some((q) => q.box[0] === (cell % cols) * 8 && q.box[1] === Math.floor(cell / cols) * 8));
});

test('logSoftmaxAt, cropRgb, cropBoxes, greedyNms: known answers', (t) => {
  t.true(Math.abs(logSoftmaxAt(Float32Array.of(1, 2, 3), 0) - -2.40760596444438) < 1e-12);
  t.is(logSoftmaxAt(Float32Array.of(1000, 0), 0), 0);
  t.is(logSoftmaxAt(Float32Array.of(1000, 0), 1), -1000);

  // Every byte value survives the [-1, 1] round trip; the crop takes the right window.
  const w = 16;
  const h = 16;
  const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => i % 256);
  const crop = cropRgb(fromNchw(toNchw(rgb, w, h), w, h), [8, 4, 5, 3]);
  t.is(crop.width, 5);
  t.is(crop.height, 3);
  const expected = new Uint8Array(5 * 3 * 3);
  for (let y = 0; y < 3; y++) expected.set(rgb.subarray(((4 + y) * w + 8) * 3, ((4 + y) * w + 13) * 3), y * 15);
  t.deepEqual(crop.rgb, expected);
  t.deepEqual(fromNchw(Float32Array.of(-1.5, 2, 0), 1, 1).rgb, Uint8Array.of(0, 255, 128));
  t.true(isDdpsError(t.throws(() => cropRgb(fromNchw(new Float32Array(3 * 64), 8, 8), [4, 0, 8, 8])), 'BAD_ARGUMENT'));

  const fixed = cropBoxes(keyedUniform(0, 'x', 0), 256, 320, 224, 8);
  t.is(new Set(fixed.map((b) => b.join())).size, 8);
  t.true(fixed.every((b) => b[2] === 224 && b[3] === 224 && onGrid(b) && b[0] + 224 <= 256 && b[1] + 224 <= 320));
  const scaled = Array.from({ length: 200 }, (_, i) => cropBoxes(keyedUniform(0, `x${i}`, 0), 256, 320, 224, 4, [0.25, 1])).flat();
  const sides = new Set(scaled.map((b) => b[2]));
  // sqrt(0.25) * 224 = 112 up to 224, on the grid.
  t.true([...sides].every((s) => s >= 112 && s <= 224 && s % 8 === 0), `sides ${[...sides]}`);
  t.true(sides.size > 10);
  t.true(scaled.every((b) => b[2] === b[3] && onGrid(b) && b[0] + b[2] <= 256 && b[1] + b[3] <= 320));
  t.true(isDdpsError(t.throws(() => cropBoxes(keyedUniform(0, 'x', 0), 64, 64, 64, 1, [0, 1])), 'BAD_ARGUMENT'));

  const scored = [
    { box: [0, 0, 8, 8] as Box, score: -3 },
    { box: [0, 0, 16, 16] as Box, score: -1 },
    { box: [0, 0, 16, 16] as Box, score: -1 },
    { box: [8, 0, 16, 16] as Box, score: -2 },
    { box: [32, 32, 16, 16] as Box, score: -2.5 },
  ];
  // [8,0,16,16] overlaps the best by IoU 1/3 and the repeat is passed over.
  t.deepEqual(greedyNms(scored, 3, 0.5).map((s) => s.box), [[0, 0, 16, 16], [8, 0, 16, 16], [32, 32, 16, 16]]);
  t.deepEqual(greedyNms(scored, 3, 0.2).map((s) => s.box), [[0, 0, 16, 16], [32, 32, 16, 16]]);
  t.deepEqual(greedyNms(scored, 3, 1).map((s) => s.score), [-1, -2, -2.5]);
});

interface CifarSample {
  key: string;
  cls: number;
  image: Buffer;
}

async function cifar(n: number): Promise<CifarSample[]> {
  const out: CifarSample[] = [];
  for await (const s of readSamples(join(DATA, 'cifar10/test-000000.tar'))) {
    out.push({ key: s.__key__, cls: sampleClass(s)!, image: sampleImage(s)! });
    if (out.length === n) break;
  }
  return out;
}

async function prepare(s: CifarSample, imageSize: number): Promise<Encoded> {
  const decoded = await decodeImage(s.image, { key: s.key, url: 'cifar', cls: s.cls });
  return { ...(await resizeImage(decoded, { imageSize, wholeImage: true })), latent: new Float32Array(0) };
}

needs('shared')('classifierScore with the CIFAR-10 teacher: whole-image scores are log softmax of the true class; a crop finds a real image in noise', async (t) => {
  const teacher = await Classifier.load(CIFAR_TEACHER, CIFAR_CONFIG, { intraOpThreads: 1 });
  t.teardown(() => teacher.close());
  const samples = await cifar(40);
  const items = await Promise.all(samples.map((s) => prepare(s, 64)));
  const config = { patchSize: 64, patchesPerImage: 1, nmsIou: 0.5, seed: 0, wholeImage: true };
  // Count the classifier calls: one per micro-batch.
  let calls = 0;
  const counted = {
    logits: (images: Parameters<Classifier['logits']>[0]) => {
      calls++;
      return teacher.logits(images);
    },
  };
  const timer = new StageTimer();
  const scored = await run(items, 4, classifierScore(counted, { config, timer }));
  t.is(calls, 10);
  t.like(timer.report().classifier, { calls: 10, items: 40 });
  let correct = 0;
  for (const s of samples) {
    // The known answer: the same 64x64 Lanczos resize done here with sharp, classified directly.
    const rgb = await sharp(await sharp(s.image).raw().toBuffer(), { raw: { width: 32, height: 32, channels: 3 } }).resize(64, 64, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
    const [logits] = await teacher.logits([{ rgb: new Uint8Array(rgb), width: 64, height: 64 }]);
    const want = Math.log(softmax(logits!)[s.cls]!);
    const it = scored.get(s.key)!;
    t.is(it.patches.length, 1);
    const p = it.patches[0]!;
    t.deepEqual(p.box, [0, 0, 64, 64]);
    t.deepEqual(p.boxOriginal, [0, 0, 32, 32]);
    t.true(Math.abs(p.score - want) < 1e-5, `${s.key}: ${p.score} vs ${want}`);
    t.true(it.scoreMap.length === 64 && it.scoreMap.every((v) => v === 0));
    if (p.score > Math.log(0.5)) correct++;
  }
  // The teacher is right on about 80 % of CIFAR test images; confident (p > 0.5) on most.
  t.true(correct >= 26, `${correct} of 40 confident`);

  // A real 64x64 CIFAR image the teacher is sure of (p > 0.9), planted at a grid position in a 192x192
  // canvas of grey noise (128 +- 32: full-range noise looks like a frog or a deer to this teacher).
  const side = 192;
  const regions = new Map<string, Box>();
  const planted = items.flatMap((it, i): Encoded[] => {
    if (scored.get(it.key)!.patches[0]!.score < Math.log(0.9)) return [];
    const next = keyedUniform(1, it.key, 0);
    const rgb = Uint8Array.from({ length: side * side * 3 }, () => Math.round(96 + next() * 64));
    const region: Box = [8 * ((i * 5) % 17), 8 * ((i * 11) % 17), 64, 64];
    const src = fromNchw(it.pixels, 64, 64).rgb;
    for (let y = 0; y < 64; y++) rgb.set(src.subarray(y * 64 * 3, (y + 1) * 64 * 3), ((region[1] + y) * side + region[0]) * 3);
    regions.set(it.key, region);
    return [item(it.key, it.cls, { scale: 1, offsetX: 0, offsetY: 0, width: side, height: side }, toNchw(rgb, side, side))];
  });
  t.true(planted.length >= 20, `${planted.length} confident images`);
  calls = 0;
  const found = await run(planted, 4, classifierScore(counted, { config: { ...config, wholeImage: false, patchesPerImage: 2 }, crops: 48 }));
  t.is(calls, Math.ceil(planted.length / 4));
  // The crops are keyed by sample: batching and order change nothing.
  const alone = await run([...planted].reverse(), 1, classifierScore(teacher, { config: { ...config, wholeImage: false, patchesPerImage: 2 }, crops: 48 }));
  for (const it of planted) t.deepEqual(alone.get(it.key)!.patches, found.get(it.key)!.patches);
  let eligible = 0;
  let topIou = 0;
  let drawnIou = 0;
  for (const it of planted) {
    const region = regions.get(it.key)!;
    const drawn = cropBoxes(keyedUniform(0, it.key, CLASSIFIER_CROP_STREAM), side, side, 64, 48);
    const [top, second] = found.get(it.key)!.patches;
    t.true(drawn.some((b) => b.join() === top!.box.join()) && drawn.some((b) => b.join() === second!.box.join()));
    t.true(top!.score >= second!.score && iou(top!.box, second!.box) <= 0.5);
    // Where some crop covers at least half the real image, the chosen one overlaps it.
    if (Math.max(...drawn.map((b) => iou(b, region))) < 0.5) continue;
    eligible++;
    t.true(iou(top!.box, region) > 0, `${it.key}: chose ${top!.box}, the real image is at ${region}`);
    topIou += iou(top!.box, region);
    drawnIou += drawn.reduce((s, b) => s + iou(b, region), 0) / drawn.length;
  }
  t.true(eligible >= 15, `${eligible} images with a crop on the real one`);
  // A random crop hardly touches the real image; the chosen one mostly covers it.
  t.log(`mean IoU with the real image: chosen ${(topIou / eligible).toFixed(2)}, a drawn crop ${(drawnIou / eligible).toFixed(2)}`);
  t.true(topIou / eligible > 0.5 && topIou > 4 * drawnIou);
});

test('classifierScore: a class the classifier lacks, a short answer and a bad crop count are errors', async (t) => {
  const config = { patchSize: 16, patchesPerImage: 1, nmsIou: 0.5, seed: 0, wholeImage: false };
  const it = item('s', 3, { scale: 1, offsetX: 0, offsetY: 0, width: 32, height: 32 });
  const three = { logits: async (images: unknown[]) => images.map(() => Float32Array.of(0, 1, 2)) };
  const e1 = await t.throwsAsync(run([it], 1, classifierScore(three, { config })));
  t.true(isDdpsError(e1, 'UNKNOWN_CLASS') && e1.message.includes('sample s has class 3'), e1?.message);
  const short = { logits: async () => [Float32Array.of(0, 1, 2, 3)] };
  t.true(isDdpsError(await t.throwsAsync(run([it], 1, classifierScore(short, { config, crops: 2 }))), 'BAD_MODEL'));
  t.true(isDdpsError(t.throws(() => classifierScore(three, { config, crops: 0 })), 'BAD_ARGUMENT'));
  // Four classes: the score of class 3 is log softmax of its logit.
  const four = { logits: async (images: unknown[]) => images.map(() => Float32Array.of(0, 1, 2, 3)) };
  const [p] = (await run([it], 1, classifierScore(four, { config, crops: 3 }))).get('s')!.patches;
  t.true(Math.abs(p!.score - (3 - Math.log(1 + Math.E + Math.E ** 2 + Math.E ** 3))) < 1e-12);
});
