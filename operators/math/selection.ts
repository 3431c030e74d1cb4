/**
 * Stage III selection rule for one class and one budget, on the stored ranking alone (no model runs):
 * the q = floor(P / N) best of each of the top N clusters, then the highest-scoring unused patches
 * until P are chosen.
 */
import { DdpsError } from '../../core/errors.js';
import { compareByScore, comparePatchIds, type PatchId } from './ranking.js';

export interface Candidate extends PatchId {
  cluster: number;
  /** Place inside its cluster, 0 = nearest the centroid. */
  rank: number;
  score: number;
  /** Needed only for dedup. */
  feature?: Float32Array;
}

export interface SelectionRule {
  /** P. */
  needed: number;
  /** N; fewer when the class has fewer clusters. */
  topClusters: number;
  /** Cosine threshold: a candidate with cosine above it to an already selected patch is passed over. */
  dedup?: number;
}

/**
 * Indices into `candidates` in selection order: the quota picks cluster by cluster in `order` (each
 * cluster's in rank order), then the fill in score order. Fewer than `needed` only when the class
 * runs out of (non-duplicate) candidates.
 */
export function selectPatches(candidates: readonly Candidate[], order: readonly number[], rule: SelectionRule): number[] {
  checkRule(rule);
  const { needed } = rule;
  const picked: number[] = [];
  const used = new Uint8Array(candidates.length);
  const dedup = rule.dedup === undefined ? undefined : new NearDuplicates(candidates, rule.dedup);
  const take = (i: number): boolean => {
    if (dedup !== undefined && !dedup.admit(i)) return false;
    picked.push(i);
    used[i] = 1;
    return true;
  };

  const n = Math.min(rule.topClusters, order.length);
  const quota = n > 0 ? Math.floor(needed / n) : 0;
  if (quota > 0) {
    const byCluster = membersByRank(candidates);
    for (const c of order.slice(0, n)) {
      let taken = 0;
      for (const i of byCluster.get(c) ?? []) {
        if (taken === quota) break;
        if (take(i)) taken++;
      }
    }
  }
  if (picked.length < needed) {
    const byScore = Array.from(candidates.keys()).sort((a, b) => compareByScore(candidates[a], candidates[b]));
    for (const i of byScore) {
      if (picked.length === needed) break;
      if (!used[i]) take(i);
    }
  }
  return picked;
}

function checkRule(rule: SelectionRule): void {
  if (!Number.isInteger(rule.needed) || rule.needed < 0) throw new DdpsError('BAD_ARGUMENT', `selection: needed must be an integer >= 0, got ${rule.needed}`);
  if (!Number.isInteger(rule.topClusters) || rule.topClusters < 1) {
    throw new DdpsError('BAD_ARGUMENT', `selection: topClusters must be a positive integer, got ${rule.topClusters}`);
  }
  if (rule.dedup !== undefined && !(rule.dedup >= -1 && rule.dedup <= 1)) {
    throw new DdpsError('BAD_ARGUMENT', `selection: dedup is a cosine threshold in [-1, 1], got ${rule.dedup}`);
  }
}

/** Candidate indices per cluster, in rank order (equal ranks by (key, index)). */
function membersByRank(candidates: readonly Candidate[]): Map<number, number[]> {
  const sorted = Array.from(candidates.keys()).sort((a, b) => {
    const x = candidates[a];
    const y = candidates[b];
    return x.cluster - y.cluster || x.rank - y.rank || comparePatchIds(x, y);
  });
  const out = new Map<number, number[]>();
  for (const i of sorted) {
    const list = out.get(candidates[i].cluster);
    if (list === undefined) out.set(candidates[i].cluster, [i]);
    else list.push(i);
  }
  return out;
}

/**
 * The selected set's features, checked by plain cosine: the set is at most P (a few hundred)
 * vectors, so a scan costs less than keeping an index.
 */
class NearDuplicates {
  private readonly kept: Array<{ v: Float32Array; norm: number }> = [];

  constructor(
    private readonly candidates: readonly Candidate[],
    private readonly threshold: number,
  ) {}

  /** True (and remembered) when candidate i is not a near-duplicate of one admitted before. */
  admit(i: number): boolean {
    const c = this.candidates[i];
    const v = c.feature;
    if (v === undefined) throw new DdpsError('BAD_ARGUMENT', `selection: dedup needs features, patch ${c.key}#${c.index} has none`, { sample: c.key });
    const norm = Math.sqrt(dot(v, v));
    for (const k of this.kept) {
      if (k.v.length !== v.length) {
        throw new DdpsError('BAD_ARGUMENT', `selection: patch ${c.key}#${c.index} has a ${v.length}-dim feature, expected ${k.v.length}`, { sample: c.key });
      }
      if (norm > 0 && k.norm > 0 && dot(v, k.v) / (norm * k.norm) > this.threshold) return false;
    }
    this.kept.push({ v, norm });
    return true;
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
