/**
 * What ddps clustered with before the matrix-product k-means: the same k-means++ start, ml-kmeans 7's
 * Lloyd loop from it, then every point to its nearest float32 centroid. The kmeans test's oracle and
 * the bench's baseline (ml-kmeans is a devDependency: the library no longer uses it).
 */
import { kmeans as mlKMeans } from 'ml-kmeans';
import { seededRandom } from '../models/noise.js';
import { assign, kmeansPlusPlus, type KMeansResult } from '../operators/math/kmeans.js';

export function mlKMeansReference(points: Float32Array, n: number, dim: number, k: number, seed: number): KMeansResult {
  const start = kmeansPlusPlus(points, n, dim, k, seededRandom(seed));
  const rows = Array.from({ length: n }, (_, i) => Array.from(points.subarray(i * dim, (i + 1) * dim)));
  const init = Array.from({ length: k }, (_, c) => Array.from(start.subarray(c * dim, (c + 1) * dim)));
  const run = mlKMeans(rows, k, { initialization: init, maxIterations: 100, tolerance: 1e-10 });
  const centroids = new Float32Array(k * dim);
  run.centroids.forEach((c, j) => centroids.set(c, j * dim));
  return { k, dim, centroids, ...assign(points, n, centroids, k, dim), iterations: run.iterations };
}
