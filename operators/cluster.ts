/**
 * Stage II per class: k-means over the class's candidate patches' DIFT features, then both rankings,
 * stored once per class (every budget and every class subset selects from the same record), with the
 * centroid index that incremental re-ranking folds new patches in with.
 */
import { defer, finalize, from, mergeMap, type OperatorFunction } from 'rxjs';
import { CentroidIndex } from '../storage/store/annIndex.js';
import type { ScoreStore } from '../storage/store/index.js';
import { clusterFeatures, clusterInfo, loadClassFeatures, type ClusterOptions } from './classClusters.js';
import { openKMeans, type KMeansEngine } from './kmeansPool.js';
import { mapOrdered } from './mapOrdered.js';

export { clusterFeatures, clusterInfo, loadClassFeatures, type ClassFeatures, type ClusterInfo, type ClusterOptions, type KMeansRun, type PatchInfo } from './classClusters.js';

/** What cluster did for one class. */
export interface ClusterSummary {
  cls: number;
  /** 0 when the class has no patches (nothing is stored for it). */
  k: number;
  patches: number;
  iterations: number;
}

/**
 * Clusters, ranks and stores class `cls`, and writes its centroid index beside the store. The engine
 * (default: plain loops on this thread) reads the class and clusters it, on a worker thread for a pool.
 */
export async function clusterClass(store: ScoreStore, cls: number, opts: ClusterOptions = {}, engine?: KMeansEngine): Promise<ClusterSummary> {
  const rec = engine === undefined ? await clusterFeatures(loadClassFeatures(store, cls), opts) : await engine.clusterStored(store, cls, opts);
  if (rec === undefined) return { cls, k: 0, patches: 0, iterations: 0 };
  await store.putClassClusters(cls, rec);
  CentroidIndex.build(rec.centroids).save(store.dir, cls);
  return { cls, k: rec.centroids.k, patches: rec.members.length, iterations: clusterInfo(rec).iterations };
}

/**
 * Summaries in stream order. Classes are clustered as many at a time as the engine runs (given, or
 * opened for the stream and closed after it: `workers` threads, default one per core), each read
 * from the store in one range scan when its turn comes, so only a few classes' features are in memory.
 */
export function cluster(store: ScoreStore, opts: ClusterOptions & { workers?: number; engine?: KMeansEngine } = {}): OperatorFunction<number, ClusterSummary> {
  const { engine: given, ...options } = opts;
  const run = (engine: KMeansEngine): OperatorFunction<number, ClusterSummary> => mapOrdered((cls: number) => clusterClass(store, cls, options, engine), engine.concurrency);
  if (given !== undefined) return run(given);
  return (source) =>
    defer(() => {
      const engine = openKMeans(opts.workers);
      return from(engine).pipe(
        mergeMap((e) => source.pipe(run(e))),
        finalize(() => void engine.then((e) => e.close()).catch(() => undefined)),
      );
    });
}

/**
 * Stage III's ranking under the method's name: the cluster operator itself, since a class's clusters
 * and both of its rankings (patches within a cluster, clusters by median score) are made and stored
 * in the one pass over its features.
 */
export const rank = cluster;
