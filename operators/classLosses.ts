/**
 * The diffusion classifier's measurement (Li et al., "Your Diffusion Model is Secretly a Zero-Shot
 * Classifier"): for every class prompt, and for the empty-label prompt, the denoising loss of the
 * image, averaged over the K timesteps of the scoring grid. The noise is Stage I's own: eps_k keyed by
 * (seed, sample key, k) and shared by every prompt (paired), so for the image's true class the loss is
 * exactly the L_c that lossDiff averages, and the empty-label loss is its L_u.
 */
import type { OperatorFunction } from 'rxjs';
import type { DiffusionModel } from '../models/diffusion.js';
import { gaussianNoise } from '../models/noise.js';
import { noisyLatent, timestepGrid } from '../models/schedule.js';
import { conditionalPrompt, type ScoreConfig } from '../core/config.js';
import { LATENT_CHANNELS, latentSize } from '../core/geometry.js';
import { mapOrdered } from './mapOrdered.js';
import { lossMapAt } from './math/lossMap.js';
import type { Encoded } from './types.js';

/** Stage I's knobs (timesteps, range, seed, templates) and the class labels to try. */
export interface ClassLossOptions {
  config: Pick<ScoreConfig, 'timesteps' | 'tRange' | 'seed' | 'condTemplate' | 'uncondTemplate'>;
  /** Class index -> label; every class is tried. */
  labels: readonly string[];
  concurrency?: number;
}

/** An encoded sample with the mean denoising loss of every class prompt and of the empty-label prompt. */
export interface ClassLossed extends Encoded {
  /** Mean loss per class prompt, in class order. */
  classLosses: Float64Array;
  /** Mean loss with the empty-label prompt. */
  uncondLoss: number;
}

/** Mean of a loss map (the image's loss at one timestep). */
function meanLoss(eps: Float32Array, pred: Float32Array, item: number, h: number, w: number): number {
  const map = lossMapAt(eps, pred, item, LATENT_CHANNELS, h, w);
  let s = 0;
  for (let i = 0; i < map.length; i++) s += map[i]!;
  return s / map.length;
}

/**
 * Every class prompt's (and the empty-label prompt's) loss per image, averaged over Stage I's timestep grid,
 * with Stage I's paired noise: the measurement of the diffusion classifier.
 */
export function classLosses(model: DiffusionModel, opts: ClassLossOptions): OperatorFunction<Encoded[], ClassLossed[]> {
  const ts = timestepGrid(opts.config.timesteps, opts.config.tRange);
  const prompts = [...opts.labels.map((l) => conditionalPrompt(opts.config, l)), opts.config.uncondTemplate];
  const P = prompts.length;
  return mapOrdered(async (items: Encoded[]) => {
    const n = items.length;
    const { width, height } = items[0]!.transform;
    const { h, w } = latentSize(width, height);
    const per = LATENT_CHANNELS * h * w;
    const contexts = await Promise.all(prompts.map((p) => model.textEmbedding(p)));
    // Item (i, p) of a call is image i with prompt p; every prompt of an image sees the same z_t and eps.
    const perStep = await Promise.all(
      ts.map(async (t, k) => {
        const zt = new Float32Array(n * P * per);
        const eps = new Float32Array(n * P * per);
        items.forEach((it, i) => {
          const e = gaussianNoise(opts.config.seed, it.key, k, per);
          const z = noisyLatent(it.latent, e, model.alphabar[t]!);
          for (let p = 0; p < P; p++) {
            zt.set(z, (i * P + p) * per);
            eps.set(e, (i * P + p) * per);
          }
        });
        const ctx = items.flatMap(() => contexts);
        const pred = await model.predictNoise(zt, n * P, h, w, new Array<number>(n * P).fill(t), ctx);
        return items.map((_, i) => Array.from({ length: P }, (_, p) => meanLoss(eps, pred.eps, i * P + p, h, w)));
      }),
    );
    return items.map((it, i) => {
      const mean = new Float64Array(P);
      // Summed in k order whatever order the calls finished in.
      for (const step of perStep) for (let p = 0; p < P; p++) mean[p] += step[i]![p]! / ts.length;
      return { ...it, classLosses: mean.slice(0, P - 1), uncondLoss: mean[P - 1]! };
    });
  }, opts.concurrency ?? 1);
}

/** Index of the smallest loss (the predicted class); ties go to the lower index. */
export function argmin(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! < values[best]!) best = i;
  return best;
}
