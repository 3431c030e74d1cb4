/**
 * Stage II per class: k-means over the class's candidate patches' DIFT features, then both rankings,
 * stored once per class (every budget and every class subset selects from the same record), with the
 * centroid index that incremental re-ranking folds new patches in with.
 */
import { concatMap, type OperatorFunction } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import { CentroidIndex } from '../storage/store/annIndex.js';
import type { ClassClusters, ClassPatch, ScoreStore } from '../storage/store/index.js';
import { l2normalize } from './math/features.js';
import { kmeans } from './math/kmeans.js';
import { comparePatchIds, rankClass } from './math/ranking.js';

/** K-means settings of cluster: K, seed and iteration cap. */
export interface ClusterOptions {
  /** K before min(K, n) (default 32). */
  clusters?: number;
  seed?: number;
  maxIterations?: number;
}

/** What cluster did for one class. */
export interface ClusterSummary {
  cls: number;
  /** 0 when the class has no patches (nothing is stored for it). */
  k: number;
  patches: number;
  iterations: number;
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

/** A class's patches in (key, index) order and their L2-normalised features as one n x dim matrix. */
export interface ClassFeatures {
  patches: ClassPatch[];
  dim: number;
  features: Float32Array;
}

/** One range scan. Throws STORE_MISMATCH naming the patch when one has no feature or another size. */
export function loadClassFeatures(store: ScoreStore, cls: number): ClassFeatures {
  const patches = [...store.classPatches(cls)].sort(comparePatchIds);
  const dim = patches[0]?.feature?.length ?? 0;
  const features = new Float32Array(patches.length * dim);
  patches.forEach((p, i) => {
    if (p.feature === undefined || p.feature.length !== dim) {
      throw new DdpsError(
        'STORE_MISMATCH',
        `score store ${store.dir}: patch ${p.key}#${p.index} of class ${cls} has ${p.feature === undefined ? 'no DIFT feature' : `a ${p.feature.length}-dim feature`}, expected a ${dim}-dim one like the class's first patch`,
        { file: store.dir, sample: p.key },
      );
    }
    const row = features.subarray(i * dim, (i + 1) * dim);
    row.set(p.feature);
    l2normalize(row);
  });
  return { patches, dim, features };
}

/** Clusters and ranks a class's patches; undefined when it has none. */
export function clusterFeatures(data: ClassFeatures, opts: ClusterOptions = {}): ClassClusters | undefined {
  const { patches, dim, features } = data;
  if (patches.length === 0) return undefined;
  const clusters = opts.clusters ?? 32;
  const seed = opts.seed ?? 0;
  const run = kmeans(features, patches.length, dim, { k: clusters, seed, maxIterations: opts.maxIterations });
  const assigned = patches.map((p, i) => ({ key: p.key, index: p.index, cluster: run.clusters[i], distance: run.distances[i] }));
  const ranked = rankClass(run.k, assigned, patches.map((p) => p.score));
  const info: ClusterInfo = { seed, clusters, clustered: patches.length, added: 0, iterations: run.iterations };
  return { centroids: { k: run.k, dim, data: run.centroids }, ...ranked, info: { ...info } };
}

/** Clusters, ranks and stores class `cls`, and writes its centroid index beside the store. */
export async function clusterClass(store: ScoreStore, cls: number, opts: ClusterOptions = {}): Promise<ClusterSummary> {
  const rec = clusterFeatures(loadClassFeatures(store, cls), opts);
  if (rec === undefined) return { cls, k: 0, patches: 0, iterations: 0 };
  await store.putClassClusters(cls, rec);
  CentroidIndex.build(rec.centroids).save(store.dir, cls);
  return { cls, k: rec.centroids.k, patches: rec.members.length, iterations: clusterInfo(rec).iterations };
}

/** One class at a time, in stream order. */
export function cluster(store: ScoreStore, opts: ClusterOptions = {}): OperatorFunction<number, ClusterSummary> {
  return concatMap((cls) => clusterClass(store, cls, opts));
}
