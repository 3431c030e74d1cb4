import type { Box } from '../types.js';

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
