/**
 * Stage III per class: the budget's patches from the stored clusters and ranks. Reads the store only
 * (the class's ranking record, and one small lookup per selected sample's shard): no model runs.
 */
import { map, type OperatorFunction } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import type { Box } from '../core/geometry.js';
import type { ClassPatch, ScoreStore } from '../storage/store/index.js';
import { MOSAIC_MAX_IPC, patchesNeeded } from './math/mosaic.js';
import { compareKeys, patchKey } from './math/ranking.js';
import { selectFromTable, selectPatches, type Candidate, type CandidateTable } from './math/selection.js';
import type { ClassSelection, RankedPatch } from './selectionTypes.js';

/** The budget: images per class, mosaics, top clusters and optional near-duplicate skipping. */
export interface SelectOptions {
  /** Images per class. */
  ipc: number;
  /** 2x2 mosaics (4 patches per image); default: IPC <= 10, the paper's rule. */
  mosaic?: boolean;
  /** N (default 10). */
  topClusters?: number;
  /** Cosine threshold for skipping near-duplicate patches (e.g. 0.95); off by default. */
  dedup?: number;
}

/**
 * Class `cls`'s selection. A class without patches selects nothing; one whose patch count differs
 * from its ranking's (scored after ranking) must be re-ranked first. A ranking that keeps each
 * member's score, box and shard (the compact record beside the centroids) is all it reads, as typed
 * columns: no patch is scanned, no object made but for the picked patches. Older rankings, and dedup
 * (which needs the features), read the class's patches in one range scan.
 */
export function selectClass(store: ScoreStore, cls: number, opts: SelectOptions): ClassSelection {
  const needed = patchesNeeded(opts.ipc, opts.mosaic ?? opts.ipc <= MOSAIC_MAX_IPC);
  const count = store.classCounts(cls)?.patches ?? 0;
  if (count === 0) return { cls, needed, patches: [], short: true };
  const rule = { needed, topClusters: opts.topClusters ?? 10, dedup: opts.dedup };
  const columns = opts.dedup === undefined ? store.getRankingColumns(cls) : undefined;
  if (columns !== undefined) {
    if (columns.count !== count) stale(store, cls, `it has ${count} patches but its clusters hold ${columns.count}`);
    const { cluster, rank, score, index, sample, keys, shards, box } = columns;
    const table: CandidateTable = {
      count,
      cluster: (i) => cluster[i],
      rank: (i) => rank[i],
      score: (i) => score[i],
      compareIds: (i, j) => (sample[i] === sample[j] ? 0 : compareKeys(keys[sample[i]], keys[sample[j]])) || index[i] - index[j],
    };
    const shardOf = shardLookup(store, cls, () => undefined);
    const ranked = selectFromTable(table, columns.order, rule).map((i): RankedPatch => {
      const key = keys[sample[i]];
      const b = 4 * i;
      return { key, index: index[i], cls, shard: shards[sample[i]] || shardOf(key), boxOriginal: [box[b], box[b + 1], box[b + 2], box[b + 3]], score: score[i], cluster: cluster[i], rank: rank[i] };
    });
    return { cls, needed, patches: ranked, short: ranked.length < needed };
  }
  const rec = store.getClassRanking(cls);
  if (rec === undefined) {
    throw new DdpsError('BAD_ARGUMENT', `score store ${store.dir}: class ${cls} has ${count} patches but no clusters; rank the store before selecting`, { file: store.dir });
  }
  if (rec.members.length !== count) stale(store, cls, `it has ${count} patches but its clusters hold ${rec.members.length}`);
  const scan = opts.dedup !== undefined || rec.members.some((m) => m.score === undefined || m.boxOriginal === undefined);
  const patches = new Map<string, ClassPatch>();
  if (scan) for (const p of store.classPatches(cls, { features: opts.dedup !== undefined })) patches.set(patchKey(p), p);
  const boxes: Box[] = [];
  const candidates: Candidate[] = rec.members.map((m) => {
    if (!scan) {
      boxes.push(m.boxOriginal!);
      return { key: m.key, index: m.index, cluster: m.cluster, rank: m.rank, score: m.score! };
    }
    const p = patches.get(patchKey(m));
    if (p === undefined) stale(store, cls, `its clusters name patch ${m.key}#${m.index}, which the store no longer has`);
    boxes.push(p.boxOriginal);
    return { key: m.key, index: m.index, cluster: m.cluster, rank: m.rank, score: p.score, ...(opts.dedup === undefined ? {} : { feature: p.feature }) };
  });
  if (scan && patches.size !== count) stale(store, cls, `it has ${patches.size} patches but its clusters hold ${candidates.length}`);
  const picked = selectPatches(candidates, rec.order, rule);
  const shardOf = shardLookup(store, cls, (key) => rec.shards?.get(key));
  const ranked = picked.map((i): RankedPatch => {
    const c = candidates[i];
    return { key: c.key, index: c.index, cls, shard: shardOf(c.key), boxOriginal: boxes[i], score: c.score, cluster: c.cluster, rank: c.rank };
  });
  return { cls, needed, patches: ranked, short: ranked.length < needed };
}

/** A sample's shard: the ranking's when it kept one, else looked up in the store (once per sample). */
function shardLookup(store: ScoreStore, cls: number, kept: (key: string) => string | undefined): (key: string) => string {
  const found = new Map<string, string>();
  return (key) => {
    let shard = kept(key) || found.get(key);
    if (shard === undefined || shard === '') {
      shard = store.sampleShard(key);
      if (shard === undefined) stale(store, cls, `sample ${key} is no longer scored`);
      found.set(key, shard);
    }
    return shard;
  };
}

function stale(store: ScoreStore, cls: number, what: string): never {
  throw new DdpsError('STORE_MISMATCH', `score store ${store.dir}: the ranking of class ${cls} is out of date: ${what}; update the ranks (updateRanks) before selecting`, {
    file: store.dir,
  });
}

/** Selections for a stream of class indices, in stream order. */
export function select(store: ScoreStore, opts: SelectOptions): OperatorFunction<number, ClassSelection> {
  return map((cls) => selectClass(store, cls, opts));
}
