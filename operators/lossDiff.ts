/**
 * Stage I: where does the label help the denoiser? For each timestep t_k of the stratified grid, the
 * same noise eps_k (keyed by seed, sample key and k) noises the latent once, and the UNet predicts it
 * with the unconditional and the conditional prompt in one call; D = mean_k (L_u,k - L_c,k).
 * A micro-batch costs one UNet call per timestep, each with 2 x batch items at one t, which also
 * suits packs whose timestep input is a scalar.
 */
import type { OperatorFunction } from 'rxjs';
import type { DiffusionModel } from '../models/diffusion.js';
import { gaussianNoise } from '../models/noise.js';
import { noisyLatent, timestepGrid } from '../models/schedule.js';
import { conditionalPrompt, type ScoreConfig } from '../core/config.js';
import { LATENT_CHANNELS, latentSize } from '../core/geometry.js';
import { sizeGroups } from './batch.js';
import { mapOrdered } from './mapOrdered.js';
import { accumulateScore, lossMapAt } from './math/lossMap.js';
import type { Encoded, Scored } from './types.js';

/** Options of lossDiff: the scoring settings, the class labels put in the prompt, and model calls in flight. */
export interface LossDiffOptions {
  config: Pick<ScoreConfig, 'timesteps' | 'tRange' | 'seed' | 'condTemplate' | 'uncondTemplate'>;
  /** Class index -> the label word(s) put in the prompt. */
  labels: readonly string[];
  concurrency?: number;
}

/** D for items of one size: one UNet call per timestep, each with 2 x items at one t. */
async function scoreMaps(model: DiffusionModel, items: Encoded[], ts: readonly number[], opts: LossDiffOptions): Promise<Float32Array[]> {
  const n = items.length;
  const { width, height } = items[0]!.transform;
  const { h, w } = latentSize(width, height);
  const per = LATENT_CHANNELS * h * w;
  const uncond = await model.textEmbedding(opts.config.uncondTemplate);
  const cond = await Promise.all(items.map((it) => model.textEmbedding(conditionalPrompt(opts.config, opts.labels[it.cls] ?? String(it.cls)))));
  const contexts = [...items.map(() => uncond), ...cond];
  // All timesteps of the batch are requested at once, so a pool of workers runs them side by side;
  // the sum over k runs in k order afterwards, so D's rounding never depends on which call finished first.
  const perStep = await Promise.all(
    ts.map(async (t, k) => {
      const zt = new Float32Array(2 * n * per);
      const eps = new Float32Array(2 * n * per);
      items.forEach((it, i) => {
        const e = gaussianNoise(opts.config.seed, it.key, k, per);
        const z = noisyLatent(it.latent, e, model.alphabar[t]!);
        // The same noised latent and noise serve both prompts: the paired difference cancels most noise.
        zt.set(z, i * per);
        zt.set(z, (n + i) * per);
        eps.set(e, i * per);
        eps.set(e, (n + i) * per);
      });
      const pred = await model.predictNoise(zt, 2 * n, h, w, new Array<number>(2 * n).fill(t), contexts);
      return items.map((_, i) => ({ u: lossMapAt(eps, pred.eps, i, LATENT_CHANNELS, h, w), c: lossMapAt(eps, pred.eps, n + i, LATENT_CHANNELS, h, w) }));
    }),
  );
  return items.map((_, i) => {
    const d = new Float32Array(h * w);
    for (const step of perStep) accumulateScore(d, step[i]!.u, step[i]!.c, 1 / ts.length);
    return d;
  });
}

/** The score map D of each sample; a micro-batch that mixes image sizes makes one set of calls per size. */
export function lossDiff(model: DiffusionModel, opts: LossDiffOptions): OperatorFunction<Encoded[], Scored[]> {
  const ts = timestepGrid(opts.config.timesteps, opts.config.tRange);
  return mapOrdered(async (items: Encoded[]) => {
    const maps = new Array<Float32Array>(items.length);
    await Promise.all(
      sizeGroups(items).map(async (group) => {
        const scores = await scoreMaps(model, group.map((i) => items[i]!), ts, opts);
        group.forEach((i, g) => (maps[i] = scores[g]!));
      }),
    );
    return items.map((it, i) => ({ ...it, scoreMap: maps[i]! }));
  }, opts.concurrency ?? 1);
}
