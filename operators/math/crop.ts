import { DdpsError } from '../../core/errors.js';
import { type Box, type RgbImage } from '../../core/geometry.js';

/** The [x, y, w, h] window of a 3 x height x width NCHW image (the box must lie inside it). */
export function cropPixels(pixels: Float32Array, width: number, height: number, box: Box, out = new Float32Array(3 * box[2] * box[3])): Float32Array {
  const [x, y, w, h] = box;
  if (x < 0 || y < 0 || x + w > width || y + h > height) throw new RangeError(`crop [${box}] is outside the ${width}x${height} image`);
  for (let c = 0; c < 3; c++) {
    for (let r = 0; r < h; r++) {
      const src = c * width * height + (y + r) * width + x;
      out.set(pixels.subarray(src, src + w), c * w * h + r * w);
    }
  }
  return out;
}

/** Smallest multiple of `align` that is >= n. */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/**
 * Bilinear resize of a 3 x h x w NCHW image to 3 x outH x outW with half-pixel centres (as PIL and
 * torch's align_corners=False), edges clamped.
 */
export function resizeBilinear(src: Float32Array, w: number, h: number, outW: number, outH: number, out = new Float32Array(3 * outW * outH)): Float32Array {
  if (w === outW && h === outH) {
    out.set(src.subarray(0, 3 * w * h));
    return out;
  }
  const xs = axis(w, outW);
  const ys = axis(h, outH);
  for (let c = 0; c < 3; c++) {
    const plane = c * w * h;
    const outPlane = c * outW * outH;
    for (let y = 0; y < outH; y++) {
      const r0 = plane + ys.i0[y]! * w;
      const r1 = plane + ys.i1[y]! * w;
      const fy = ys.f[y]!;
      for (let x = 0; x < outW; x++) {
        const x0 = xs.i0[x]!;
        const x1 = xs.i1[x]!;
        const fx = xs.f[x]!;
        const top = src[r0 + x0]! + (src[r0 + x1]! - src[r0 + x0]!) * fx;
        const bottom = src[r1 + x0]! + (src[r1 + x1]! - src[r1 + x0]!) * fx;
        out[outPlane + y * outW + x] = top + (bottom - top) * fy;
      }
    }
  }
  return out;
}

function axis(n: number, outN: number): { i0: Int32Array; i1: Int32Array; f: Float32Array } {
  const i0 = new Int32Array(outN);
  const i1 = new Int32Array(outN);
  const f = new Float32Array(outN);
  const scale = n / outN;
  for (let o = 0; o < outN; o++) {
    const p = Math.min(Math.max((o + 0.5) * scale - 0.5, 0), n - 1);
    const lo = Math.floor(p);
    i0[o] = lo;
    i1[o] = Math.min(lo + 1, n - 1);
    f[o] = p - lo;
  }
  return { i0, i1, f };
}

/** The [x, y, w, h] window of an HxWx3 image, mirrored left-right when `flip`. */
export function cropRgb(img: RgbImage, box: Box, flip = false): RgbImage {
  const [x, y, w, h] = box;
  if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > img.width || y + h > img.height) {
    throw new DdpsError('BAD_ARGUMENT', `crop [${box}] is outside the ${img.width}x${img.height} image`);
  }
  const rgb = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) {
    const src = ((y + r) * img.width + x) * 3;
    if (!flip) {
      rgb.set(img.rgb.subarray(src, src + w * 3), r * w * 3);
      continue;
    }
    for (let c = 0; c < w; c++) {
      const s = src + (w - 1 - c) * 3;
      const d = (r * w + c) * 3;
      rgb[d] = img.rgb[s]!;
      rgb[d + 1] = img.rgb[s + 1]!;
      rgb[d + 2] = img.rgb[s + 2]!;
    }
  }
  return { rgb, width: w, height: h };
}
