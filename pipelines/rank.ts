/**
 * Stages II-III over a score store: cluster and rank every class once, select for any budget and any
 * class subset from what is stored, and fold newly scored samples into existing clusters without
 * touching the old ones (re-clustering a class from scratch only when it has grown a lot).
 */
import { from, lastValueFrom, toArray } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import { cluster, clusterClass, clusterInfo, loadClassFeatures, type ClusterOptions, type ClusterSummary } from '../operators/cluster.js';
import { squaredDistance } from '../operators/math/kmeans.js';
import { patchKey, rankClass, type Assigned } from '../operators/math/ranking.js';
import { select, type SelectOptions } from '../operators/select.js';
import type { ClassSelection } from '../operators/selectionTypes.js';
import { CentroidIndex } from '../storage/store/annIndex.js';
import type { ClusterMember, ScoreStore } from '../storage/store/index.js';

/** Options of rankStore: k-means settings and which classes. */
export interface RankStoreOptions extends ClusterOptions {
  /** Default: every class with scored samples. */
  classes?: number[];
}

const storedClasses = (store: ScoreStore): number[] => [...store.counts().perClass.keys()];

/** Clusters and ranks each class from scratch and stores the result (replacing any earlier one). */
export function rankStore(store: ScoreStore, opts: RankStoreOptions = {}): Promise<ClusterSummary[]> {
  return lastValueFrom(from(opts.classes ?? storedClasses(store)).pipe(cluster(store, opts), toArray()));
}

/** Options of selectFromStore: the budget and which classes. */
export interface SelectFromStoreOptions extends SelectOptions {
  /** Default: every class with scored samples. */
  classes?: number[];
}

/** Each class's patches for the budget, in the order of `classes`. Synchronous: it only reads the store. */
export function selectFromStore(store: ScoreStore, opts: SelectFromStoreOptions): ClassSelection[] {
  const out: ClassSelection[] = [];
  let failure: { error: unknown } | undefined;
  from(opts.classes ?? storedClasses(store))
    .pipe(select(store, opts))
    .subscribe({ next: (s) => out.push(s), error: (error: unknown) => (failure = { error }) });
  if (failure !== undefined) throw failure.error;
  return out;
}

/** Options of updateRanks: when to re-cluster, and with what. */
export interface UpdateRanksOptions {
  /**
   * A class is re-clustered from scratch when the patches folded in since its last full clustering,
   * these included, exceed this fraction of the patches it was clustered with (default 0.2).
   */
  threshold?: number;
  /** For re-clustering; default: the seed the class was clustered with. */
  seed?: number;
  /** For re-clustering; default: the K the class was clustered with. */
  clusters?: number;
  /** Default: every class with scored samples. */
  classes?: number[];
}

/** Which classes updateRanks folded in, re-clustered or left alone. */
export interface UpdateRanksResult {
  /** New patches assigned to the existing centroids, ranks recomputed. */
  incremental: number[];
  /** Clustered from scratch (grown past the threshold, or never clustered). */
  reclustered: number[];
  unchanged: number[];
}

type Update = keyof UpdateRanksResult;

/**
 * Brings every class's ranking up to date with the store after new samples were scored into it. Old
 * patches keep their clusters and distances; each new one joins its nearest centroid (found with the
 * class's persisted centroid index), then the ranks and the cluster order are recomputed. Scoring is
 * not touched.
 */
export async function updateRanks(store: ScoreStore, opts: UpdateRanksOptions = {}): Promise<UpdateRanksResult> {
  const threshold = opts.threshold ?? 0.2;
  if (!(threshold >= 0 && Number.isFinite(threshold))) {
    throw new DdpsError('BAD_ARGUMENT', `updateRanks: threshold must be a finite fraction >= 0, got ${threshold}`);
  }
  const result: UpdateRanksResult = { incremental: [], reclustered: [], unchanged: [] };
  for (const cls of opts.classes ?? storedClasses(store)) result[await updateClass(store, cls, threshold, opts)].push(cls);
  return result;
}

async function updateClass(store: ScoreStore, cls: number, threshold: number, opts: UpdateRanksOptions): Promise<Update> {
  const prev = store.getClassClusters(cls);
  const data = loadClassFeatures(store, cls);
  if (data.patches.length === 0) return 'unchanged';
  if (prev === undefined) {
    await clusterClass(store, cls, { clusters: opts.clusters, seed: opts.seed });
    return 'reclustered';
  }
  const info = clusterInfo(prev);
  const known = new Map<string, ClusterMember>(prev.members.map((m) => [patchKey(m), m]));
  const fresh = data.patches.filter((p) => !known.has(patchKey(p))).length;
  // Members whose sample was re-put with fewer patches (or removed) drop out of the ranking.
  const dropped = prev.members.length - (data.patches.length - fresh);
  if (fresh === 0 && dropped === 0) return 'unchanged';
  if (info.added + fresh > threshold * info.clustered) {
    await clusterClass(store, cls, { clusters: opts.clusters ?? info.clusters, seed: opts.seed ?? info.seed });
    return 'reclustered';
  }
  const { k, dim, data: centroids } = prev.centroids;
  if (dim !== data.dim) {
    throw new DdpsError('STORE_MISMATCH', `score store ${store.dir}: class ${cls}'s centroids are ${dim}-dim but its patches' features are ${data.dim}-dim`, { file: store.dir });
  }
  const index = CentroidIndex.load(store.dir, cls, prev.centroids);
  const assigned = data.patches.map((p, i): Assigned => {
    const old = known.get(patchKey(p));
    if (old !== undefined) return { key: p.key, index: p.index, cluster: old.cluster, distance: old.distance };
    const c = index.nearest(data.features.subarray(i * dim, (i + 1) * dim));
    return { key: p.key, index: p.index, cluster: c, distance: Math.sqrt(squaredDistance(data.features, i, centroids, c, dim)) };
  });
  const ranked = rankClass(k, assigned, data.patches.map((p) => p.score));
  await store.putClassClusters(cls, { centroids: prev.centroids, ...ranked, info: { ...prev.info, ...info, added: info.added + fresh } });
  return 'incremental';
}
