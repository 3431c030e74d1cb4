/**
 * Stage III per class: the budget's patches from the stored clusters and ranks. Reads the store only
 * (one cluster record, one range scan, one small lookup per selected sample's shard): no model runs.
 */
import { map, type OperatorFunction } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import type { ClassPatch, ScoreStore } from '../storage/store/index.js';
import { MOSAIC_MAX_IPC, patchesNeeded } from './math/mosaic.js';
import { patchKey } from './math/ranking.js';
import { selectPatches, type Candidate } from './math/selection.js';
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
 * Class `cls`'s selection. A class without patches selects nothing; one whose patches are not all in
 * its stored clusters (scored after ranking) must be re-ranked first.
 */
export function selectClass(store: ScoreStore, cls: number, opts: SelectOptions): ClassSelection {
  const needed = patchesNeeded(opts.ipc, opts.mosaic ?? opts.ipc <= MOSAIC_MAX_IPC);
  const patches = new Map<string, ClassPatch>();
  for (const p of store.classPatches(cls)) patches.set(patchKey(p), p);
  if (patches.size === 0) return { cls, needed, patches: [], short: true };
  const rec = store.getClassClusters(cls);
  if (rec === undefined) {
    throw new DdpsError('BAD_ARGUMENT', `score store ${store.dir}: class ${cls} has ${patches.size} patches but no clusters; rank the store before selecting`, { file: store.dir });
  }
  const candidates: Candidate[] = rec.members.map((m) => {
    const p = patches.get(patchKey(m));
    if (p === undefined) stale(store, cls, `its clusters name patch ${m.key}#${m.index}, which the store no longer has`);
    return { key: m.key, index: m.index, cluster: m.cluster, rank: m.rank, score: p.score, ...(opts.dedup === undefined ? {} : { feature: p.feature }) };
  });
  if (candidates.length !== patches.size) stale(store, cls, `it has ${patches.size} patches but its clusters hold ${candidates.length}`);
  const picked = selectPatches(candidates, rec.order, { needed, topClusters: opts.topClusters ?? 10, dedup: opts.dedup });
  const shards = new Map<string, string>();
  const shardOf = (key: string): string => {
    let shard = shards.get(key);
    if (shard === undefined) {
      shard = store.sampleShard(key);
      if (shard === undefined) stale(store, cls, `sample ${key} is no longer scored`);
      shards.set(key, shard);
    }
    return shard;
  };
  const ranked = picked.map((i): RankedPatch => {
    const c = candidates[i];
    const p = patches.get(patchKey(c))!;
    return { key: c.key, index: c.index, cls, shard: shardOf(c.key), boxOriginal: p.boxOriginal, score: c.score, cluster: c.cluster, rank: c.rank };
  });
  return { cls, needed, patches: ranked, short: ranked.length < needed };
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
