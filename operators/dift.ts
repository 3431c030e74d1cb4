/**
 * Stage II: a DIFT feature per candidate patch, the UNet's up_blocks.1 output at diftTimestep with
 * the conditional prompt, averaged over diftEnsemble noise draws, pooled over the patch, L2-normalised.
 * - crop (the paper): each patch is cropped, VAE-encoded, noised and passed through the UNet alone.
 * - shared (cheaper): one pass of the whole image; each patch pools the cells it covers.
 * Noise indices start after the scoring timesteps' so the draws never coincide with Stage I's.
 */
import type { OperatorFunction } from 'rxjs';
import type { DiffusionModel } from '../models/diffusion.js';
import { DdpsError } from '../core/errors.js';
import { gaussianNoise } from '../models/noise.js';
import { noisyLatent } from '../models/schedule.js';
import { conditionalPrompt, type ScoreConfig } from '../core/config.js';
import { sizeGroups } from './batch.js';
import { mapOrdered } from './mapOrdered.js';
import { alignUp, cropPixels, resizeBilinear } from './math/crop.js';
import { meanOf, poolFeature } from './math/features.js';
import type { Featured, Patched } from './types.js';
import { type Box, LATENT_CHANNELS, LATENT_FACTOR, UNET_ALIGN } from '../core/geometry.js';

/** Options of dift: the DIFT settings of the score configuration and the class labels. */
export interface DiftOptions {
  config: Pick<ScoreConfig, 'diftMode' | 'diftTimestep' | 'diftEnsemble' | 'seed' | 'condTemplate'>;
  labels: readonly string[];
  concurrency?: number;
}

/** Noise index of ensemble member e for patch p (p = -1: the whole image in shared mode). */
export function diftNoiseIndex(patch: number, e: number): number {
  return 1_000_000 + (patch + 1) * 1000 + e;
}

interface Job {
  key: string;
  /** Latent to noise, 4 x h x w. */
  latent: Float32Array;
  patch: number;
  context: Float32Array;
}

/** One UNet pass per ensemble member over jobs of one latent size; returns each job's DIFT maps summed in e order. */
async function diftMaps(model: DiffusionModel, jobs: Job[], h: number, w: number, opts: DiftOptions): Promise<{ maps: Float32Array[]; dims: [number, number, number] }> {
  const per = LATENT_CHANNELS * h * w;
  const t = opts.config.diftTimestep;
  const runs = await Promise.all(
    Array.from({ length: opts.config.diftEnsemble }, async (_, e) => {
      const zt = new Float32Array(jobs.length * per);
      jobs.forEach((j, i) => zt.set(noisyLatent(j.latent, gaussianNoise(opts.config.seed, j.key, diftNoiseIndex(j.patch, e), per), model.alphabar[t]!), i * per));
      const r = await model.predictNoise(zt, jobs.length, h, w, new Array<number>(jobs.length).fill(t), jobs.map((j) => j.context), true);
      if (!r.dift) throw new DdpsError('BAD_MODEL', 'the UNet returned no dift output: load the pack with the DIFT tap');
      return r.dift;
    }),
  );
  const [, c, dh, dw] = runs[0]!.dims;
  const size = c * dh * dw;
  // The ensemble mean of the maps; pooling is linear, so this equals averaging pooled features.
  const maps = jobs.map((_, i) => meanOf(runs.map((r) => r.data.subarray(i * size, (i + 1) * size))));
  return { maps, dims: [c, dh, dw] };
}

/** Stage II: one L2-normalised DIFT feature per candidate patch, in crop or shared mode (see the module comment). */
export function dift(model: DiffusionModel, opts: DiftOptions): OperatorFunction<Patched[], Featured[]> {
  return mapOrdered(async (items: Patched[]) => {
    const contexts = await Promise.all(items.map((it) => model.textEmbedding(conditionalPrompt(opts.config, opts.labels[it.cls] ?? String(it.cls)))));
    if (opts.config.diftMode === 'shared') {
      // One pass per image size of the batch; each patch pools the cells it covers.
      const features = new Array<Float32Array[]>(items.length);
      await Promise.all(
        sizeGroups(items).map(async (group) => {
          const { width, height } = items[group[0]!]!.transform;
          const jobs = group.map((i) => ({ key: items[i]!.key, latent: items[i]!.latent, patch: -1, context: contexts[i]! }));
          const { maps, dims } = await diftMaps(model, jobs, height / LATENT_FACTOR, width / LATENT_FACTOR, opts);
          const [c, dh, dw] = dims;
          group.forEach((i, g) => (features[i] = items[i]!.patches.map((p) => poolFeature(maps[g]!, c, dh, dw, p.box, width, height))));
        }),
      );
      return items.map((it, i) => ({ ...it, features: features[i]! }));
    }
    // crop: patches of one size share a VAE call and a UNet call.
    const crops: { item: number; patch: number; box: Box }[] = [];
    items.forEach((it, i) => it.patches.forEach((p, j) => crops.push({ item: i, patch: j, box: p.box })));
    const features: Float32Array[][] = items.map((it) => new Array<Float32Array>(it.patches.length));
    const bySize = new Map<string, typeof crops>();
    for (const cr of crops) {
      const k = `${cr.box[2]}x${cr.box[3]}`;
      const group = bySize.get(k);
      if (group) group.push(cr);
      else bySize.set(k, [cr]);
    }
    for (const group of bySize.values()) {
      const [, , cw, ch] = group[0]!.box;
      // The UNet needs sides that are multiples of 64: a 224 crop is encoded at 256.
      const bw = alignUp(cw, UNET_ALIGN);
      const bh = alignUp(ch, UNET_ALIGN);
      const per = 3 * bw * bh;
      const pixels = new Float32Array(group.length * per);
      group.forEach((cr, g) => {
        const it = items[cr.item]!;
        resizeBilinear(cropPixels(it.pixels, it.transform.width, it.transform.height, cr.box), cw, ch, bw, bh, pixels.subarray(g * per, (g + 1) * per));
      });
      const z = await model.encodeImages(pixels, group.length, bh, bw);
      const lper = z.length / group.length;
      const jobs = group.map((cr, g) => ({ key: items[cr.item]!.key, latent: z.subarray(g * lper, (g + 1) * lper), patch: cr.patch, context: contexts[cr.item]! }));
      const { maps, dims } = await diftMaps(model, jobs, bh / LATENT_FACTOR, bw / LATENT_FACTOR, opts);
      const [c, dh, dw] = dims;
      group.forEach((cr, g) => {
        features[cr.item]![cr.patch] = poolFeature(maps[g]!, c, dh, dw, [0, 0, bw, bh], bw, bh);
      });
    }
    return items.map((it, i) => ({ ...it, features: features[i]! }));
  }, opts.concurrency ?? 1);
}
