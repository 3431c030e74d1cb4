import type { OperatorFunction } from 'rxjs';
import type { DiffusionModel } from '../models/diffusion.js';
import { mapOrdered } from './mapOrdered.js';
import type { Encoded, Prepared } from './types.js';

/** Stage I, first step: one VAE call per micro-batch (all items share one size), z0 = posterior mean x scale. */
export function encodeLatent(model: DiffusionModel, opts: { concurrency?: number } = {}): OperatorFunction<Prepared[], Encoded[]> {
  return mapOrdered(async (items: Prepared[]) => {
    const { width, height } = items[0]!.transform;
    const per = 3 * width * height;
    const pixels = new Float32Array(items.length * per);
    items.forEach((it, i) => pixels.set(it.pixels, i * per));
    const z = await model.encodeImages(pixels, items.length, height, width);
    const lper = z.length / items.length;
    return items.map((it, i) => ({ ...it, latent: z.slice(i * lper, (i + 1) * lper) }));
  }, opts.concurrency ?? 1);
}
