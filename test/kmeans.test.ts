import test from 'ava';
import { isDdpsError } from '../core/errors.js';
import { MatMul } from '../models/matmul.js';
import { openKMeans } from '../operators/kmeansPool.js';
import { assign, dotErrorBound, kmeans, kmeansPlusPlus, loopDots, lowerToRowPruned, nearestCentres, nearestCentroid, squaredDistance, type DotProducts, type KMeansResult } from '../operators/math/kmeans.js';
import { seededRandom } from '../models/noise.js';
import { RowSums } from '../operators/math/rowSums.js';
import { mlKMeansReference } from '../scripts/mlKMeansReference.js';

/** A fixed sequence in place of the PRNG, so that every k-means++ draw is worked out by hand. */
const draws = (...values: number[]): (() => number) => {
  let i = 0;
  return () => values[i++]!;
};

const bits = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

/** Three unit squares far apart: means (0.5, 0.5), (10.5, 10.5), (0.5, 10.5). */
const BLOBS = Float32Array.from([0, 0, 0, 1, 1, 0, 1, 1, 10, 10, 10, 11, 11, 10, 11, 11, 0, 10, 1, 10, 0, 11, 1, 11]);

test('seededRandom: same seed, same sequence, in [0, 1); another seed, another sequence', (t) => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const xs = Array.from({ length: 1000 }, () => a());
  t.deepEqual(
    xs,
    Array.from({ length: 1000 }, () => b()),
  );
  t.true(xs.every((x) => x >= 0 && x < 1));
  t.notDeepEqual(
    xs.slice(0, 10),
    Array.from({ length: 10 }, seededRandom(43)),
  );
});

test('squaredDistance and nearestCentroid: hand values, ties to the lower index', (t) => {
  const p = Float32Array.from([0, 0, 3, 4]);
  t.is(squaredDistance(p, 0, p, 1, 2), 25);
  const centroids = Float32Array.from([1, 0, -1, 0, 0, 5]);
  t.is(nearestCentroid(Float32Array.from([0, 0]), 0, centroids, 3, 2), 0); // tie between 0 and 1
  t.is(nearestCentroid(Float32Array.from([-0.5, 0]), 0, centroids, 3, 2), 1);
  t.is(nearestCentroid(Float32Array.from([0, 3]), 0, centroids, 3, 2), 2);
});

test('kmeans++: first pick uniform, next by squared distance (hand-worked draws)', (t) => {
  const line = Float32Array.from([0, 1, 10]);
  // first: floor(0.0 x 3) = 0. D^2 = [0, 1, 100], total 101.
  // u = 0.5: target 50.5, running sum 1 (point 1), 101 (point 2) -> point 2.
  t.deepEqual([...kmeansPlusPlus(line, 3, 1, 2, draws(0, 0.5))], [0, 10]);
  // u = 0.005: target 0.505 < 1 -> point 1.
  t.deepEqual([...kmeansPlusPlus(line, 3, 1, 2, draws(0, 0.005))], [0, 1]);
  // first: floor(0.7 x 3) = 2. D^2 = [100, 81, 0]; u = 0.6: target 108.6 -> point 1 (100 + 81).
  t.deepEqual([...kmeansPlusPlus(line, 3, 1, 2, draws(0.7, 0.6))], [10, 1]);
});

test('kmeans++: duplicate points still give k rows, without NaN', async (t) => {
  const same = Float32Array.from([5, 5, 5, 5]);
  t.deepEqual([...kmeansPlusPlus(same, 4, 1, 3, draws(0.9))], [5, 5, 5]);
  const r = await kmeans(same, 4, 1, { k: 3, seed: 0 });
  t.is(r.k, 3);
  t.deepEqual([...r.clusters], [0, 0, 0, 0]);
  t.deepEqual([...r.distances], [0, 0, 0, 0]);
});

test('kmeans: recovers three separated blobs with their means as centroids, any seed', async (t) => {
  for (const seed of [0, 1, 2, 7, 123]) {
    const r = await kmeans(BLOBS, 12, 2, { k: 3, seed });
    t.is(r.k, 3);
    const blobOf = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
    // Same partition, whatever the labels: points share a cluster iff they share a blob.
    for (let i = 0; i < 12; i++) for (let j = 0; j < 12; j++) t.is(r.clusters[i] === r.clusters[j], blobOf[i] === blobOf[j]);
    const means = [
      [0.5, 0.5],
      [10.5, 10.5],
      [0.5, 10.5],
    ];
    for (let b = 0; b < 3; b++) {
      const c = r.clusters[4 * b];
      t.deepEqual([r.centroids[2 * c], r.centroids[2 * c + 1]], means[b]);
    }
    // Every corner of a unit square is sqrt(0.5) from its centre.
    t.true([...r.distances].every((d) => Math.abs(d - Math.SQRT1_2) < 1e-12));
  }
});

test('kmeans: K = min(k, n), each point its own cluster at distance 0 when k >= n', async (t) => {
  const pts = Float32Array.from([0, 0, 1, 0, 0, 1, 1, 1, 2, 2]);
  const r = await kmeans(pts, 5, 2, { k: 32, seed: 3 });
  t.is(r.k, 5);
  t.is(r.centroids.length, 10);
  t.deepEqual([...new Set(r.clusters)].sort(), [0, 1, 2, 3, 4]);
  t.deepEqual([...r.distances], [0, 0, 0, 0, 0]);
});

test('kmeans: seeded and deterministic (same input, same seed => same bits)', async (t) => {
  const rnd = seededRandom(9);
  const n = 300;
  const dim = 24;
  const pts = Float32Array.from({ length: n * dim }, () => rnd() * 2 - 1);
  const a = await kmeans(pts, n, dim, { k: 16, seed: 5 });
  const b = await kmeans(pts, n, dim, { k: 16, seed: 5 });
  t.is(bits(a.centroids), bits(b.centroids));
  t.deepEqual([...a.clusters], [...b.clusters]);
  t.deepEqual([...a.distances], [...b.distances]);
  // The members are exactly "nearest stored centroid": reassigning reproduces them.
  const again = assign(pts, n, a.centroids, a.k, dim);
  t.deepEqual([...again.clusters], [...a.clusters]);
  t.deepEqual([...again.distances], [...a.distances]);
});

test('kmeans: bad arguments are DdpsErrors', async (t) => {
  for (const [n, opts] of [
    [12, { k: 0, seed: 0 }],
    [12, { k: 2, seed: 0.5 }],
    [11, { k: 2, seed: 0 }],
    [12, { k: 2, seed: 0, maxIterations: -1 }],
  ] as const) {
    t.true(isDdpsError(await t.throwsAsync(kmeans(BLOBS, n, 2, opts)), 'BAD_ARGUMENT'));
  }
});

// ---------------------------------------------------------------- matrix-product k-means == ml-kmeans

/** Unit vectors around `modes` random directions (spread `noise`), like a class's DIFT features. */
function mixture(n: number, dim: number, modes: number, noise: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const centres = Array.from({ length: modes }, () => Float64Array.from({ length: dim }, gauss));
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = centres[Math.floor(r() * modes)]!;
    let s = 0;
    for (let d = 0; d < dim; d++) s += (out[i * dim + d] = c[d]! + noise * gauss()) ** 2;
    for (let d = 0; d < dim; d++) out[i * dim + d] /= Math.sqrt(s);
  }
  return out;
}

const sameResult = (t: import('ava').ExecutionContext, got: KMeansResult, want: KMeansResult, what: string): void => {
  t.is(got.iterations, want.iterations, `${what}: iterations`);
  t.is(bits(got.centroids), bits(want.centroids), `${what}: centroid bits`);
  t.deepEqual([...got.clusters], [...want.clusters], `${what}: clusters`);
  t.deepEqual([...got.distances], [...want.distances], `${what}: distances`);
};

test('kmeans is bit for bit what ml-kmeans gives from the same start, with plain loops and with ONNX Runtime\'s GEMM', async (t) => {
  const matmul = await MatMul.open();
  t.teardown(() => matmul.release());
  const cases = [
    { n: 300, dim: 48, k: 16, modes: 24, noise: 0.9, seed: 1 },
    { n: 500, dim: 256, k: 32, modes: 40, noise: 1.2, seed: 2 },
    // Pure noise: many near ties, many re-measured points.
    { n: 400, dim: 128, k: 32, modes: 400, noise: 0, seed: 3 },
  ];
  for (const c of cases) {
    const pts = mixture(c.n, c.dim, c.modes, c.noise, c.seed);
    const want = mlKMeansReference(pts, c.n, c.dim, c.k, c.seed);
    t.true(want.iterations > 2, `case ${c.seed} iterates (${want.iterations})`);
    sameResult(t, await kmeans(pts, c.n, c.dim, { k: c.k, seed: c.seed }), want, `loops, case ${c.seed}`);
    sameResult(t, await kmeans(pts, c.n, c.dim, { k: c.k, seed: c.seed, dots: (p, n, d, cs, k) => matmul.dots(p, n, d, cs, k) }), want, `MatMul, case ${c.seed}`);
  }
});

test('the same on worker threads and on this thread, whatever the worker count', async (t) => {
  const pts = mixture(400, 96, 30, 1, 4);
  const want = await kmeans(pts, 400, 96, { k: 20, seed: 9 });
  for (const workers of [0, 1, 2]) {
    const engine = await openKMeans(workers);
    try {
      const runs = await Promise.all([0, 1, 2].map(() => engine.kmeans(pts.slice(), 400, 96, { k: 20, seed: 9 })));
      for (const r of runs) sameResult(t, r, want, `${workers} workers`);
    } finally {
      await engine.close();
    }
  }
});

test('RowSums: the bits of a scalar float64 loop over the rows in the order given, any dim, two runs interleaved', (t) => {
  const r = seededRandom(13);
  const scalar = (points: Float32Array, dim: number, rows: Int32Array): Float64Array => {
    const out = new Float64Array(dim);
    for (const i of rows) for (let d = 0; d < dim; d++) out[d] += points[i * dim + d]!;
    return out;
  };
  const runs = [1, 2, 5, 64, 127, 1280].map((dim) => {
    const n = dim === 1280 ? 300 : 40;
    // Magnitudes from 1e-6 to 1e6, so that the order of the additions shows in the bits.
    const points = Float32Array.from({ length: n * dim }, () => (r() - 0.5) * 10 ** Math.floor(12 * r() - 6));
    return { dim, points, sums: new RowSums(points, n, dim), rows: Int32Array.from({ length: 2 * n }, () => Math.floor(r() * n)) };
  });
  // Every run after every other: each sum follows another run's use of the module's memory (and a larger one grows it).
  for (let round = 0; round < 2; round++) {
    for (const { dim, points, sums, rows } of runs) {
      const got = new Float64Array(dim);
      sums.sum(rows, got);
      t.deepEqual([...got], [...scalar(points, dim, rows)], `dim ${dim}, round ${round}`);
      const reversed = rows.slice().reverse();
      sums.sum(reversed, got);
      t.deepEqual([...got], [...scalar(points, dim, reversed)], `dim ${dim} reversed`);
    }
  }
});

test('lowerToRowPruned: the exact nearest distances when the products err by all that float32 allows, on near ties', async (t) => {
  // Axis vectors of lengths 1 + O(1e-6): every squared distance between two of them is 2 + O(1e-6), so
  // a new centre beats a point's nearest by less than the products' error.
  const [n, dim] = [64, 64];
  const r = seededRandom(12);
  const pts = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) pts[i * dim + i] = 1 + 4e-6 * r();
  const norms = Float64Array.from({ length: n }, (_, i) => squaredDistance(pts, i, new Float32Array(dim), 0, dim));
  const gamma = (dim * 2 ** -24) / (1 - dim * 2 ** -24);
  // Products as low as allowed: every distance looks farther than it is.
  const low: DotProducts = (p, rows, d, cs, kk) => Float32Array.from(loopDots(p, rows, d, cs, kk) as Float32Array, (v, idx) => v - 0.99 * gamma * Math.sqrt(norms[Math.floor(idx / kk)]! * norms[0]!));
  const got = new Float64Array(n).fill(Infinity);
  const want = new Float64Array(n).fill(Infinity);
  let lowered = 0;
  for (const row of [0, 5, 9, 17, 33, 40, 63]) {
    await lowerToRowPruned(pts, n, dim, norms, row, got, low);
    for (let i = 0; i < n; i++) {
      const d = squaredDistance(pts, i, pts, row, dim);
      if (d < want[i] && want[i] !== Infinity) lowered++;
      want[i] = Math.min(want[i]!, d);
    }
    t.deepEqual([...got], [...want], `after row ${row}`);
  }
  t.true(lowered > 20, `near ties lowered ${lowered} distances`);
});

test('MatMul: X C^T within float32 error (the bound the exact re-measure relies on)', async (t) => {
  const matmul = await MatMul.open();
  t.teardown(() => matmul.release());
  const [n, dim, k] = [257, 1280, 33];
  const x = mixture(n, dim, 5, 1, 5);
  const c = Float32Array.from(mixture(k, dim, 3, 1, 6), (v, i) => v * (1 + (i % 7)));
  const g = await matmul.dots(x, n, dim, c, k);
  const gamma = (dim * 2 ** -24) / (1 - dim * 2 ** -24);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      let exact = 0;
      let nx = 0;
      let nc = 0;
      for (let d = 0; d < dim; d++) {
        exact += x[i * dim + d]! * c[j * dim + d]!;
        nx += x[i * dim + d]! ** 2;
        nc += c[j * dim + d]! ** 2;
      }
      worst = Math.max(worst, Math.abs(g[i * k + j]! - exact) / (gamma * Math.sqrt(nx * nc)));
    }
  }
  t.true(worst < 1, `worst error is ${worst} of the bound`);
  t.true(dotErrorBound(1280) > 4 * gamma && dotErrorBound(1280) < 1e-3);
});

test('nearestCentres and the k-means++ start: exact even when every product is off by as much as float32 allows, and exact ties go to the lower index', async (t) => {
  const [n, dim, k] = [300, 64, 24];
  const pts = mixture(n, dim, 300, 0, 7);
  const centres = Float64Array.from(mixture(k, dim, 24, 0, 8), (v) => v * 0.3);
  const gamma = (dim * 2 ** -24) / (1 - dim * 2 ** -24);
  const r = seededRandom(10);
  // The worst engine the bound allows: each product moved by up to gamma ||x|| ||c||, either way.
  const sloppy: DotProducts = (p, rows, d, cs, kk) =>
    Float32Array.from(loopDots(p, rows, d, cs, kk) as Float32Array, (v, idx) => {
      const i = Math.floor(idx / kk);
      const c = idx % kk;
      let nx = 0;
      let nc = 0;
      for (let j = 0; j < d; j++) {
        nx += p[i * d + j]! ** 2;
        nc += cs[c * d + j]! ** 2;
      }
      return v + (2 * r() - 1) * 0.99 * gamma * Math.sqrt(nx * nc);
    });
  const norms = Float64Array.from({ length: n }, (_, i) => squaredDistance(pts, i, new Float32Array(dim), 0, dim));
  const got = await nearestCentres(pts, n, dim, norms, centres, k, sloppy);
  t.deepEqual([...got], Array.from({ length: n }, (_, i) => nearestCentroid(pts, i, centres, k, dim)));
  // The whole run with that engine, its k-means++ start pruned by the same products, is still ml-kmeans' from the exact start.
  sameResult(t, await kmeans(pts, n, dim, { k, seed: 11, dots: sloppy }), mlKMeansReference(pts, n, dim, k, 11), 'sloppy engine');
  // (1, 0) is equally far from the mirrored (0, -1) and (0, 1): the lower index; (0, 1) is on centroid 1.
  const tie = Float32Array.from([1, 0, 0, 1]);
  t.deepEqual([...(await nearestCentres(tie, 2, 2, Float64Array.from([1, 1]), Float64Array.from([0, -1, 0, 1, 3, 3]), 3, loopDots))], [0, 1]);
});
