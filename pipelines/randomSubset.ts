/**
 * DD-Ranking's baseline: random real images at the same IPC, made into a "distilled" set by the same
 * mosaic rule, renderer and writer as a real selection (materialize), so that the only difference
 * from a distilled set is which images were chosen.
 *
 *   source shards (streamed) -> per class, the P samples with the smallest keyed draw -> materialize
 *
 * The draw of a sample is keyedUniform(seed, key, RANDOM_SUBSET_STREAM): a function of its key, so the
 * subset does not depend on shard order, and memory is P encoded images per class whatever the
 * size of the source. Each image's patch is its largest centred square (the whole image when square).
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DdpsError } from '../core/errors.js';
import { keyedUniform } from '../models/noise.js';
import { decodeImage } from '../operators/decode.js';
import { patchesNeeded } from '../operators/math/mosaic.js';
import { SmallestK } from '../operators/math/smallestK.js';
import type { ClassSelection, DistillManifest, RankedPatch } from '../operators/selectionTypes.js';
import type { Box } from '../core/geometry.js';
import { expandShards, readSamples, sampleClass, sampleImage, type ShardSpec } from '../storage/webdataset/index.js';
import { MANIFEST_NAME, materialize } from './materialize.js';
import { canonicalJson } from './replay.js';

export const RANDOM_SUBSET_STREAM = 6_000_000;

/** Where the random images come from, which classes and how many, and where the subset goes. */
export interface RandomSubsetOptions {
  source: ShardSpec;
  /** The classes to draw (those of the set it is compared with). */
  classes: readonly number[];
  ipc: number;
  mosaic: boolean;
  outputSize: number;
  /** Class index -> name (for the manifest and provenance). */
  classNames: readonly string[];
  seed: number;
  outDir: string;
  /** Each source sample read (progress). */
  onSample?: () => void;
}

/** The subset's folder and manifest, and the size of the source. */
export interface RandomSubsetResult {
  dir: string;
  manifest: DistillManifest;
  /** The folder already held this subset. */
  reused: boolean;
  /** Samples in the source split. */
  sourceImages: number;
}

/** The largest centred square of a width x height image. */
export function centreSquare(width: number, height: number): Box {
  const s = Math.min(width, height);
  return [Math.floor((width - s) / 2), Math.floor((height - s) / 2), s, s];
}

interface Kept {
  key: string;
  shard: string;
  bytes: Buffer;
}

/** What identifies a subset: recorded in its manifest, compared on reuse. */
async function subsetSpec(opts: RandomSubsetOptions, shards: string[]) {
  const sizes = await Promise.all(shards.map(async (s) => (await stat(s)).size));
  return { version: 1, source: shards.map((s, i) => [resolve(s), sizes[i]]), classes: [...opts.classes].sort((a, b) => a - b), ipc: opts.ipc, mosaic: opts.mosaic, outputSize: opts.outputSize, seed: opts.seed };
}

/** Random real images at the given IPC, written as a distilled set (reused when the folder already holds this subset). */
export async function buildRandomSubset(opts: RandomSubsetOptions): Promise<RandomSubsetResult> {
  const shards = await expandShards(opts.source);
  const spec = await subsetSpec(opts, shards);
  const manifestPath = join(opts.outDir, MANIFEST_NAME);
  if (existsSync(manifestPath)) {
    const old = JSON.parse(await readFile(manifestPath, 'utf8')) as DistillManifest;
    const recorded = old.config as { randomSubset?: unknown; sourceImages?: number };
    if (canonicalJson(recorded.randomSubset) === canonicalJson(spec) && typeof recorded.sourceImages === 'number') {
      return { dir: opts.outDir, manifest: old, reused: true, sourceImages: recorded.sourceImages };
    }
  }
  const needed = patchesNeeded(opts.ipc, opts.mosaic);
  const wanted = new Set(opts.classes);
  const kept = new Map<number, SmallestK<Kept>>([...wanted].map((c) => [c, new SmallestK<Kept>(needed)]));
  let sourceImages = 0;
  for (const url of shards) {
    for await (const sample of readSamples(url)) {
      sourceImages++;
      opts.onSample?.();
      const cls = sampleClass(sample);
      const heap = cls === undefined ? undefined : kept.get(cls);
      const bytes = sampleImage(sample);
      if (heap === undefined || bytes === undefined) continue;
      heap.push(keyedUniform(opts.seed, sample.__key__, RANDOM_SUBSET_STREAM)(), { key: sample.__key__, shard: url, bytes });
    }
  }
  const empty = [...kept].filter(([, h]) => h.size === 0).map(([c]) => c);
  if (empty.length > 0) {
    throw new DdpsError('UNKNOWN_CLASS', `the source ${shards[0]}${shards.length > 1 ? ` (and ${shards.length - 1} more shards)` : ''} has no image of class${empty.length > 1 ? 'es' : ''} ${empty.join(', ')}, which the compared set has`, { file: shards[0]! });
  }
  const selection: ClassSelection[] = [];
  for (const [cls, heap] of [...kept].sort(([a], [b]) => a - b)) {
    const patches: RankedPatch[] = [];
    for (const [rank, { score, item }] of heap.sorted().entries()) {
      const img = await decodeImage(item.bytes, { key: item.key, url: item.shard, cls });
      patches.push({ key: item.key, index: 0, cls, shard: item.shard, boxOriginal: centreSquare(img.width, img.height), score, cluster: 0, rank });
    }
    selection.push({ cls, needed, patches, short: patches.length < needed });
  }
  const manifest = await materialize(selection, {
    ipc: opts.ipc,
    mosaic: opts.mosaic,
    outputSize: opts.outputSize,
    outDir: opts.outDir,
    classNames: opts.classNames,
    config: { randomSubset: spec, sourceImages },
    pack: {},
    topClusters: 1,
    createdBy: 'ddps evaluate --compare random',
  });
  return { dir: opts.outDir, manifest, reused: false, sourceImages };
}

/** Samples in the shards (a streaming count). */
export async function countSamples(source: ShardSpec): Promise<number> {
  let n = 0;
  for await (const _ of readSamples(await expandShards(source))) n++;
  return n;
}
