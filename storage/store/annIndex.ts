/**
 * Per-class centroid indexes (hnswlib-node), persisted beside the score store as
 * `<store dir>/ann/class-<cls>.bin`, for folding new patches into existing clusters. A class has at
 * most a few dozen centroids, so the index is hnswlib's exact brute-force one: same persistence and
 * API as its graph index, and an answer that never differs from a full scan.
 *
 * The store's centroids are the truth; a file is a cache of them. One that is missing, unreadable or
 * built from other centroids (the class was re-clustered since) is rebuilt and rewritten.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import hnswlib, { type BruteforceSearch } from 'hnswlib-node';
import { DdpsError } from '../../core/errors.js';
import type { ClassClusters } from './types.js';

type Centroids = ClassClusters['centroids'];

/** How many index neighbours are re-measured in float64: the index measures in float32, so near-ties may swap. */
const RECHECK = 4;

export function centroidIndexPath(storeDir: string, cls: number): string {
  return join(storeDir, 'ann', `class-${cls}.bin`);
}

export class CentroidIndex {
  private constructor(
    private readonly index: BruteforceSearch,
    readonly centroids: Centroids,
  ) {}

  static build(centroids: Centroids): CentroidIndex {
    const { k, dim, data } = centroids;
    const index = new hnswlib.BruteforceSearch('l2', dim);
    index.initIndex(k);
    for (let c = 0; c < k; c++) index.addPoint(Array.from(data.subarray(c * dim, (c + 1) * dim)), c);
    return new CentroidIndex(index, centroids);
  }

  /** The persisted index of class `cls` when it holds exactly `centroids`, else a fresh one (written back). */
  static load(storeDir: string, cls: number, centroids: Centroids): CentroidIndex {
    const path = centroidIndexPath(storeDir, cls);
    const stored = existsSync(path) ? CentroidIndex.read(path, centroids) : undefined;
    if (stored !== undefined) return stored;
    const fresh = CentroidIndex.build(centroids);
    fresh.save(storeDir, cls);
    return fresh;
  }

  /** Written to a temporary name and renamed, so a reader never sees half a file. */
  save(storeDir: string, cls: number): void {
    const path = centroidIndexPath(storeDir, cls);
    mkdirSync(join(storeDir, 'ann'), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    this.index.writeIndexSync(tmp);
    renameSync(tmp, path);
  }

  /** The index at `path` when it holds exactly these centroids: each centroid's nearest is itself (or its double). */
  private static read(path: string, centroids: Centroids): CentroidIndex | undefined {
    const { k, dim, data } = centroids;
    const index = new hnswlib.BruteforceSearch('l2', dim);
    try {
      index.readIndexSync(path);
    } catch {
      return undefined;
    }
    if (index.getNumDimensions() !== dim || index.getCurrentCount() !== k) return undefined;
    for (let c = 0; c < k; c++) {
      const { distances, neighbors } = index.searchKnn(Array.from(data.subarray(c * dim, (c + 1) * dim)), 1);
      if (distances[0] !== 0 || !sameRow(data, neighbors[0], c, dim)) return undefined;
    }
    return new CentroidIndex(index, centroids);
  }

  /** The centroid nearest to `v` (length dim); exact ties go to the lower cluster index. */
  nearest(v: Float32Array): number {
    const { k, dim, data } = this.centroids;
    if (v.length !== dim) throw new DdpsError('BAD_ARGUMENT', `centroid index: query has ${v.length} values, expected ${dim}`);
    const { neighbors } = this.index.searchKnn(Array.from(v), Math.min(RECHECK, k));
    let best = -1;
    let bestD = Infinity;
    for (const c of neighbors) {
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const x = v[d] - data[c * dim + d];
        s += x * x;
      }
      if (s < bestD || (s === bestD && c < best)) {
        bestD = s;
        best = c;
      }
    }
    return best;
  }
}

function sameRow(data: Float32Array, a: number, b: number, dim: number): boolean {
  for (let d = 0; d < dim; d++) if (!Object.is(data[a * dim + d], data[b * dim + d])) return false;
  return true;
}
