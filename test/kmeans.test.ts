import test from 'ava';
import { isDdpsError } from '../core/errors.js';
import { assign, kmeans, kmeansPlusPlus, nearestCentroid, squaredDistance } from '../operators/math/kmeans.js';
import { seededRandom } from '../models/noise.js';

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

test('kmeans++: duplicate points still give k rows, without NaN', (t) => {
  const same = Float32Array.from([5, 5, 5, 5]);
  t.deepEqual([...kmeansPlusPlus(same, 4, 1, 3, draws(0.9))], [5, 5, 5]);
  const r = kmeans(same, 4, 1, { k: 3, seed: 0 });
  t.is(r.k, 3);
  t.deepEqual([...r.clusters], [0, 0, 0, 0]);
  t.deepEqual([...r.distances], [0, 0, 0, 0]);
});

test('kmeans: recovers three separated blobs with their means as centroids, any seed', (t) => {
  for (const seed of [0, 1, 2, 7, 123]) {
    const r = kmeans(BLOBS, 12, 2, { k: 3, seed });
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

test('kmeans: K = min(k, n), each point its own cluster at distance 0 when k >= n', (t) => {
  const pts = Float32Array.from([0, 0, 1, 0, 0, 1, 1, 1, 2, 2]);
  const r = kmeans(pts, 5, 2, { k: 32, seed: 3 });
  t.is(r.k, 5);
  t.is(r.centroids.length, 10);
  t.deepEqual([...new Set(r.clusters)].sort(), [0, 1, 2, 3, 4]);
  t.deepEqual([...r.distances], [0, 0, 0, 0, 0]);
});

test('kmeans: seeded and deterministic (same input, same seed => same bits)', (t) => {
  const rnd = seededRandom(9);
  const n = 300;
  const dim = 24;
  const pts = Float32Array.from({ length: n * dim }, () => rnd() * 2 - 1);
  const a = kmeans(pts, n, dim, { k: 16, seed: 5 });
  const b = kmeans(pts, n, dim, { k: 16, seed: 5 });
  t.is(bits(a.centroids), bits(b.centroids));
  t.deepEqual([...a.clusters], [...b.clusters]);
  t.deepEqual([...a.distances], [...b.distances]);
  // The members are exactly "nearest stored centroid": reassigning reproduces them.
  const again = assign(pts, n, a.centroids, a.k, dim);
  t.deepEqual([...again.clusters], [...a.clusters]);
  t.deepEqual([...again.distances], [...a.distances]);
});

test('kmeans: bad arguments are DdpsErrors', (t) => {
  t.true(isDdpsError(t.throws(() => kmeans(BLOBS, 12, 2, { k: 0, seed: 0 })), 'BAD_ARGUMENT'));
  t.true(isDdpsError(t.throws(() => kmeans(BLOBS, 12, 2, { k: 2, seed: 0.5 })), 'BAD_ARGUMENT'));
  t.true(isDdpsError(t.throws(() => kmeans(BLOBS, 11, 2, { k: 2, seed: 0 })), 'BAD_ARGUMENT'));
});
