/**
 * Separable antialiased bilinear resampling, the one resize that the teacher's preprocessing and the
 * students' augmentation share (and that python/ddps_eval/augment.py implements with the same
 * formula, so both languages render the same pixels: docs/REPLAY.md).
 */
import { DdpsError } from '../core/errors.js';

export interface Taps {
  /** First input pixel of each output position. */
  start: Int32Array;
  /** Taps per output position (the same for all: the widest window). */
  taps: number;
  /** taps weights per output position, zero-padded, summing to 1. */
  weights: Float64Array;
}

/**
 * 1-D weights of PIL's BILINEAR resize: a triangle filter at half-pixel centres whose support grows
 * with the shrink factor, so downscaling averages (antialias, like torchvision's antialias=True)
 * while upscaling is plain bilinear; windows are clipped at the edges and renormalised.
 */
export function bilinearTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    let total = 0;
    for (let i = lo; i < hi; i++) {
      const w = Math.max(0, 1 - Math.abs((i - center + 0.5) / filterScale));
      weights[o * taps + i - lo] = w;
      total += w;
    }
    for (let k = 0; k < taps; k++) weights[o * taps + k] /= total;
    start[o] = lo;
  }
  return { start, taps, weights };
}

/**
 * An HxWx3 image (uint8 or float, values 0..255) resized to outW x outH with bilinearTaps, rows first
 * then columns, in float64; returns HxWx3 float32, not rounded.
 */
export function resampleRgb(rgb: ArrayLike<number>, width: number, height: number, outW: number, outH: number): Float32Array {
  if (rgb.length !== width * height * 3) {
    throw new DdpsError('BAD_ARGUMENT', `resample: a ${width}x${height} RGB image needs ${width * height * 3} bytes, got ${rgb.length}`);
  }
  const xs = bilinearTaps(width, outW);
  const ys = bilinearTaps(height, outH);
  // Horizontal pass into an outW x height x 3 buffer, then the vertical pass.
  const rows = new Float64Array(height * outW * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outW; x++) {
      const s = xs.start[x]!;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < xs.taps; k++) {
        const w = xs.weights[x * xs.taps + k]!;
        if (w === 0) continue;
        const p = (y * width + s + k) * 3;
        r += w * rgb[p]!;
        g += w * rgb[p + 1]!;
        b += w * rgb[p + 2]!;
      }
      const q = (y * outW + x) * 3;
      rows[q] = r;
      rows[q + 1] = g;
      rows[q + 2] = b;
    }
  }
  const out = new Float32Array(outH * outW * 3);
  for (let y = 0; y < outH; y++) {
    const s = ys.start[y]!;
    for (let x = 0; x < outW; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < ys.taps; k++) {
        const w = ys.weights[y * ys.taps + k]!;
        if (w === 0) continue;
        const q = ((s + k) * outW + x) * 3;
        r += w * rows[q]!;
        g += w * rows[q + 1]!;
        b += w * rows[q + 2]!;
      }
      const i = (y * outW + x) * 3;
      out[i] = r;
      out[i + 1] = g;
      out[i + 2] = b;
    }
  }
  return out;
}
