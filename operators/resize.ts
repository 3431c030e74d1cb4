/**
 * Stage 0: decoded pixels -> the VAE's input (METHOD.md): resized, trimmed to the latent grid, and
 * float32 NCHW in [-1, 1].
 */
import type { OperatorFunction } from 'rxjs';
import sharp from 'sharp';
import { DEFAULT_SCORE_CONFIG } from '../core/config.js';
import { DdpsError } from '../core/errors.js';
import type { RgbImage } from '../core/geometry.js';
import { DEFAULT_CONCURRENCY } from './decode.js';
import { mapOrdered } from './mapOrdered.js';
import { describeSample, reason, sampleErrors, type StageOptions } from './skips.js';
import { planResize, planWholeImage, scaledSize } from './math/resizeTransform.js';
import type { Decoded, Prepared } from './types.js';

/** Options of resize: short side, whole-image mode, minimum size and the grid the sides are trimmed to. */
export interface ResizeOptions {
  /** The short edge after resizing (default mode) or both sides (whole-image mode); a multiple of `align` (default 256). */
  imageSize?: number;
  /** Low-resolution data: stretch the whole image to imageSize x imageSize instead of cropping. */
  wholeImage?: boolean;
  /** Reject images whose short side is below this many original pixels (the patch size). */
  minSize?: number;
  /** Trim sides to a multiple of this: default 64, what an SD UNet accepts (8, the latent grid, suits a VAE alone). */
  align?: number;
}

/** HxWx3 uint8 -> 3xHxW float32, v / 127.5 - 1. */
export function toNchw(rgb: Uint8Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = rgb[3 * i] / 127.5 - 1;
    out[plane + i] = rgb[3 * i + 1] / 127.5 - 1;
    out[2 * plane + i] = rgb[3 * i + 2] / 127.5 - 1;
  }
  return out;
}

/** The inverse of toNchw: 3xHxW float32 in [-1, 1] -> HxWx3 uint8, (v + 1) * 127.5 rounded and clamped. */
export function fromNchw(pixels: Float32Array, width: number, height: number): RgbImage {
  const plane = width * height;
  const rgb = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) rgb[3 * i + c] = Math.min(255, Math.max(0, Math.round((pixels[c * plane + i]! + 1) * 127.5)));
  }
  return { rgb, width, height };
}

/**
 * Lanczos3 both ways: it is sharp's default for shrinking, and upsampling low-resolution data with it
 * keeps edges sharper than bilinear or bicubic.
 */
export async function resizeImage(img: Decoded, opts: ResizeOptions = {}): Promise<Prepared> {
  const { rgb, width, height, ...ref } = img;
  if (opts.minSize !== undefined && Math.min(width, height) < opts.minSize) {
    throw new DdpsError(
      'BAD_SAMPLE',
      `${describeSample(ref)}: the image is ${width}x${height}, its short side is below the minimum of ${opts.minSize} px`,
      { sample: ref.key, file: ref.url },
    );
  }
  const transform = (opts.wholeImage ? planWholeImage : planResize)(width, height, opts.imageSize ?? DEFAULT_SCORE_CONFIG.imageSize, opts.align);
  const [scaledW, scaledH] = scaledSize(transform, width, height);
  let data: Buffer;
  try {
    data = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .resize(scaledW, scaledH, { fit: 'fill', kernel: 'lanczos3' })
      .extract({ left: transform.offsetX, top: transform.offsetY, width: transform.width, height: transform.height })
      .raw()
      .toBuffer();
  } catch (cause) {
    throw new DdpsError(
      'BAD_SAMPLE',
      `${describeSample(ref)}: cannot resize the ${width}x${height} image to ${scaledW}x${scaledH}: sharp says "${reason(cause)}"`,
      { sample: ref.key, file: ref.url, cause },
    );
  }
  return { ...ref, size: [width, height], transform, pixels: toNchw(data, transform.width, transform.height) };
}

/** resizeImage over a stream, in input order; with no options, SD 1.5's 256-pixel short side on the UNet's 64-pixel grid. */
export function resize(opts: ResizeOptions & StageOptions = {}): OperatorFunction<Decoded, Prepared> {
  return mapOrdered(
    (img: Decoded) => (opts.timer ? opts.timer.time('resize', () => resizeImage(img, opts)) : resizeImage(img, opts)),
    opts.concurrency ?? DEFAULT_CONCURRENCY,
    sampleErrors((img: Decoded) => img, opts.onError),
  );
}
