/**
 * Stage II k-means: a seeded k-means++ start written here (ml-kmeans' own start allocates rows per
 * distance and dominates its run time; see DESIGN.md), ml-kmeans' Lloyd iterations from it, then one
 * last assignment of every point to its nearest float32 centroid. That last pass makes the stored
 * members exactly "nearest stored centroid", so folding new points in later (incremental re-ranking)
 * gives what a from-scratch assignment to the same centroids would.
 *
 * Points are n x dim row-major Float32Arrays; distances are Euclidean, accumulated in float64.
 */
import { kmeans as lloyd } from 'ml-kmeans';
import { DdpsError } from '../../core/errors.js';
import { seededRandom } from '../../models/noise.js';

/** Squared Euclidean distance between row `i` of `a` and row `j` of `b` (both `dim` wide). */
export function squaredDistance(a: Float32Array, i: number, b: Float32Array, j: number, dim: number): number {
  const ao = i * dim;
  const bo = j * dim;
  let s = 0;
  for (let d = 0; d < dim; d++) {
    const x = a[ao + d] - b[bo + d];
    s += x * x;
  }
  return s;
}

/** Index of the centroid nearest to row `i` of `points`; ties go to the lower centroid index. */
export function nearestCentroid(points: Float32Array, i: number, centroids: Float32Array, k: number, dim: number): number {
  let best = 0;
  let bestD = Infinity;
  for (let c = 0; c < k; c++) {
    const d = squaredDistance(points, i, centroids, c, dim);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

/**
 * k-means++ (Arthur & Vassilvitskii): the first centre uniformly, each next one with probability
 * proportional to its squared distance to the nearest centre chosen so far. When every remaining point
 * coincides with a centre (duplicates), the lowest-index unchosen point is taken so that k distinct
 * rows are always returned.
 */
export function kmeansPlusPlus(points: Float32Array, n: number, dim: number, k: number, random: () => number): Float32Array {
  checkShape(points, n, dim, k);
  const centroids = new Float32Array(k * dim);
  const chosen = new Uint8Array(n);
  const nearest = new Float64Array(n).fill(Infinity);
  let pick = Math.floor(random() * n);
  for (let c = 0; c < k; c++) {
    chosen[pick] = 1;
    centroids.set(points.subarray(pick * dim, (pick + 1) * dim), c * dim);
    if (c === k - 1) break;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = squaredDistance(points, i, centroids, c, dim);
      if (d < nearest[i]) nearest[i] = d;
      if (!chosen[i]) total += nearest[i];
    }
    pick = total > 0 ? sampleByWeight(nearest, chosen, total, random()) : chosen.indexOf(0);
  }
  return centroids;
}

/** The unchosen index where the cumulative weight first exceeds u x total. */
function sampleByWeight(weights: Float64Array, chosen: Uint8Array, total: number, u: number): number {
  const target = u * total;
  let acc = 0;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if (chosen[i] || weights[i] === 0) continue;
    acc += weights[i];
    last = i;
    if (acc > target) return i;
  }
  // Rounding can leave the running sum just short of target: the last positive weight is then the pick.
  return last;
}

export interface KMeansOptions {
  /** Requested cluster count; the result has min(k, n). */
  k: number;
  seed: number;
  /** Lloyd iterations at most (default 100). */
  maxIterations?: number;
}

export interface KMeansResult {
  k: number;
  dim: number;
  /** k x dim, row-major. */
  centroids: Float32Array;
  /** Per point: its nearest centroid. */
  clusters: Int32Array;
  /** Per point: Euclidean distance to that centroid. */
  distances: Float64Array;
  iterations: number;
}

/** Seeded k-means of n points: same points in the same order and same seed => same result. */
export function kmeans(points: Float32Array, n: number, dim: number, opts: KMeansOptions): KMeansResult {
  if (!Number.isInteger(opts.k) || opts.k < 1) throw new DdpsError('BAD_ARGUMENT', `k-means: clusters must be a positive integer, got ${opts.k}`);
  if (!Number.isInteger(opts.seed)) throw new DdpsError('BAD_ARGUMENT', `k-means: seed must be an integer, got ${opts.seed}`);
  const k = Math.min(opts.k, n);
  const start = kmeansPlusPlus(points, n, dim, k, seededRandom(opts.seed));
  const rows = Array.from({ length: n }, (_, i) => Array.from(points.subarray(i * dim, (i + 1) * dim)));
  const init = Array.from({ length: k }, (_, c) => Array.from(start.subarray(c * dim, (c + 1) * dim)));
  const run = lloyd(rows, k, { initialization: init, maxIterations: opts.maxIterations ?? 100, tolerance: 1e-10 });
  const centroids = new Float32Array(k * dim);
  run.centroids.forEach((c, j) => centroids.set(c, j * dim));
  const { clusters, distances } = assign(points, n, centroids, k, dim);
  return { k, dim, centroids, clusters, distances, iterations: run.iterations };
}

/** Every point to its nearest centroid (ties to the lower index), with the Euclidean distance. */
export function assign(points: Float32Array, n: number, centroids: Float32Array, k: number, dim: number): { clusters: Int32Array; distances: Float64Array } {
  const clusters = new Int32Array(n);
  const distances = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = nearestCentroid(points, i, centroids, k, dim);
    clusters[i] = c;
    distances[i] = Math.sqrt(squaredDistance(points, i, centroids, c, dim));
  }
  return { clusters, distances };
}

function checkShape(points: Float32Array, n: number, dim: number, k: number): void {
  if (!Number.isInteger(n) || !Number.isInteger(dim) || n < 1 || dim < 1 || points.length !== n * dim) {
    throw new DdpsError('BAD_ARGUMENT', `k-means: expected ${n} x ${dim} points (n, dim >= 1), got ${points.length} values`);
  }
  if (!Number.isInteger(k) || k < 1 || k > n) throw new DdpsError('BAD_ARGUMENT', `k-means: k must be in 1..${n}, got ${k}`);
}
