/**
 * A synthetic score store for benchmarks at ImageNet scale, made without any model: per class,
 * L2-normalised features drawn around a few random directions (so that k-means has clusters to find),
 * scores that differ by direction, small random score maps, and source shards holding a JPEG for
 * every sample the store names (patch boxes lie inside it). The JPEGs are drawn from a pool of
 * generated pictures: each sample stores and decodes its own copy, as a real shard would, but making
 * 130,000 distinct pictures would cost more than the benchmark it serves. Written through ScoreStore and
 * ShardWriter, so the layout is the real one. Deterministic: the same options give the same store and
 * byte-identical shards.
 *
 *   node dist/scripts/synthStore.js --out DIR [--classes 1000 --samples 130 --patches 10 --dim 1280 --seed 0]
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { gaussianNoise, keyedUniform } from '../models/noise.js';
import { mapOrderedIterable } from '../operators/mapOrdered.js';
import { l2normalize } from '../operators/math/features.js';
import { ScoreStore, type PatchRecord, type SampleRecord } from '../storage/store/index.js';
import { formatShardName, ShardWriter } from '../storage/webdataset/index.js';

export interface SyntheticOptions {
  /** Folder for `store/`, `shards/` and `synthetic.json`. */
  out: string;
  classes: number;
  samplesPerClass: number;
  patchesPerSample: number;
  dim: number;
  seed?: number;
  /** Directions the features of a class gather around (default 48). */
  modes?: number;
  /** Spread of a feature around its direction, per dimension, relative to the direction's (default 3: k-means takes about 20 iterations at 1300 x 1280, K = 32). */
  spread?: number;
  /** Side of the square source images (default 256). */
  imageSize?: number;
  /** Side of a patch box (default 112). */
  patchSize?: number;
  /** Side of the stored score maps (default 8). */
  mapSize?: number;
  /** Distinct pictures the samples' JPEGs are drawn from (default 257). */
  pictures?: number;
  samplesPerShard?: number;
  onProgress?: (samples: number, total: number) => void;
}

export interface SyntheticStore {
  storeDir: string;
  shards: string[];
  classNames: string[];
  options: Required<Omit<SyntheticOptions, 'onProgress'>>;
}

const SHARD_PATTERN = 'train-%06d.tar';
const MARKER = 'synthetic.json';

function withDefaults(opts: SyntheticOptions): SyntheticStore['options'] {
  const { onProgress: _progress, ...given } = opts;
  return { seed: 0, modes: 48, spread: 3, imageSize: 256, patchSize: 112, mapSize: 8, pictures: 257, samplesPerShard: 1000, ...given, out: resolve(opts.out) };
}

export const sampleKeyOf = (cls: number, i: number): string => `${String(cls).padStart(4, '0')}_${String(i).padStart(5, '0')}`;

/** Per class: its directions, and how well patches near each one score. */
function classModes(o: SyntheticStore['options'], cls: number): { directions: Float32Array[]; quality: number[] } {
  const r = keyedUniform(o.seed, 'synthetic-quality', cls);
  return {
    directions: Array.from({ length: o.modes }, (_, m) => gaussianNoise(o.seed, `synthetic-mode-${cls}`, m, o.dim)),
    quality: Array.from({ length: o.modes }, () => r()),
  };
}

function samplePatches(o: SyntheticStore['options'], modes: ReturnType<typeof classModes>, cls: number, i: number): PatchRecord[] {
  const r = keyedUniform(o.seed, `synthetic-sample-${cls}`, i);
  return Array.from({ length: o.patchesPerSample }, (_, j) => {
    const m = Math.floor(r() * o.modes);
    // Uniform noise of unit variance: as good as Gaussian for k-means, and several times cheaper to draw.
    const noise = keyedUniform(o.seed, `synthetic-feature-${cls}`, i * o.patchesPerSample + j);
    const direction = modes.directions[m];
    const feature = l2normalize(Float32Array.from(direction, (v) => v + o.spread * Math.sqrt(12) * (noise() - 0.5)));
    const x = Math.floor(r() * (o.imageSize - o.patchSize + 1));
    const y = Math.floor(r() * (o.imageSize - o.patchSize + 1));
    const box: [number, number, number, number] = [x, y, o.patchSize, o.patchSize];
    return { box, boxOriginal: box, score: modes.quality[m] + 0.25 * (r() - 0.5), feature };
  });
}

/** Picture `j`: a smooth two-colour gradient with a disc and a little grain, JPEG-sized like a photo thumbnail. */
function picture(o: SyntheticStore['options'], j: number): Promise<Buffer> {
  const r = keyedUniform(o.seed, 'synthetic-picture', j);
  const s = o.imageSize;
  const a = [r(), r(), r()].map((v) => 40 + 160 * v);
  const b = [r(), r(), r()].map((v) => 255 * v);
  const [cx, cy, radius] = [r() * s, r() * s, s * (0.1 + 0.25 * r())];
  const disc = [r() * 255, r() * 255, r() * 255];
  const grain = keyedUniform(o.seed, 'synthetic-grain', j);
  const rgb = Buffer.alloc(s * s * 3);
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < radius * radius;
      const t = (x + y) / (2 * s);
      const g = 12 * (grain() - 0.5);
      for (let c = 0; c < 3; c++) rgb[(y * s + x) * 3 + c] = Math.max(0, Math.min(255, (inside ? disc[c] : a[c] * (1 - t) + b[c] * t) + g));
    }
  }
  return sharp(rgb, { raw: { width: s, height: s, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

function* sampleIndices(o: SyntheticStore['options']): Generator<[number, number]> {
  for (let cls = 0; cls < o.classes; cls++) for (let i = 0; i < o.samplesPerClass; i++) yield [cls, i];
}

/** Writes the store and its shards from scratch (an existing folder is replaced). */
export async function writeSyntheticStore(opts: SyntheticOptions): Promise<SyntheticStore> {
  const o = withDefaults(opts);
  for (const [name, v] of Object.entries(o)) {
    if (typeof v === 'number' && name !== 'spread' && !(Number.isSafeInteger(v) && (v >= 1 || name === 'seed'))) throw new Error(`synthetic store: ${name} must be a whole number >= 1, got ${v}`);
  }
  if (o.patchSize > o.imageSize) throw new Error(`synthetic store: patchSize ${o.patchSize} exceeds imageSize ${o.imageSize}`);
  rmSync(o.out, { recursive: true, force: true });
  await mkdir(join(o.out, 'shards'), { recursive: true });
  const classNames = Array.from({ length: o.classes }, (_, c) => `synthetic-${String(c).padStart(4, '0')}`);
  const config = { synthetic: { ...o, out: undefined }, classes: classNames, imageSize: o.imageSize, patchSize: o.patchSize, patchesPerImage: o.patchesPerSample };
  const store = ScoreStore.open(join(o.out, 'store'), { config, pack: { name: 'synthetic (no model)', digest: `synthetic:${o.seed}:${o.dim}` } });
  const writer = new ShardWriter(join(o.out, 'shards', SHARD_PATTERN), { maxcount: o.samplesPerShard });
  const total = o.classes * o.samplesPerClass;
  let modes: { cls: number; value: ReturnType<typeof classModes> } | undefined;
  const pictures = new Map<number, Promise<Buffer>>();
  const pictureOf = (cls: number, i: number): Promise<Buffer> => {
    const j = Math.floor(keyedUniform(o.seed, 'synthetic-pick', cls * o.samplesPerClass + i)() * o.pictures);
    let p = pictures.get(j);
    if (p === undefined) pictures.set(j, (p = picture(o, j)));
    return p;
  };
  const build = async ([cls, i]: [number, number]): Promise<{ rec: SampleRecord; jpg: Buffer }> => {
    if (modes?.cls !== cls) modes = { cls, value: classModes(o, cls) };
    const key = sampleKeyOf(cls, i);
    const g = cls * o.samplesPerClass + i;
    const map = gaussianNoise(o.seed, 'synthetic-map', g, o.mapSize * o.mapSize);
    const rec: SampleRecord = {
      key,
      shard: join(o.out, 'shards', formatShardName(SHARD_PATTERN, Math.floor(g / o.samplesPerShard))),
      cls,
      size: [o.imageSize, o.imageSize],
      transform: { scale: 1, offsetX: 0, offsetY: 0, width: o.imageSize, height: o.imageSize },
      scoreMap: { h: o.mapSize, w: o.mapSize, data: map },
      patches: samplePatches(o, modes.value, cls, i),
    };
    return { rec, jpg: await pictureOf(cls, i) };
  };
  let done = 0;
  let puts: Promise<void>[] = [];
  try {
    for await (const { rec, jpg } of mapOrderedIterable(sampleIndices(o), build, 4)) {
      await writer.write({ __key__: rec.key, jpg, cls: rec.cls });
      // Many puts in flight: lmdb-js commits them together instead of one transaction each.
      puts.push(store.putSample(rec));
      if (puts.length >= 256) await Promise.all(puts.splice(0));
      if (++done % 1000 === 0 || done === total) opts.onProgress?.(done, total);
    }
    await Promise.all(puts);
    puts = [];
  } finally {
    await Promise.allSettled(puts);
    await store.close();
  }
  const shards = await writer.close();
  const made: SyntheticStore = { storeDir: join(o.out, 'store'), shards, classNames, options: o };
  writeFileSync(join(o.out, MARKER), JSON.stringify(made, null, 2) + '\n');
  return made;
}

/** The store in `opts.out` when a finished one with the same options is there, else a new one. */
export async function ensureSyntheticStore(opts: SyntheticOptions): Promise<SyntheticStore> {
  const o = withDefaults(opts);
  const marker = join(o.out, MARKER);
  if (existsSync(marker)) {
    const made = JSON.parse(readFileSync(marker, 'utf8')) as SyntheticStore;
    if (JSON.stringify(made.options) === JSON.stringify(o)) return made;
  }
  return writeSyntheticStore(opts);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      classes: { type: 'string', default: '1000' },
      samples: { type: 'string', default: '130' },
      patches: { type: 'string', default: '10' },
      dim: { type: 'string', default: '1280' },
      seed: { type: 'string', default: '0' },
    },
  });
  if (values.out === undefined) throw new Error('usage: synthStore --out DIR [--classes N --samples N --patches N --dim N --seed N]');
  const t0 = performance.now();
  const made = await ensureSyntheticStore({
    out: values.out,
    classes: Number(values.classes),
    samplesPerClass: Number(values.samples),
    patchesPerSample: Number(values.patches),
    dim: Number(values.dim),
    seed: Number(values.seed),
    onProgress: (n, total) => process.stderr.write(`\r${n}/${total} samples`),
  });
  process.stderr.write(`\n${made.storeDir}: ${made.shards.length} shards in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) await main();
