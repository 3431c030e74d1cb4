/**
 * Stage III selection rule for one class and one budget, on the stored ranking alone (no model runs):
 * the q = floor(P / N) best of each of the top N clusters, then the highest-scoring unused patches
 * until P are chosen.
 */
import { DdpsError } from '../../core/errors.js';
import { comparePatchIds, compareScores, type PatchId } from './ranking.js';

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
 * A class's candidates as the selection rule reads them, whatever holds them (objects or a ranking's
 * columns): per candidate its cluster, rank and score, and an order on their (key, index) ids.
 */
export interface CandidateTable {
  count: number;
  cluster(i: number): number;
  rank(i: number): number;
  score(i: number): number;
  compareIds(i: number, j: number): number;
}

/**
 * Indices into `candidates` in selection order: the quota picks cluster by cluster in `order` (each
 * cluster's in rank order), then the fill in score order. Fewer than `needed` only when the class
 * runs out of (non-duplicate) candidates.
 */
export function selectPatches(candidates: readonly Candidate[], order: readonly number[], rule: SelectionRule): number[] {
  const table: CandidateTable = {
    count: candidates.length,
    cluster: (i) => candidates[i].cluster,
    rank: (i) => candidates[i].rank,
    score: (i) => candidates[i].score,
    compareIds: (i, j) => comparePatchIds(candidates[i], candidates[j]),
  };
  const dedup = rule.dedup === undefined ? undefined : new NearDuplicates(candidates, rule.dedup);
  return selectFromTable(table, order, rule, dedup === undefined ? undefined : (i) => dedup.admit(i));
}

/**
 * selectPatches' rule on a table; `admit` (default: every candidate) may pass one over. Only the top
 * clusters' members are put in rank order, and the scores sorted only when the quota leaves room, so a
 * small budget costs little more than one pass over the class.
 */
export function selectFromTable(table: CandidateTable, order: readonly number[], rule: SelectionRule, admit?: (i: number) => boolean): number[] {
  checkRule(rule);
  const { needed } = rule;
  const picked: number[] = [];
  const used = new Uint8Array(table.count);
  const take = (i: number): boolean => {
    if (admit !== undefined && !admit(i)) return false;
    picked.push(i);
    used[i] = 1;
    return true;
  };

  const n = Math.min(rule.topClusters, order.length);
  const quota = n > 0 ? Math.floor(needed / n) : 0;
  if (quota > 0) {
    const top = order.slice(0, n);
    const members = membersOf(table, top);
    for (const c of top) {
      let taken = 0;
      for (const i of members.get(c) ?? []) {
        if (taken === quota) break;
        if (take(i)) taken++;
      }
    }
  }
  if (picked.length < needed) {
    const byScore = Array.from({ length: table.count }, (_, i) => i).sort((a, b) => compareScores(table.score(a), table.score(b)) || table.compareIds(a, b));
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

/** The members of `clusters`, each cluster's in rank order (equal ranks by (key, index)). */
function membersOf(table: CandidateTable, clusters: readonly number[]): Map<number, number[]> {
  const out = new Map<number, number[]>(clusters.map((c) => [c, []]));
  for (let i = 0; i < table.count; i++) out.get(table.cluster(i))?.push(i);
  for (const list of out.values()) list.sort((a, b) => table.rank(a) - table.rank(b) || table.compareIds(a, b));
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
