/** What goes in and comes out of the score store. Plain data: the encodings live in schema.ts. */
import type { Box, ResizeTransform } from '../../core/geometry.js';

/** A JSON object, as the store hands configurations back. */
export type JsonObject = { [k: string]: unknown };

export type { PackIdentity } from '../../core/identity.js';

/** Row-major h x w float32 map (the loss difference D at latent resolution). */
export interface ScoreMap {
  h: number;
  w: number;
  data: Float32Array;
}

/** A stored candidate patch. */
export interface PatchRecord {
  /** In resized pixels. */
  box: Box;
  /** In original pixels. */
  boxOriginal: Box;
  score: number;
  /** DIFT feature; never empty when present. */
  feature?: Float32Array;
}

/** Everything stored for one scored sample. */
export interface SampleRecord {
  key: string;
  shard: string;
  cls: number;
  /** Original [width, height]. */
  size: [number, number];
  transform: ResizeTransform;
  scoreMap: ScoreMap;
  patches: PatchRecord[];
}

/** A sample (or, without `key`, a shard's unreadable rest) the run could not use. */
export interface SkippedRecord {
  key?: string;
  shard: string;
  stage?: string;
  reason: string;
  code: string;
}

/** A patch as a class range scan returns it: which sample it came from and its place in that sample. */
export interface ClassPatch extends PatchRecord {
  key: string;
  index: number;
}

/** A patch as a range scan streams it: its feature's float32 bytes are a view, valid until the scan moves on. */
export interface ClassPatchView extends Omit<ClassPatch, 'feature'> {
  featureBytes?: Uint8Array;
}

/** Samples and patches stored for one class. */
export interface ClassCounts {
  samples: number;
  patches: number;
}

/** What a store holds, in total and per class. */
export interface StoreCounts {
  samples: number;
  patches: number;
  /** Skip records, keyless (shard-level) ones included. */
  skipped: number;
  /** Only classes that have at least one sample, in ascending class order. */
  perClass: Map<number, ClassCounts>;
}

/** A patch's place in its class's clusters. */
export interface ClusterMember {
  key: string;
  index: number;
  cluster: number;
  /** Place inside its cluster, 0 = nearest to the centroid. */
  rank: number;
  distance: number;
  /**
   * The patch's score and box when it was ranked: selection then reads the class's record alone,
   * not its patches (records written before these were kept lack them).
   */
  score?: number;
  boxOriginal?: Box;
}

/** What selection reads of a class's ranking: no centroids, no distances. */
export interface ClassRanking {
  k: number;
  order: number[];
  members: Array<Pick<ClusterMember, 'key' | 'index' | 'cluster' | 'rank' | 'score' | 'boxOriginal'>>;
  /** Sample key -> its shard, when the ranking keeps them (a store ranked by an older ddps does not). */
  shards?: Map<string, string>;
}

/**
 * A class's ranking for selection as columns (what selection reads when it needs no features): member
 * i's cluster, rank, patch index, score and boxOriginal (box[4i .. 4i + 3]), and its sample
 * keys[sample[i]], scored from shards[sample[i]] ('' when the ranking did not know it).
 */
export interface RankingColumns {
  k: number;
  order: number[];
  count: number;
  cluster: Uint32Array;
  rank: Uint32Array;
  index: Uint32Array;
  sample: Uint32Array;
  keys: string[];
  shards: string[];
  score: Float64Array;
  box: Float64Array;
}

/** One class's k-means result and ranking (Stage II). */
export interface ClassClusters {
  /** k x dim, row-major. */
  centroids: { k: number; dim: number; data: Float32Array };
  members: ClusterMember[];
  /** Cluster indices, best first. */
  order: number[];
  /** Anything else worth keeping with the clusters (seed, sample count at clustering time...). */
  info?: JsonObject;
}

/** Whether a key was scored or skipped. */
export type SampleStatus = 'scored' | 'skipped';

/** What one scoring run into the store did: shown by inspect and the report. */
export interface RunLog {
  /** ISO time the run ended. */
  ended: string;
  scored: number;
  skipped: number;
  seconds: number;
  /** Busy time per stage: { stage: { ms, calls, items } }. */
  stages: Record<string, { ms: number; calls: number; items: number }>;
  unetPasses: number;
  /** Batch size, workers, threads, providers: what does not change the result. */
  execution: JsonObject;
}
