/**
 * Baseline scorer after RDED (Sun et al., "On the Diversity and Realism of Distilled Dataset"), in
 * place of lossDiff + patchScore: each image gets `crops` random crops, each scored by the teacher's
 * confidence in the image's true class, score = -crossEntropy = log softmax(logits)[cls]; the image's
 * candidates are its best `patchesPerImage` crops (greedyNms at nmsIou, as the diffusion scorer's).
 * Crops are drawn from a stream keyed by (seed, sample key), so the result never depends on batch
 * size, worker count or arrival order.
 *
 * Where this departs from RDED's code (synthesize/utils.py), and why:
 * - RDED crops with RandomResizedCrop(scale=(0.08, 1), ratio=(1, 1)) of the whole image and keeps one
 *   crop per image. Here crops are patchSize squares on the 8-pixel grid by default (`scale` [1, 1]),
 *   so the candidates are the same kind of object as the diffusion scorer's and DIFT encodes them in
 *   one batch; `scale` = [lo, hi] draws each crop's area as a uniform fraction of patchSize^2 instead.
 * - RDED zero-pads each crop to the teacher's input size; here the classifier resizes the crop to its
 *   input, as it does any image.
 *
 * The store has no score map: `scoreMap` is all zeros (of the latent size, as Scored requires).
 */
import type { OperatorFunction } from 'rxjs';
import type { Classifier } from '../models/classifier.js';
import { DdpsError } from '../core/errors.js';
import type { StageTimer } from '../models/stageTimer.js';
import type { ScoreConfig } from '../core/config.js';
import { mapOrdered } from './mapOrdered.js';
import { cropRgb } from './math/crop.js';
import { greedyNms } from './math/nms.js';
import { toOriginal } from './math/resizeTransform.js';
import { fromNchw } from './resize.js';
import { keyedUniform, randomInt } from '../models/noise.js';
import { CLASSIFIER_CROP_STREAM, gridPositions } from './randomPatches.js';
import type { Encoded, Patch, Patched } from './types.js';
import { LATENT_FACTOR, type Box } from '../core/geometry.js';

const GRID = LATENT_FACTOR;
export const DEFAULT_CROPS = 8;

/** What the operator needs of a classifier (a test may pass a stand-in). */
export type CropClassifier = Pick<Classifier, 'logits'>;

/** Options of classifierScore: the score configuration, crops per image, crop scale, concurrency, timer. */
export interface ClassifierScoreOptions {
  config: Pick<ScoreConfig, 'patchSize' | 'patchesPerImage' | 'nmsIou' | 'seed' | 'wholeImage'>;
  /** Random crops scored per image (RDED's num_crop). */
  crops?: number;
  /** Each crop's area as a fraction of patchSize^2, drawn uniformly from [lo, hi] (default [1, 1]: patchSize crops). */
  scale?: [number, number];
  /** Micro-batches classified at once. */
  concurrency?: number;
  /** Receives the classifier's time as stage 'classifier' (items: crops). */
  timer?: StageTimer;
}

/** log softmax(logits)[i], by log-sum-exp shifted by the maximum so no exponential overflows. */
export function logSoftmaxAt(logits: Float32Array, i: number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return logits[i]! - max - Math.log(sum);
}

/**
 * `count` crop boxes on the 8-pixel grid of a width x height image. With scale [1, 1] they are
 * distinct side x side squares; otherwise each crop draws its area fraction, then its position.
 */
export function cropBoxes(next: () => number, width: number, height: number, side: number, count: number, scale: [number, number] = [1, 1]): Box[] {
  const [lo, hi] = scale;
  if (!(lo > 0 && lo <= hi)) throw new DdpsError('BAD_ARGUMENT', `crop scale [${scale.join(', ')}]: expected 0 < lo <= hi`);
  if (lo === 1 && hi === 1) return gridPositions(next, width, height, side, count).map(([x, y]) => [x, y, side, side]);
  const maxSide = Math.min(width, height) - (Math.min(width, height) % GRID);
  return Array.from({ length: count }, (): Box => {
    const area = lo + (hi - lo) * next();
    const s = Math.min(maxSide, Math.max(GRID, Math.round((side * Math.sqrt(area)) / GRID) * GRID));
    const x = randomInt(next, (width - s) / GRID + 1) * GRID;
    const y = randomInt(next, (height - s) / GRID + 1) * GRID;
    return [x, y, s, s];
  });
}

/** Drop-in for lossDiff + patchScore: one classifier call per micro-batch, for all its crops. */
export function classifierScore(classifier: CropClassifier, opts: ClassifierScoreOptions): OperatorFunction<Encoded[], Patched[]> {
  const { config } = opts;
  const crops = opts.crops ?? DEFAULT_CROPS;
  if (!Number.isSafeInteger(crops) || crops < 1) throw new DdpsError('BAD_ARGUMENT', `crops = ${crops}: expected a whole number >= 1`);
  return mapOrdered(async (items: Encoded[]) => {
    const boxes = items.map((it): Box[] => {
      const { width, height } = it.transform;
      if (config.wholeImage) return [[0, 0, width, height]];
      return cropBoxes(keyedUniform(config.seed, it.key, CLASSIFIER_CROP_STREAM), width, height, config.patchSize, crops, opts.scale);
    });
    const images = items.flatMap((it, i) => {
      const rgb = fromNchw(it.pixels, it.transform.width, it.transform.height);
      return boxes[i]!.map((b) => cropRgb(rgb, b));
    });
    const classify = (): Promise<Float32Array[]> => classifier.logits(images);
    const logits = images.length === 0 ? [] : opts.timer ? await opts.timer.time('classifier', classify, images.length) : await classify();
    if (logits.length !== images.length) {
      throw new DdpsError('BAD_MODEL', `the classifier returned ${logits.length} logit vectors for ${images.length} crops`);
    }
    let j = 0;
    return items.map((it, i) => {
      const scored = boxes[i]!.map((box) => {
        const l = logits[j++]!;
        if (it.cls < 0 || it.cls >= l.length) {
          throw new DdpsError('UNKNOWN_CLASS', `${it.url}: sample ${it.key} has class ${it.cls}, but the classifier scores ${l.length} classes`, { sample: it.key, file: it.url });
        }
        return { box, score: logSoftmaxAt(l, it.cls) };
      });
      const patches: Patch[] = greedyNms(scored, config.patchesPerImage, config.nmsIou).map(({ box, score }) => ({ box, boxOriginal: toOriginal(box, it.transform), score }));
      return { ...it, scoreMap: new Float32Array((it.transform.height / GRID) * (it.transform.width / GRID)), patches };
    });
  }, opts.concurrency ?? 1);
}
