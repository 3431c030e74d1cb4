/**
 * Stage I, last step: patch scores are the score map averaged over patch-sized windows; an image's
 * candidates are its best windows (greedy NMS when there are several). In whole-image mode the image
 * is its one patch, scored by the mean of D.
 */
import { map, type OperatorFunction } from 'rxjs';
import { LATENT_FACTOR, latentSize } from '../core/geometry.js';
import type { ScoreConfig } from '../core/config.js';
import { topPatches, toPixelBox } from './math/nms.js';
import { poolScores } from './math/pooling.js';
import { toOriginal } from './math/resizeTransform.js';
import type { Patch, Patched, Scored } from './types.js';

/** The patch settings of the score configuration. */
export type PatchScoreOptions = Pick<ScoreConfig, 'patchSize' | 'patchStride' | 'patchesPerImage' | 'nmsIou' | 'wholeImage'>;

/** One image's candidate patches from its score map, best first, with boxes in resized and original pixels. */
export function scorePatches(item: Scored, opts: PatchScoreOptions): Patch[] {
  const { width, height } = item.transform;
  const { h, w } = latentSize(width, height);
  if (opts.wholeImage) {
    let sum = 0;
    for (const v of item.scoreMap) sum += v;
    const box: Patch['box'] = [0, 0, width, height];
    return [{ box, boxOriginal: toOriginal(box, item.transform), score: sum / item.scoreMap.length }];
  }
  const pooled = poolScores(item.scoreMap, h, w, opts.patchSize / LATENT_FACTOR, opts.patchStride / LATENT_FACTOR);
  return topPatches(pooled, { count: opts.patchesPerImage, iou: opts.nmsIou }).map((cell) => {
    const box = toPixelBox(cell);
    return { box, boxOriginal: toOriginal(box, item.transform), score: cell.score };
  });
}

/** Stage I, last step: the candidate patches of each image (scorePatches). */
export function patchScore(opts: PatchScoreOptions): OperatorFunction<Scored[], Patched[]> {
  return map((items) => items.map((it) => ({ ...it, patches: scorePatches(it, opts) })));
}
