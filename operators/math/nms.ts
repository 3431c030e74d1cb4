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

/** Score order for suppression: NaN below every number. */
function rankScore(v: number): number {
  return Number.isNaN(v) ? -Infinity : v;
}

/**
 * Greedy non-maximum suppression: the best `count` of `scored`, highest score first (NaN last, equal
 * scores in input order, so the result never depends on sort stability); one is passed over when it
 * repeats a chosen box or overlaps one by IoU above `threshold`. Fewer than `count` come back when
 * suppression leaves fewer.
 */
export function greedyNms<T extends { box: Box; score: number }>(scored: readonly T[], count: number, threshold: number): T[] {
  const order = scored.map((_, i) => i).sort((a, b) => rankScore(scored[b]!.score) - rankScore(scored[a]!.score) || a - b);
  const chosen: T[] = [];
  for (const i of order) {
    if (chosen.length === count) break;
    const s = scored[i]!;
    if (chosen.some((c) => c.box.every((v, k) => v === s.box[k]) || iou(c.box, s.box) > threshold)) continue;
    chosen.push(s);
  }
  return chosen;
}

/**
 * The best `count` windows of a pooled score grid, highest score first (greedyNms; equal scores go
 * to the lower row, then the lower column). NaN scores rank last.
 */
export function topPatches(pool: PooledScores, { count, iou: threshold = 0.5 }: TopPatchOptions): CellBox[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new DdpsError('BAD_ARGUMENT', `topPatches: count = ${count}, expected a positive integer`);
  }
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new DdpsError('BAD_ARGUMENT', `topPatches: iou = ${threshold}, expected a number in [0, 1]`);
  }
  const { scores } = pool;
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
  const cells = Array.from({ length: n }, (_, i) => {
    const cell = cellBox(pool, i);
    return { cell, box: [cell.col, cell.row, cell.width, cell.height] as Box, score: cell.score };
  });
  return greedyNms(cells, count, threshold).map((c) => c.cell);
}
