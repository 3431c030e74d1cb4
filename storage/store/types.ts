/** What goes in and comes out of the score store. Plain data: the encodings live in schema.ts. */
import type { Box, ResizeTransform } from '../../core/geometry.js';

/** A JSON object, as the store hands configurations back. */
export type JsonObject = { [k: string]: unknown };

/** The model pack a run scored with; `digest` is what makes two packs the same, other fields are kept as given. */
export interface PackIdentity {
  name: string;
  digest: string;
  [k: string]: unknown;
}

/** Row-major h x w float32 map (the loss difference D at latent resolution). */
export interface ScoreMap {
  h: number;
  w: number;
  data: Float32Array;
}

export interface PatchRecord {
  /** In resized pixels. */
  box: Box;
  /** In original pixels. */
  boxOriginal: Box;
  score: number;
  /** DIFT feature; never empty when present. */
  feature?: Float32Array;
}

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

export interface ClassCounts {
  samples: number;
  patches: number;
}

export interface StoreCounts {
  samples: number;
  patches: number;
  /** Skip records, keyless (shard-level) ones included. */
  skipped: number;
  /** Only classes that have at least one sample, in ascending class order. */
  perClass: Map<number, ClassCounts>;
}

export interface ClusterMember {
  key: string;
  index: number;
  cluster: number;
  /** Place inside its cluster, 0 = nearest to the centroid. */
  rank: number;
  distance: number;
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
