/**
 * Stage I, first step: the VAE's latent of each image, z0 = posterior mean x scaling factor.
 */
import type { OperatorFunction } from 'rxjs';
import type { DiffusionModel } from '../models/diffusion.js';
import { sizeGroups } from './batch.js';
import { mapOrdered } from './mapOrdered.js';
import type { Encoded, Prepared } from './types.js';

/** Options of encodeLatent. */
export interface EncodeLatentOptions {
  /** Micro-batches encoded at once (default 1; the number of workers of a PackPool). */
  concurrency?: number;
}

/** One VAE call per image size in each micro-batch. */
export function encodeLatent(model: DiffusionModel, opts: EncodeLatentOptions = {}): OperatorFunction<Prepared[], Encoded[]> {
  return mapOrdered(async (items: Prepared[]) => {
    const latents = new Array<Float32Array>(items.length);
    await Promise.all(
      sizeGroups(items).map(async (group) => {
        const { width, height } = items[group[0]!]!.transform;
        const per = 3 * width * height;
        const pixels = new Float32Array(group.length * per);
        group.forEach((i, g) => pixels.set(items[i]!.pixels, g * per));
        const z = await model.encodeImages(pixels, group.length, height, width);
        const lper = z.length / group.length;
        group.forEach((i, g) => (latents[i] = z.slice(g * lper, (g + 1) * lper)));
      }),
    );
    return items.map((it, i) => ({ ...it, latent: latents[i]! }));
  }, opts.concurrency ?? 1);
}
