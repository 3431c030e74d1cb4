/**
 * Patch scores: average pooling of the score map D over k x k cell windows (METHOD.md Stage I).
 */
import { DdpsError } from '../../core/errors.js';

/** Window means on a rows x cols grid; the geometry travels with the scores so NMS can't disagree. */
export interface PooledScores {
  /** scores[r * cols + c] = mean of D over the window whose top-left cell is (r * stride, c * stride). */
  scores: Float64Array;
  rows: number;
  cols: number;
  /** Window extent in cells: k x k, or the whole map when the map is smaller than the window. */
  windowH: number;
  windowW: number;
  stride: number;
}

/**
 * Means of D (h x w, row-major) over every k x k window at stride `stride` that lies fully inside
 * the map. A summed-area table makes the cost O(h * w) whatever k; it is float64 so the
 * cancellation in its four-corner differences stays far below float32 resolution.
 *
 * When k exceeds the map in either direction (an image smaller than the patch), the whole map is
 * the one window: the patch is the whole image, as for low-resolution data.
 */
export function poolScores(d: Float32Array, h: number, w: number, k: number, stride: number): PooledScores {
  for (const [name, v] of [['h', h], ['w', w], ['k', k], ['stride', stride]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new DdpsError('BAD_ARGUMENT', `poolScores: ${name} = ${v}, expected a positive integer`);
    }
  }
  if (d.length !== h * w) {
    throw new DdpsError('BAD_ARGUMENT', `poolScores: score map has ${d.length} cells, expected ${h}x${w} = ${h * w}`);
  }
  if (k > h || k > w) {
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i];
    return { scores: Float64Array.of(s / d.length), rows: 1, cols: 1, windowH: h, windowW: w, stride };
  }

  // sat[(y + 1) * (w + 1) + (x + 1)] = sum of d over rows 0..y, cols 0..x; row 0 and col 0 are zero.
  const sw = w + 1;
  const sat = new Float64Array((h + 1) * sw);
  for (let y = 0; y < h; y++) {
    let rowSum = 0;
    const src = y * w;
    const dst = (y + 1) * sw;
    for (let x = 0; x < w; x++) {
      rowSum += d[src + x];
      sat[dst + x + 1] = sat[dst - sw + x + 1] + rowSum;
    }
  }

  const rows = Math.floor((h - k) / stride) + 1;
  const cols = Math.floor((w - k) / stride) + 1;
  const scores = new Float64Array(rows * cols);
  const area = k * k;
  const kOff = k * sw;
  for (let r = 0; r < rows; r++) {
    const top = r * stride * sw;
    for (let c = 0; c < cols; c++) {
      const a = top + c * stride;
      scores[r * cols + c] = (sat[a + kOff + k] - sat[a + kOff] - sat[a + k] + sat[a]) / area;
    }
  }
  return { scores, rows, cols, windowH: k, windowW: k, stride };
}
