/**
 * Baseline scorer: random candidates, in place of lossDiff + patchScore. Each image gets
 * `patchesPerImage` distinct patch positions drawn uniformly from the 8-pixel grid of the resized
 * image, each with a uniform random score in [0, 1), so both what is picked and how it ranks are
 * chance. Every draw comes from a stream keyed by (seed, sample key), as Stage I's noise is, so the
 * result never depends on batch size, worker count or arrival order.
 *
 * A random store has no score map: `scoreMap` is all zeros (of the latent size, as Scored requires).
 */
import { map, type OperatorFunction } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import { keyedUniform, randomInt } from '../models/noise.js';
import type { ScoreConfig } from '../core/config.js';
import { toOriginal } from './math/resizeTransform.js';
import type { Encoded, Patch, Patched } from './types.js';
import { LATENT_FACTOR, type Box } from '../core/geometry.js';

/** Stream indices of the baselines: far from Stage I's (0..timesteps) and DIFT's (1e6 + ...), so no draw is shared. */
export const RANDOM_PATCH_STREAM = 2_000_000;
export const CLASSIFIER_CROP_STREAM = 3_000_000;

const GRID = LATENT_FACTOR;
/**
 * `count` distinct top-left corners of `side` x `side` windows on the 8-pixel grid of a width x height
 * image, uniformly without replacement (partial Fisher-Yates over the grid); all of them, in a random
 * order, when the grid has fewer.
 */
export function gridPositions(next: () => number, width: number, height: number, side: number, count: number): [number, number][] {
  if (side > width || side > height || side % GRID !== 0 || side < GRID) {
    throw new DdpsError('BAD_ARGUMENT', `a ${side}-pixel patch on a ${width}x${height} image: expected a positive multiple of ${GRID} that fits`);
  }
  const cols = (width - side) / GRID + 1;
  const rows = (height - side) / GRID + 1;
  if (!Number.isInteger(cols) || !Number.isInteger(rows)) {
    throw new DdpsError('BAD_ARGUMENT', `image ${width}x${height}: expected sides on the ${GRID}-pixel grid`);
  }
  const n = cols * rows;
  const k = Math.min(count, n);
  // Only the swapped cells are stored: the grid of a large image is never materialised.
  const swapped = new Map<number, number>();
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) {
    const j = i + randomInt(next, n - i);
    const cell = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    out.push([(cell % cols) * GRID, Math.floor(cell / cols) * GRID]);
  }
  return out;
}

/** Highest score first; equal scores keep their draw order. */
export function byScore(patches: Patch[]): Patch[] {
  return patches.map((p, i) => ({ p, i })).sort((a, b) => b.p.score - a.p.score || a.i - b.i).map(({ p }) => p);
}

/** Options of randomPatches: the patch settings and seed. */
export interface RandomPatchesOptions {
  config: Pick<ScoreConfig, 'patchSize' | 'patchesPerImage' | 'seed' | 'wholeImage'>;
}

/** An image's random candidates: positions first, then one score per position, from one keyed stream. */
export function randomCandidates(item: Encoded, config: RandomPatchesOptions['config']): Patch[] {
  const { width, height } = item.transform;
  const next = keyedUniform(config.seed, item.key, RANDOM_PATCH_STREAM);
  const side = config.patchSize;
  const boxes: Box[] = config.wholeImage ? [[0, 0, width, height]] : gridPositions(next, width, height, side, config.patchesPerImage).map(([x, y]) => [x, y, side, side]);
  return byScore(boxes.map((box) => ({ box, boxOriginal: toOriginal(box, item.transform), score: next() })));
}

/** Drop-in for lossDiff + patchScore. */
export function randomPatches(opts: RandomPatchesOptions): OperatorFunction<Encoded[], Patched[]> {
  return map((items) =>
    items.map((it) => ({
      ...it,
      scoreMap: new Float32Array((it.transform.height / GRID) * (it.transform.width / GRID)),
      patches: randomCandidates(it, opts.config),
    })),
  );
}
