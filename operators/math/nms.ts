/**
 * The candidate patches of an image: its best pooled windows, with greedy non-maximum suppression
 * (METHOD.md Stage I, `patchesPerImage`).
 */
import { DdpsError } from '../../core/errors.js';
import type { PooledScores } from './pooling.js';
import { LATENT_FACTOR, type Box } from '../../core/geometry.js';

/** A window in latent cells: top-left cell (row, col), extent height x width. */
export interface CellBox {
  row: number;
  col: number;
  height: number;
  width: number;
  score: number;
}

export interface TopPatchOptions {
  count: number;
  /** Suppress a window whose IoU with an already chosen one is above this. */
  iou?: number;
}

/** Intersection over union of two [x, y, w, h] boxes; 0 when both are empty. */
export function iou(a: Box, b: Box): number {
  const ix = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const iy = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  const inter = ix > 0 && iy > 0 ? ix * iy : 0;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

/** Cells to pixels: the latent is 1/8 of the image side. */
export function toPixelBox(b: CellBox, cellSize = LATENT_FACTOR): Box {
  return [b.col * cellSize, b.row * cellSize, b.width * cellSize, b.height * cellSize];
}

function cellBox(pool: PooledScores, index: number): CellBox {
  const r = Math.floor(index / pool.cols);
  const c = index - r * pool.cols;
  return { row: r * pool.stride, col: c * pool.stride, height: pool.windowH, width: pool.windowW, score: pool.scores[index] };
}

/**
 * The best `count` windows, highest score first. Equal scores go to the lower row, then the lower
 * column (the lower window index), so the result never depends on sort stability. NaN scores rank
 * last. Fewer than `count` come back when suppression leaves fewer.
 */
export function topPatches(pool: PooledScores, { count, iou: threshold = 0.5 }: TopPatchOptions): CellBox[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new DdpsError('BAD_ARGUMENT', `topPatches: count = ${count}, expected a positive integer`);
  }
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new DdpsError('BAD_ARGUMENT', `topPatches: iou = ${threshold}, expected a number in [0, 1]`);
  }
  const { scores, stride, windowH, windowW } = pool;
  const n = pool.rows * pool.cols;
  if (scores.length !== n || n === 0) {
    throw new DdpsError('BAD_ARGUMENT', `topPatches: ${scores.length} scores for a ${pool.rows}x${pool.cols} grid`);
  }

  if (count === 1) {
    // The common case (patchesPerImage = 1): a scan, no sort. Strict > keeps the first of equals.
    let best = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < n; i++) {
      if (scores[i] > bestScore) {
        bestScore = scores[i];
        best = i;
      }
    }
    return [cellBox(pool, best)];
  }

  // NaN -> -Infinity gives the comparator a total order; the index breaks ties.
  const key = new Float64Array(n);
  for (let i = 0; i < n; i++) key[i] = Number.isNaN(scores[i]) ? -Infinity : scores[i];
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => (key[a] > key[b] ? -1 : key[a] < key[b] ? 1 : a - b));

  // All windows share one size, so the IoU test is integer arithmetic on cell offsets:
  // inter / union > t  <=>  inter > t * union.
  const area = windowH * windowW;
  const chosenRow = new Int32Array(count);
  const chosenCol = new Int32Array(count);
  const chosen: CellBox[] = [];
  for (let o = 0; o < n && chosen.length < count; o++) {
    const idx = order[o];
    const r = Math.floor(idx / pool.cols) * stride;
    const c = (idx % pool.cols) * stride;
    let keep = true;
    for (let j = 0; j < chosen.length; j++) {
      const oy = windowH - Math.abs(r - chosenRow[j]);
      const ox = windowW - Math.abs(c - chosenCol[j]);
      if (oy <= 0 || ox <= 0) continue;
      const inter = oy * ox;
      if (inter > threshold * (2 * area - inter)) {
        keep = false;
        break;
      }
    }
    if (keep) {
      chosenRow[chosen.length] = r;
      chosenCol[chosen.length] = c;
      chosen.push(cellBox(pool, idx));
    }
  }
  return chosen;
}
