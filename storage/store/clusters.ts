/** Per-class k-means clusters and ranks (Stage II): one record per class, centroids as raw float32. */
import { DdpsError } from '../../core/errors.js';
import type { StoreDbs } from './open.js';
import { classKey, decodeFloat32, decodeRanking, decodeRankingColumns, encodeFloat32, encodeRanking, rankingKey, sampleKey, type RankingMember, type StoredClusters, type StoredRanking } from './schema.js';
import type { ClassClusters, ClassRanking, RankingColumns } from './types.js';

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
    if (m.score !== undefined && typeof m.score !== 'number') bad(`member ${i} (${m.key}#${m.index}): score must be a number`);
    if (m.boxOriginal !== undefined && !(m.boxOriginal.length === 4 && m.boxOriginal.every(Number.isFinite))) bad(`member ${i} (${m.key}#${m.index}): boxOriginal must be 4 finite numbers`);
  });
  const badOrder = rec.order.find((c) => !inRange(c));
  if (badOrder !== undefined) bad(`order names cluster ${badOrder}, expected 0..${k - 1}`);
}

/**
 * The clusters record (JSON, members without score and box, as always) and, when every member has
 * its score and box, the class's ranking for selection beside the centroids (schema.ts); one transaction.
 */
export async function putClassClusters(dbs: StoreDbs, cls: number, rec: ClassClusters): Promise<void> {
  const ck = classKey(cls);
  validateClusters(cls, rec);
  const { k, dim, data } = rec.centroids;
  const members = rec.members.map(({ score: _score, boxOriginal: _box, ...m }) => m);
  const stored: StoredClusters = { k, dim, members, order: rec.order, ...(rec.info === undefined ? {} : { info: rec.info }) };
  const centroids = encodeFloat32(data);
  const complete = rec.members.every((m) => m.score !== undefined && m.boxOriginal !== undefined);
  const shards = new Map<string, string>();
  if (complete) for (const m of rec.members) if (!shards.has(m.key)) shards.set(m.key, dbs.samples.get(sampleKey(m.key))?.shard ?? '');
  const ranking = complete ? encodeRanking({ k, order: rec.order, members: rec.members as RankingMember[], shards }) : undefined;
  await dbs.root.childTransaction(() => {
    dbs.clusters.putSync(ck, stored);
    dbs.centroids.putSync(ck, centroids);
    if (ranking === undefined) dbs.centroids.removeSync(rankingKey(cls));
    else dbs.centroids.putSync(rankingKey(cls), ranking);
  });
}

function storedRanking(dbs: StoreDbs, cls: number): StoredRanking | undefined {
  const bytes = dbs.centroids.get(rankingKey(cls));
  return bytes === undefined ? undefined : decodeRanking(bytes);
}

/** The compact ranking record as columns; undefined when the class has none (not ranked since it changed, or ranked by an older ddps). */
export function getRankingColumns(dbs: StoreDbs, cls: number): RankingColumns | undefined {
  const bytes = dbs.centroids.get(rankingKey(cls));
  return bytes === undefined ? undefined : decodeRankingColumns(bytes);
}

/** The ranking as selection reads it: the compact record when there is one, else the clusters record. */
export function getClassRanking(dbs: StoreDbs, cls: number): ClassRanking | undefined {
  const r = storedRanking(dbs, cls);
  if (r !== undefined) return r;
  const s = dbs.clusters.get(classKey(cls));
  return s === undefined ? undefined : { k: s.k, order: s.order, members: s.members };
}

/** The clusters record, its members with their score and box again when the ranking keeps them. */
export function getClassClusters(dbs: StoreDbs, cls: number): ClassClusters | undefined {
  const ck = classKey(cls);
  const s = dbs.clusters.get(ck);
  const bytes = dbs.centroids.get(ck);
  if (s === undefined || bytes === undefined) return undefined;
  const ranking = storedRanking(dbs, cls);
  const same = ranking !== undefined && ranking.members.length === s.members.length && ranking.members.every((m, i) => m.key === s.members[i]!.key && m.index === s.members[i]!.index);
  const members = same ? s.members.map((m, i) => ({ ...m, score: ranking.members[i]!.score, boxOriginal: ranking.members[i]!.boxOriginal })) : s.members;
  return {
    centroids: { k: s.k, dim: s.dim, data: decodeFloat32(bytes) },
    members,
    order: s.order,
    ...(s.info === undefined ? {} : { info: s.info }),
  };
}
