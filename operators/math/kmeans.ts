/**
 * Stage II k-means at matrix-product speed, with exact answers.
 *
 * Seeded k-means++ start, Lloyd iterations, then one last assignment of every point to its nearest
 * float32 centroid. That last pass makes the stored members exactly "nearest stored centroid", so
 * folding new points in later (incremental re-ranking) gives what a from-scratch assignment to the
 * same centroids would.
 *
 * Distances are ||x||^2 + ||c||^2 - 2 x.c, so the n x k x dim work of an assignment is one matrix
 * product X C^T, done by a `DotProducts` engine (ONNX Runtime's GEMM in models/matmul.ts; plain
 * loops here). A float32 product is not exact, so it only narrows the choice: for each point, the
 * centroids that can still be nearest given a proven bound on the product's rounding error are
 * measured again exactly (float64, summed in dimension order). Every assignment is therefore the
 * exact nearest centroid, ties to the lower index, whatever engine, thread count or machine ran the
 * product; and the iterations are the ones ml-kmeans 7's Lloyd loop makes from the same start
 * (float64 means, empty clusters keep their centre, stop when no centre moves more than the
 * tolerance), which test/kmeans.test.ts checks against ml-kmeans itself. ml-kmeans is no longer
 * called: its loop measures each point-centroid pair with a per-pair distance function on arrays of
 * numbers, which no matrix product can feed.
 *
 * Points are n x dim row-major Float32Arrays.
 */
import { DdpsError } from '../../core/errors.js';
import { seededRandom } from '../../models/noise.js';
import { RowSums } from './rowSums.js';

type Rows = Float32Array | Float64Array;

/** Squared Euclidean distance between row `i` of `a` and row `j` of `b`, accumulated in float64 in dimension order. */
export function squaredDistance(a: Rows, i: number, b: Rows, j: number, dim: number): number {
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
export function nearestCentroid(points: Float32Array, i: number, centroids: Rows, k: number, dim: number): number {
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
 * `out[i] = min(out[i], squaredDistance(points, i, points, row))` for every i: four rows at a time,
 * each still summed in dimension order (so bit for bit what squaredDistance gives), which lets the
 * CPU overlap the four additions instead of waiting on one chain.
 */
function lowerToRow(points: Float32Array, n: number, dim: number, row: number, out: Float64Array): void {
  const r = row * dim;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o0 = i * dim;
    const o1 = o0 + dim;
    const o2 = o1 + dim;
    const o3 = o2 + dim;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let d = 0; d < dim; d++) {
      const c = points[r + d];
      const x0 = points[o0 + d] - c;
      const x1 = points[o1 + d] - c;
      const x2 = points[o2 + d] - c;
      const x3 = points[o3 + d] - c;
      s0 += x0 * x0;
      s1 += x1 * x1;
      s2 += x2 * x2;
      s3 += x3 * x3;
    }
    if (s0 < out[i]) out[i] = s0;
    if (s1 < out[i + 1]) out[i + 1] = s1;
    if (s2 < out[i + 2]) out[i + 2] = s2;
    if (s3 < out[i + 3]) out[i + 3] = s3;
  }
  for (; i < n; i++) {
    const s = squaredDistance(points, i, points, row, dim);
    if (s < out[i]) out[i] = s;
  }
}

/**
 * k-means++ (Arthur & Vassilvitskii): the first centre uniformly, each next one with probability
 * proportional to its squared distance to the nearest centre chosen so far. When every remaining point
 * coincides with a centre (duplicates), the lowest-index unchosen point is taken so that k distinct
 * rows are always returned. The weights are exact float64 distances, so the draw never depends on a
 * product's rounding. A generator so that the exact loop here and the pruned one in kmeans share the
 * draw: it yields each pick, and the caller lowers `nearest` to the squared distances to that row.
 */
function* plusPlusPicks(points: Float32Array, n: number, dim: number, k: number, random: () => number, nearest: Float64Array): Generator<number, Float32Array, void> {
  checkShape(points, n, dim, k);
  const centroids = new Float32Array(k * dim);
  const chosen = new Uint8Array(n);
  let pick = Math.floor(random() * n);
  for (let c = 0; c < k; c++) {
    chosen[pick] = 1;
    centroids.set(points.subarray(pick * dim, (pick + 1) * dim), c * dim);
    if (c === k - 1) break;
    yield pick;
    let total = 0;
    for (let i = 0; i < n; i++) if (!chosen[i]) total += nearest[i];
    pick = total > 0 ? sampleByWeight(nearest, chosen, total, random()) : chosen.indexOf(0);
  }
  return centroids;
}

/** The k-means++ start, every distance measured exactly: the reference that kmeans' pruned start equals. */
export function kmeansPlusPlus(points: Float32Array, n: number, dim: number, k: number, random: () => number): Float32Array {
  const nearest = new Float64Array(n).fill(Infinity);
  const picks = plusPlusPicks(points, n, dim, k, random, nearest);
  for (let step = picks.next(); ; step = picks.next()) {
    if (step.done === true) return step.value;
    lowerToRow(points, n, dim, step.value, nearest);
  }
}

/**
 * lowerToRow's result, faster once most points are near a centre: one matrix-vector product gives
 * every point's distance to `row` up to dotErrorBound, and only the points it may bring closer than
 * `nearest[i]` are measured exactly. `norms2` are the points' squared norms (rowNorms2).
 */
export async function lowerToRowPruned(points: Float32Array, n: number, dim: number, norms2: Float64Array, row: number, nearest: Float64Array, dots: DotProducts): Promise<void> {
  const g = checkedDots(await dots(points, n, dim, points.subarray(row * dim, (row + 1) * dim), 1), n, 1);
  const bound = dotErrorBound(dim);
  const rowNorm = Math.sqrt(norms2[row]);
  for (let i = 0; i < n; i++) {
    const s = Math.sqrt(norms2[i]) + 2 * rowNorm;
    // Provably no closer than the nearest so far (NaN compares false and is measured).
    if (norms2[i] + norms2[row] - 2 * g[i] - bound * s * s >= nearest[i]) continue;
    const d = squaredDistance(points, i, points, row, dim);
    if (d < nearest[i]) nearest[i] = d;
  }
}

/** kmeansPlusPlus's start, each pick's distances lowered with lowerToRowPruned (a few exact measures per point in all, instead of k - 1). */
async function kmeansPlusPlusPruned(points: Float32Array, n: number, dim: number, norms2: Float64Array, k: number, random: () => number, dots: DotProducts): Promise<Float32Array> {
  const nearest = new Float64Array(n).fill(Infinity);
  const picks = plusPlusPicks(points, n, dim, k, random, nearest);
  for (let step = picks.next(); ; step = picks.next()) {
    if (step.done === true) return step.value;
    await lowerToRowPruned(points, n, dim, norms2, step.value, nearest, dots);
  }
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

/**
 * G = X C^T: `out[i * k + c]` is the dot product of point i and centroid c. An engine may sum in any
 * order in float32 (fused multiply-adds allowed) or better; nothing coarser (no float16, bfloat16 or
 * TF32), since the exact re-measure relies on float32's error bound.
 */
export type DotProducts = (points: Float32Array, n: number, dim: number, centroids: Float32Array, k: number) => Float32Array | Promise<Float32Array>;

/** The engine without a runtime: plain loops (fine for small problems and tests). */
export const loopDots: DotProducts = (points, n, dim, centroids, k) => {
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += points[i * dim + d] * centroids[c * dim + d];
      out[i * k + c] = s;
    }
  }
  return out;
};

const U32 = 2 ** -24;
const U64 = 2 ** -53;

/**
 * How far ||x||^2 + ||cf||^2 - 2 fl32(x.cf), with cf the float32 rounding of c, may lie from the
 * exact float64 squaredDistance(x, c), per unit of (||x|| + ||c|| + ||cf||)^2:
 * - the product: |fl32(x.cf) - x.cf| <= gamma_dim ||x|| ||cf|| for any summation order, where
 *   gamma_m = m u / (1 - m u), u = 2^-24, counted twice (the term is -2 x.cf);
 * - rounding c to float32: | ||x - cf||^2 - ||x - c||^2 | <= 2 u (||x|| + ||c||)^2 (1 + u);
 * - the float64 norms, sums and the exact re-measure itself: (dim + 10) 2^-53 of the same scale.
 * Doubled, so that no rounding of the bound itself matters.
 */
export function dotErrorBound(dim: number): number {
  const gamma = (dim * U32) / (1 - dim * U32);
  return 2 * (2 * gamma + 2 * U32 * (1 + U32) + (dim + 10) * U64);
}

function rowNorms2(rows: Rows, count: number, dim: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let s = 0;
    for (let d = i * dim, end = d + dim; d < end; d++) s += rows[d] * rows[d];
    out[i] = s;
  }
  return out;
}

/**
 * The products X C^T for the current centres, kept between Lloyd iterations: a centre that did not
 * move keeps its column, so late iterations (few clusters still changing) multiply by the few that did.
 */
export class Products {
  private centres: Float64Array | undefined;
  private g: Float32Array | undefined;

  constructor(
    private readonly points: Float32Array,
    private readonly n: number,
    private readonly dim: number,
    private readonly dots: DotProducts,
  ) {}

  /** n x k, row-major, for `centres` (k x dim, float64; multiplied as their float32 rounding). */
  async of(centres: Float64Array, k: number): Promise<Float32Array> {
    const { points, n, dim } = this;
    const moved = Array.from({ length: k }, (_, c) => c).filter((c) => this.centres === undefined || this.g === undefined || !sameRow(centres, this.centres, c, dim));
    if (moved.length === 0) return this.g!;
    const rounded = new Float32Array(moved.length * dim);
    moved.forEach((c, j) => rounded.set(centres.subarray(c * dim, (c + 1) * dim), j * dim));
    const part = checkedDots(await this.dots(points, n, dim, rounded, moved.length), n, moved.length);
    const g = moved.length === k ? part : Float32Array.from(this.g!);
    if (moved.length < k) for (let i = 0; i < n; i++) moved.forEach((c, j) => (g[i * k + c] = part[i * moved.length + j]));
    this.centres = centres;
    this.g = g;
    return g;
  }
}

function checkedDots(g: Float32Array, n: number, k: number): Float32Array {
  if (g.length !== n * k) throw new DdpsError('BAD_ARGUMENT', `k-means: the dot-product engine returned ${g.length} values, expected ${n} x ${k}`);
  return g;
}

function sameRow(a: Float64Array, b: Float64Array, row: number, dim: number): boolean {
  for (let d = row * dim, end = d + dim; d < end; d++) if (a[d] !== b[d]) return false;
  return true;
}

/**
 * Every point's exact nearest centre (ties to the lower index): the candidates from the matrix
 * product, re-measured with squaredDistance only where the product's error bound leaves a doubt.
 * `pointNorms2` are the points' squared norms (rowNorms2).
 */
export async function nearestCentres(points: Float32Array, n: number, dim: number, pointNorms2: Float64Array, centres: Float64Array, k: number, products: Products | DotProducts): Promise<Int32Array> {
  const g = await (typeof products === 'function' ? new Products(points, n, dim, products) : products).of(centres, k);
  const rounded = Float32Array.from(centres);
  const roundedNorms2 = rowNorms2(rounded, k, dim);
  const centreNorms = Array.from(rowNorms2(centres, k, dim), Math.sqrt);
  const scale = Array.from(roundedNorms2, (r2, c) => Math.sqrt(r2) + centreNorms[c]);
  const bound = dotErrorBound(dim);
  const out = new Int32Array(n);
  const low = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const px = Math.sqrt(pointNorms2[i]);
    let upper = Infinity;
    for (let c = 0; c < k; c++) {
      const approx = pointNorms2[i] + roundedNorms2[c] - 2 * g[i * k + c];
      const s = px + scale[c];
      const margin = bound * s * s;
      low[c] = approx - margin;
      if (approx + margin < upper) upper = approx + margin;
    }
    // Non-finite input (or an engine that returned NaN): no bound holds, measure everything.
    if (!Number.isFinite(upper)) {
      out[i] = nearestCentroid(points, i, centres, k, dim);
      continue;
    }
    let best = -1;
    let doubts = 0;
    for (let c = 0; c < k; c++) {
      if (low[c] <= upper) {
        doubts++;
        best = c;
      }
    }
    if (doubts > 1) {
      best = -1;
      let bestD = Infinity;
      for (let c = 0; c < k; c++) {
        if (low[c] > upper) continue;
        const d = squaredDistance(points, i, centres, c, dim);
        if (d < bestD) {
          bestD = d;
          best = c;
        }
      }
    }
    out[i] = best;
  }
  return out;
}

/**
 * Means of the clusters' points in float64, summed in point order (RowSums: the bits of a scalar
 * loop); an empty cluster keeps its centre. Given the assignment the `previous` centres were the
 * means of, a cluster whose members did not change keeps its centre too: the same sum of the same
 * points, without redoing it.
 */
export function clusterMeans(rows: RowSums, clusters: Int32Array, k: number, previous: Float64Array, previousClusters?: Int32Array): Float64Array {
  const { n, dim } = rows;
  const redo = new Uint8Array(k).fill(previousClusters === undefined ? 1 : 0);
  if (previousClusters !== undefined) {
    for (let i = 0; i < n; i++) {
      if (clusters[i] !== previousClusters[i]) redo[clusters[i]] = redo[previousClusters[i]] = 1;
    }
  }
  // The points cluster by cluster, each cluster's in point order (a counting sort).
  const start = new Int32Array(k + 1);
  for (let i = 0; i < n; i++) start[clusters[i] + 1]++;
  for (let c = 0; c < k; c++) start[c + 1] += start[c];
  const members = new Int32Array(n);
  const next = start.slice(0, k);
  for (let i = 0; i < n; i++) members[next[clusters[i]]++] = i;
  const means = Float64Array.from(previous);
  for (let c = 0; c < k; c++) {
    const count = start[c + 1] - start[c];
    if (!redo[c] || count === 0) continue;
    const mean = means.subarray(c * dim, (c + 1) * dim);
    rows.sum(members.subarray(start[c], start[c + 1]), mean);
    for (let d = 0; d < dim; d++) mean[d] /= count;
  }
  return means;
}

export interface KMeansOptions {
  /** Requested cluster count; the result has min(k, n). */
  k: number;
  seed: number;
  /** Lloyd iterations at most (default 100; 0: until no centre moves). */
  maxIterations?: number;
  /** Default: plain loops. */
  dots?: DotProducts;
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

/** A centre moving less than this (squared) counts as still. */
const TOLERANCE = 1e-10;

/** Seeded k-means of n points: same points in the same order and same seed => same result, whatever engine computes the products. */
export async function kmeans(points: Float32Array, n: number, dim: number, opts: KMeansOptions): Promise<KMeansResult> {
  if (!Number.isInteger(opts.k) || opts.k < 1) throw new DdpsError('BAD_ARGUMENT', `k-means: clusters must be a positive integer, got ${opts.k}`);
  if (!Number.isInteger(opts.seed)) throw new DdpsError('BAD_ARGUMENT', `k-means: seed must be an integer, got ${opts.seed}`);
  const maxIterations = opts.maxIterations ?? 100;
  if (!Number.isInteger(maxIterations) || maxIterations < 0) throw new DdpsError('BAD_ARGUMENT', `k-means: maxIterations must be an integer >= 0, got ${maxIterations}`);
  const k = Math.min(opts.k, n);
  const dots = opts.dots ?? loopDots;
  const norms2 = rowNorms2(points, n, dim);
  const products = new Products(points, n, dim, dots);
  const rows = new RowSums(points, n, dim);
  let centres: Float64Array = Float64Array.from(await kmeansPlusPlusPruned(points, n, dim, norms2, k, seededRandom(opts.seed), dots));
  let meansOf: Int32Array | undefined;
  let iterations = 0;
  let still = false;
  while (!still && (maxIterations === 0 || iterations < maxIterations)) {
    iterations++;
    const clusters = await nearestCentres(points, n, dim, norms2, centres, k, products);
    const next = clusterMeans(rows, clusters, k, centres, meansOf);
    meansOf = clusters;
    still = true;
    for (let c = 0; c < k && still; c++) still = squaredDistance(next, c, centres, c, dim) <= TOLERANCE;
    centres = next;
  }
  const centroids = Float32Array.from(centres);
  const clusters = await nearestCentres(points, n, dim, norms2, Float64Array.from(centroids), k, products);
  const distances = Float64Array.from(clusters, (c, i) => Math.sqrt(squaredDistance(points, i, centroids, c, dim)));
  return { k, dim, centroids, clusters, distances, iterations };
}

/** Every point to its nearest centroid (ties to the lower index), with the Euclidean distance: the brute-force reference. */
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
