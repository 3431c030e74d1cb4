/** Per-class k-means clusters and ranks (Stage II): one record per class, centroids as raw float32. */
import { DdpsError } from '../../core/errors.js';
import type { StoreDbs } from './open.js';
import { classKey, decodeFloat32, encodeFloat32, type StoredClusters } from './schema.js';
import type { ClassClusters } from './types.js';

function validateClusters(cls: number, rec: ClassClusters): void {
  const bad = (what: string): never => {
    throw new DdpsError('BAD_ARGUMENT', `score store: clusters of class ${cls}: ${what}`);
  };
  const { k, dim, data } = rec.centroids;
  if (!Number.isInteger(k) || !Number.isInteger(dim) || k < 1 || dim < 1) bad(`k and dim must be positive integers, got k=${k}, dim=${dim}`);
  if (!(data instanceof Float32Array) || data.length !== k * dim) bad(`centroids must be a Float32Array of k x dim = ${k * dim}`);
  const inRange = (c: number): boolean => Number.isInteger(c) && c >= 0 && c < k;
  rec.members.forEach((m, i) => {
    if (!inRange(m.cluster)) bad(`member ${i} (${m.key}#${m.index}) is in cluster ${m.cluster}, expected 0..${k - 1}`);
    // Members are stored as JSON, which would turn a NaN or infinite distance into null.
    if (!Number.isInteger(m.rank) || !Number.isFinite(m.distance)) bad(`member ${i} (${m.key}#${m.index}) needs an integer rank and a finite distance`);
  });
  const badOrder = rec.order.find((c) => !inRange(c));
  if (badOrder !== undefined) bad(`order names cluster ${badOrder}, expected 0..${k - 1}`);
}

export async function putClassClusters(dbs: StoreDbs, cls: number, rec: ClassClusters): Promise<void> {
  const ck = classKey(cls);
  validateClusters(cls, rec);
  const { k, dim, data } = rec.centroids;
  const stored: StoredClusters = { k, dim, members: rec.members, order: rec.order, ...(rec.info === undefined ? {} : { info: rec.info }) };
  const centroids = encodeFloat32(data);
  await dbs.root.childTransaction(() => {
    dbs.clusters.putSync(ck, stored);
    dbs.centroids.putSync(ck, centroids);
  });
}

export function getClassClusters(dbs: StoreDbs, cls: number): ClassClusters | undefined {
  const ck = classKey(cls);
  const s = dbs.clusters.get(ck);
  const bytes = dbs.centroids.get(ck);
  if (s === undefined || bytes === undefined) return undefined;
  return {
    centroids: { k: s.k, dim: s.dim, data: decodeFloat32(bytes) },
    members: s.members,
    order: s.order,
    ...(s.info === undefined ? {} : { info: s.info }),
  };
}
