/**
 * The toy world's labelled dataset: procedurally drawn images (one class-coloured shape on grey,
 * low-saturation clutter) and a writer of WebDataset shards in the same layout as the real data.
 * Every image is a pure function of (seed, index, class), so a sample never depends on what else was
 * generated, on perClass or on the shard count.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { DdpsError } from '../core/errors.js';
import { ShardWriter } from '../storage/webdataset/writer.js';
import { TOY_CLASSES, TOY_NEUTRAL_RGB, type ToyClass } from './classes.js';
import type { Box } from '../core/geometry.js';
import { type Rgb, type RgbImage, clampAround, fillEllipse, fillImage, drawLine, maskBounds, shapeMask } from './draw.js';

/** Every background pixel lies within this distance of TOY_NEUTRAL_RGB in each channel. */
export const TOY_CLUTTER_RADIUS = 35;
/** The object's box side as a fraction of the image side. */
export const TOY_BOX_MIN_FRACTION = 0.35;
export const TOY_BOX_MAX_FRACTION = 0.55;
/** Per-pixel, per-channel jitter of the object colour. */
export const TOY_OBJECT_JITTER = 8;
export const TOY_DEFAULT_SIZE = 128;

const MIN_SIZE = 8;
const MAX_SIZE = 4096;
const SHUFFLE_SALT = 0x5348_5546; // "SHUF": the shuffle draws from its own stream, not an image's.

export interface ToyImageOptions {
  seed: number;
  index: number;
  /** Index into `classes`. */
  cls: number;
  width?: number;
  height?: number;
  classes?: readonly ToyClass[];
}

export interface ToyImage extends RgbImage {
  /** The object's tight bounding box [x, y, w, h] in pixels (exactly the painted pixels' extent). */
  box: Box;
}

// murmur3's finaliser: a bijective 32-bit mix, enough to decorrelate neighbouring keys.
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit hash of non-negative safe integers (both 32-bit halves of each count). */
function hashInts(parts: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = mix32(h ^ (p >>> 0));
    h = mix32(h ^ (Math.floor(p / 2 ** 32) >>> 0) ^ 0x27d4eb2f);
  }
  return h;
}

// mulberry32: tiny, fast, and good enough for drawing pictures.
function mulberry32(state: number): () => number {
  let a = state | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer uniform in [lo, hi] (inclusive). */
function randInt(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

function checkInt(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isSafeInteger(v) || v < lo || v > hi) {
    throw new DdpsError('BAD_ARGUMENT', `toy dataset: ${name} must be an integer in [${lo}, ${hi}], got ${v}`);
  }
}

/** A low-saturation grey: a shared offset plus a small per-channel tint, all within the clutter radius. */
function clutterColour(rng: () => number): Rgb {
  const tint = 8;
  const l = randInt(rng, -(TOY_CLUTTER_RADIUS - tint), TOY_CLUTTER_RADIUS - tint);
  const [r, g, b] = TOY_NEUTRAL_RGB;
  return [r + l + randInt(rng, -tint, tint), g + l + randInt(rng, -tint, tint), b + l + randInt(rng, -tint, tint)];
}

function paintClutter(img: RgbImage, rng: () => number): void {
  const { width: W, height: H, rgb } = img;
  const side = Math.min(W, H);
  fillImage(img, TOY_NEUTRAL_RGB);
  const blobs = randInt(rng, 6, 12);
  for (let i = 0; i < blobs; i++) {
    const rx = side * (0.04 + 0.2 * rng());
    const ry = side * (0.04 + 0.2 * rng());
    fillEllipse(img, rng() * W, rng() * H, rx, ry, clutterColour(rng));
  }
  const lines = randInt(rng, 3, 8);
  for (let i = 0; i < lines; i++) {
    drawLine(img, rng() * W, rng() * H, rng() * W, rng() * H, 1 + 2 * rng(), clutterColour(rng));
  }
  // Fine luminance noise everywhere, plus sparse single-pixel speckle.
  for (let o = 0; o < rgb.length; o += 3) {
    const n = randInt(rng, -4, 4);
    if (rng() < 0.02) {
      const c = clutterColour(rng);
      rgb[o] = c[0];
      rgb[o + 1] = c[1];
      rgb[o + 2] = c[2];
    } else {
      rgb[o] += n;
      rgb[o + 1] += n;
      rgb[o + 2] += n;
    }
  }
  clampAround(img, TOY_NEUTRAL_RGB, TOY_CLUTTER_RADIUS);
}

function lookupClass(classes: readonly ToyClass[], cls: number): ToyClass {
  checkInt('cls', cls, 0, classes.length - 1);
  const c = classes[cls];
  if (c.index !== cls) {
    throw new DdpsError('BAD_ARGUMENT', `toy dataset: classes[${cls}] has index ${c.index}, expected ${cls}`);
  }
  return c;
}

/**
 * Draw toy image `index` of class `cls`: grey clutter and one class-coloured shape in a random box
 * whose sides are 35-55 % of the image's, fully inside the image.
 */
export function drawToyImage(opts: ToyImageOptions): ToyImage {
  const { seed, index, cls, width = TOY_DEFAULT_SIZE, height = TOY_DEFAULT_SIZE, classes = TOY_CLASSES } = opts;
  checkInt('seed', seed, 0, Number.MAX_SAFE_INTEGER);
  checkInt('index', index, 0, Number.MAX_SAFE_INTEGER);
  checkInt('width', width, MIN_SIZE, MAX_SIZE);
  checkInt('height', height, MIN_SIZE, MAX_SIZE);
  const klass = lookupClass(classes, cls);
  const rng = mulberry32(hashInts([seed, index, cls]));
  const img: RgbImage = { rgb: new Uint8Array(width * height * 3), width, height };
  paintClutter(img, rng);

  // One fraction for both sides keeps disks round on square images.
  const f = TOY_BOX_MIN_FRACTION + (TOY_BOX_MAX_FRACTION - TOY_BOX_MIN_FRACTION) * rng();
  const side = (n: number) =>
    Math.min(Math.floor(TOY_BOX_MAX_FRACTION * n), Math.max(Math.ceil(TOY_BOX_MIN_FRACTION * n), Math.round(f * n)));
  const bw = side(width);
  const bh = side(height);
  const bx = randInt(rng, 0, width - bw);
  const by = randInt(rng, 0, height - bh);
  const mask = shapeMask(klass.shape, bw, bh);
  const j = TOY_OBJECT_JITTER;
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      if (mask[y * bw + x] === 0) continue;
      const o = ((by + y) * width + bx + x) * 3;
      for (let c = 0; c < 3; c++) {
        img.rgb[o + c] = Math.min(255, Math.max(0, klass.rgb[c] + randInt(rng, -j, j)));
      }
    }
  }
  // Pixel-centre sampling can leave a shape's outermost row empty (a triangle's apex), so the
  // reported box is the mask's tight extent rather than the nominal one.
  const tight = maskBounds(mask, bw, bh);
  if (tight === null) {
    throw new DdpsError('BAD_ARGUMENT', `toy dataset: a ${klass.shape} in a ${bw}x${bh} box paints no pixel`);
  }
  return { ...img, box: [bx + tight[0], by + tight[1], tight[2], tight[3]] };
}

/** FNV-1a of a string: turns the split name into an integer for the seed hash. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The drawing seed of a split: sample j of class c in split `split` is
 * drawToyImage({ seed: toySplitSeed(seed, split), index: j, cls: c }), so train and val never share images.
 */
export function toySplitSeed(seed: number, split: string): number {
  checkInt('seed', seed, 0, Number.MAX_SAFE_INTEGER);
  return hashInts([seed, fnv1a(split)]);
}

/** The sample key of per-class sample j, in the style of the real shards (`train_dog_0295`). */
export function toySampleKey(split: string, name: string, j: number): string {
  return `${split}_${name}_${String(j).padStart(4, '0')}`;
}

/** Options of writeToyDataset: seed, images per class, classes, shards, image size and split name. */
export interface ToyDatasetOptions {
  seed?: number;
  perClass?: number;
  classes?: readonly ToyClass[];
  /** Upper bound on the number of shards: samples are spread evenly, ceil(total / shards) per shard. */
  shards?: number;
  width?: number;
  height?: number;
  split?: string;
}

/** The shards and classes.json writeToyDataset wrote. */
export interface ToyDatasetResult {
  shards: string[];
  classesPath: string;
  samples: number;
}

// Keys are split on the first dot and shard names are built from the split, so both stay plain words.
const NAME_RE = /^[A-Za-z0-9_-]+$/;

function checkName(what: string, s: string): void {
  if (!NAME_RE.test(s)) {
    throw new DdpsError('BAD_ARGUMENT', `toy dataset: ${what} "${s}" must match ${NAME_RE}`);
  }
}

/** Fisher-Yates with a seeded stream. */
function shuffle<T>(items: T[], rng: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const k = Math.floor(rng() * (i + 1));
    [items[i], items[k]] = [items[k], items[i]];
  }
  return items;
}

/**
 * Write `perClass` images of every class as WebDataset shards `<outDir>/<split>-%06d.tar`
 * (`<key>.png`, `<key>.cls`, `<key>.json`, samples shuffled with the seed) and `<outDir>/classes.json`.
 */
export async function writeToyDataset(outDir: string, opts: ToyDatasetOptions = {}): Promise<ToyDatasetResult> {
  const {
    seed = 0,
    perClass = 20,
    classes = TOY_CLASSES,
    shards = 2,
    width = TOY_DEFAULT_SIZE,
    height = TOY_DEFAULT_SIZE,
    split = 'train',
  } = opts;
  checkInt('perClass', perClass, 1, 1_000_000);
  checkInt('shards', shards, 1, 1_000_000);
  checkName('split', split);
  if (classes.length === 0) throw new DdpsError('BAD_ARGUMENT', 'toy dataset: the class list is empty');
  classes.forEach((c, i) => {
    lookupClass(classes, i);
    checkName('class name', c.name);
  });
  const drawSeed = toySplitSeed(seed, split);

  const order: Array<{ cls: number; j: number }> = [];
  for (let cls = 0; cls < classes.length; cls++) for (let j = 0; j < perClass; j++) order.push({ cls, j });
  shuffle(order, mulberry32(hashInts([drawSeed, SHUFFLE_SALT])));

  await mkdir(outDir, { recursive: true });
  const writer = new ShardWriter(join(outDir, `${split}-%06d.tar`), { maxcount: Math.ceil(order.length / shards) });
  for (const { cls, j } of order) {
    const img = drawToyImage({ seed: drawSeed, index: j, cls, width, height, classes });
    const png = await sharp(img.rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
    await writer.write({
      __key__: toySampleKey(split, classes[cls].name, j),
      png,
      cls: String(cls),
      json: { label: classes[cls].name, box: img.box, source: 'ddps-toy' },
    });
  }
  const shardPaths = await writer.close();

  const classesPath = join(outDir, 'classes.json');
  const listing = { classes: classes.map((c) => ({ index: c.index, name: c.name })) };
  await writeFile(classesPath, JSON.stringify(listing, null, 1) + '\n');
  return { shards: shardPaths, classesPath, samples: order.length };
}
