/**
 * A class as Stage II clusters it: its patches read from the store in one range scan, features
 * L2-normalised into one matrix, and the clusters record made from a k-means of them (both
 * rankings). Pure but for the read; where the k-means runs is the caller's (operators/kmeansPool.ts).
 */
import { DdpsError } from '../core/errors.js';
import type { ClassClusters, ClassPatch, ScoreStore } from '../storage/store/index.js';
import { l2normalize } from './math/features.js';
import { kmeans, type KMeansOptions, type KMeansResult } from './math/kmeans.js';
import { comparePatchIds, rankClass } from './math/ranking.js';

/** K-means settings of cluster: K, seed and iteration cap. */
export interface ClusterOptions {
  /** K before min(K, n) (default 32). */
  clusters?: number;
  seed?: number;
  maxIterations?: number;
}

/** What a class's cluster record keeps beside the centroids (ClassClusters.info). */
export interface ClusterInfo {
  seed: number;
  /** K as asked (the record has min(K, n)). */
  clusters: number;
  /** Patches when the class was last clustered from scratch. */
  clustered: number;
  /** Patches folded in incrementally since. */
  added: number;
  iterations: number;
}

/** The record's info; a record written without one reads as clustered from scratch with the defaults. */
export function clusterInfo(rec: ClassClusters): ClusterInfo {
  const info = rec.info ?? {};
  const num = (v: unknown, fallback: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
  return {
    seed: num(info.seed, 0),
    clusters: num(info.clusters, 32),
    clustered: num(info.clustered, rec.members.length),
    added: num(info.added, 0),
    iterations: num(info.iterations, 0),
  };
}

/** A patch as clustering needs it: which one, and its score (the feature is a row of the matrix). */
export type PatchInfo = Omit<ClassPatch, 'feature'>;

/** A class's patches in (key, index) order and their L2-normalised features as one n x dim matrix. */
export interface ClassFeatures {
  patches: PatchInfo[];
  dim: number;
  features: Float32Array;
}

/**
 * One range scan, each feature's bytes copied from the store straight into the matrix (sized from the
 * class's stored patch count) and normalised there. Throws STORE_MISMATCH naming the patch when one
 * has no feature or another size.
 */
export function loadClassFeatures(store: ScoreStore, cls: number): ClassFeatures {
  const patches: PatchInfo[] = [];
  let dim = 0;
  let rows = new Float32Array(0);
  for (const { featureBytes, ...p } of store.classPatchViews(cls)) {
    const length = (featureBytes?.byteLength ?? 0) / 4;
    if (patches.length === 0) {
      dim = length;
      rows = new Float32Array(Math.max(store.classCounts(cls)?.patches ?? 0, 1) * dim);
    }
    if (featureBytes === undefined || length !== dim || dim === 0) {
      throw new DdpsError(
        'STORE_MISMATCH',
        `score store ${store.dir}: patch ${p.key}#${p.index} of class ${cls} has ${featureBytes === undefined ? 'no DIFT feature' : `a ${length}-dim feature`}, expected a ${dim}-dim one like the class's first patch`,
        { file: store.dir, sample: p.key },
      );
    }
    // The counts are the store's own: a class written past them (not through ScoreStore) still loads.
    if ((patches.length + 1) * dim > rows.length) {
      const grown = new Float32Array(2 * rows.length);
      grown.set(rows);
      rows = grown;
    }
    new Uint8Array(rows.buffer, patches.length * dim * 4, dim * 4).set(featureBytes);
    l2normalize(rows.subarray(patches.length * dim, (patches.length + 1) * dim));
    patches.push(p);
  }
  return inPatchOrder({ patches, dim, features: rows.length === patches.length * dim ? rows : rows.slice(0, patches.length * dim) });
}

/** The scan already gives (key, index) order (schema.ts); this only guards against a store that does not. */
function inPatchOrder(data: ClassFeatures): ClassFeatures {
  const { patches, dim, features } = data;
  if (patches.every((p, i) => i === 0 || comparePatchIds(patches[i - 1], p) < 0)) return data;
  const order = Array.from(patches.keys()).sort((a, b) => comparePatchIds(patches[a], patches[b]));
  const sorted = new Float32Array(features.length);
  order.forEach((from, to) => sorted.set(features.subarray(from * dim, (from + 1) * dim), to * dim));
  return { patches: order.map((i) => patches[i]), dim, features: sorted };
}

/** Runs k-means on points it may take over (another thread's engine): kmeans itself, or a pool's. */
export type KMeansRun = (points: Float32Array, n: number, dim: number, job: Omit<KMeansOptions, 'dots'>) => Promise<KMeansResult>;

/**
 * Clusters and ranks a class's patches; undefined when it has none. `run` (default: kmeans with plain
 * loops on this thread) may take over `data.features`: do not use them after.
 */
export async function clusterFeatures(data: ClassFeatures, opts: ClusterOptions = {}, run: KMeansRun = kmeans): Promise<ClassClusters | undefined> {
  const { patches, dim, features } = data;
  if (patches.length === 0) return undefined;
  const clusters = opts.clusters ?? 32;
  const seed = opts.seed ?? 0;
  const job = { k: clusters, seed, ...(opts.maxIterations === undefined ? {} : { maxIterations: opts.maxIterations }) };
  const result = await run(features, patches.length, dim, job);
  const assigned = patches.map((p, i) => ({ key: p.key, index: p.index, cluster: result.clusters[i], distance: result.distances[i], score: p.score, boxOriginal: p.boxOriginal }));
  const ranked = rankClass(result.k, assigned, patches.map((p) => p.score));
  const info: ClusterInfo = { seed, clusters, clustered: patches.length, added: 0, iterations: result.iterations };
  return { centroids: { k: result.k, dim, data: result.centroids }, ...ranked, info: { ...info } };
}

