/**
 * Stage II ranking, independent of any budget: inside a cluster by distance to its centroid (nearest
 * first), clusters by the median score of their patches (highest first). Every tie is broken by a
 * stable identity (sample key and patch index, or cluster index) so that the ranking is a function of
 * the data alone.
 */
import type { Box } from '../../core/geometry.js';
import type { ClusterMember } from '../../storage/store/types.js';

/**
 * Sample keys in the store's order (UTF-8 bytes, which is code point order) without encoding them:
 * UTF-16 code units sort the same way except that surrogates (code points above U+FFFF) must come
 * after U+E000..U+FFFF, so those two ranges swap places before comparing.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointOrder(x) - codePointOrder(y);
  }
  return a.length - b.length;
}

function codePointOrder(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

export interface PatchId {
  key: string;
  index: number;
}

/** A patch's identity as one string, for Map keys (NUL cannot occur in a stored sample key). */
export function patchKey(p: PatchId): string {
  return `${p.key}\0${p.index}`;
}

/** By sample key (store order), then patch index. */
export function comparePatchIds(a: PatchId, b: PatchId): number {
  return compareKeys(a.key, b.key) || a.index - b.index;
}

/** Scores highest first, NaN below every number; equal scores by (key, index). */
export function compareByScore(a: PatchId & { score: number }, b: PatchId & { score: number }): number {
  return compareScores(a.score, b.score) || comparePatchIds(a, b);
}

/** compareByScore on the scores alone: highest first, NaN as low as -Infinity (0 for equals). */
export function compareScores(a: number, b: number): number {
  return cmpDesc(Number.isNaN(a) ? -Infinity : a, Number.isNaN(b) ? -Infinity : b);
}

/** The middle value (mean of the two middle ones for an even count); NaN when there are none. */
export function median(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface Assigned extends PatchId {
  cluster: number;
  distance: number;
  /** Kept in the member when given (selection reads them from the ranking). */
  score?: number;
  boxOriginal?: Box;
}

/**
 * Ranks inside each cluster: nearest to the centroid first, equal distances by (key, index). The
 * result is grouped by cluster (ascending), each group in rank order.
 */
export function rankWithinClusters(members: readonly Assigned[]): ClusterMember[] {
  const sorted = [...members].sort((a, b) => a.cluster - b.cluster || a.distance - b.distance || comparePatchIds(a, b));
  let rank = 0;
  return sorted.map((m, i) => {
    rank = i > 0 && sorted[i - 1].cluster === m.cluster ? rank + 1 : 0;
    const kept = { ...(m.score === undefined ? {} : { score: m.score }), ...(m.boxOriginal === undefined ? {} : { boxOriginal: m.boxOriginal }) };
    return { key: m.key, index: m.index, cluster: m.cluster, rank, distance: m.distance, ...kept };
  });
}

/**
 * Clusters 0..k-1 by the median score of their members, highest first; equal medians by cluster
 * index. A NaN median counts as -Infinity; clusters without members come last.
 */
export function orderClusters(k: number, clusters: ArrayLike<number>, scores: ArrayLike<number>): number[] {
  const perCluster: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < clusters.length; i++) perCluster[clusters[i]].push(scores[i]);
  const medians = perCluster.map((s) => {
    const m = median(s);
    return Number.isNaN(m) ? -Infinity : m;
  });
  const empty = (c: number): number => (perCluster[c].length === 0 ? 1 : 0);
  return Array.from({ length: k }, (_, c) => c).sort((a, b) => empty(a) - empty(b) || cmpDesc(medians[a], medians[b]) || a - b);
}

function cmpDesc(x: number, y: number): number {
  return x === y ? 0 : x > y ? -1 : 1;
}

/** Both rankings of one class's assigned patches; `scores[i]` is the score of `members[i]`. */
export function rankClass(k: number, members: readonly Assigned[], scores: ArrayLike<number>): { members: ClusterMember[]; order: number[] } {
  return { members: rankWithinClusters(members), order: orderClusters(k, members.map((m) => m.cluster), scores) };
}
