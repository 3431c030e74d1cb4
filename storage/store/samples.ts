/**
 * Samples in and out. A sample is written in one child transaction with everything it produced
 * (record, score map, patches with features, class counters), so a crash (kill -9 included) leaves it
 * either complete or absent. A key has one state, the last one written: re-putting a sample replaces
 * its patches and counters instead of adding to them, and scoring a sample clears its skip record
 * (and the other way round).
 */
import { DdpsError } from '../../core/errors.js';
import type { StoreDbs } from './open.js';
import {
  checkClass,
  checkSampleKey,
  isUsableKey,
  classKey,
  decodeClassKey,
  decodeSampleKey,
  decodeSkipKey,
  encodeFloat32,
  encodePatch,
  patchKey,
  rankingKey,
  sampleFromParts,
  sampleKey,
  skipKey,
  storedSample,
  type StoredSample,
} from './schema.js';
import type { ClassCounts, SampleRecord, SampleStatus, SkippedRecord, StoreCounts } from './types.js';

function bad(key: string, what: string): never {
  throw new DdpsError('BAD_ARGUMENT', `score store: sample ${key}: ${what}`, { sample: key });
}

function damaged(dbs: StoreDbs, key: string, what: string): never {
  throw new DdpsError('STORE_MISMATCH', `score store ${dbs.dir} is damaged: sample ${key} has no ${what}`, { file: dbs.dir, sample: key });
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isBox = (b: unknown): boolean => Array.isArray(b) && b.length === 4 && b.every(isFiniteNumber);

/** Throws a BAD_ARGUMENT naming the sample and the first field that cannot be stored. */
export function validateSample(rec: SampleRecord): void {
  checkSampleKey(rec.key);
  const key = rec.key;
  checkClass(rec.cls, key);
  if (typeof rec.shard !== 'string') bad(key, `shard must be a string, got ${typeof rec.shard}`);
  if (!Array.isArray(rec.size) || rec.size.length !== 2 || !rec.size.every((v) => isFiniteNumber(v) && v > 0)) {
    bad(key, `size must be [width, height] > 0, got ${JSON.stringify(rec.size)}`);
  }
  const t = rec.transform;
  for (const f of ['scale', 'offsetX', 'offsetY', 'width', 'height'] as const) {
    if (!isFiniteNumber(t[f])) bad(key, `transform.${f} must be a finite number, got ${String(t[f])}`);
  }
  if (t.scaleY !== undefined && !isFiniteNumber(t.scaleY)) bad(key, `transform.scaleY must be a finite number, got ${String(t.scaleY)}`);
  const { h, w, data } = rec.scoreMap;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) bad(key, `score map size must be positive integers, got ${h}x${w}`);
  if (!(data instanceof Float32Array) || data.length !== h * w) {
    bad(key, `score map must be a Float32Array of ${h}x${w} = ${h * w}, got ${data instanceof Float32Array ? data.length : typeof data}`);
  }
  rec.patches.forEach((p, i) => {
    if (!isBox(p.box) || !isBox(p.boxOriginal)) bad(key, `patch ${i}: box and boxOriginal must be 4 finite numbers`);
    if (typeof p.score !== 'number') bad(key, `patch ${i}: score must be a number, got ${typeof p.score}`);
    if (p.feature !== undefined && (!(p.feature instanceof Float32Array) || p.feature.length === 0)) {
      bad(key, `patch ${i}: feature must be a non-empty Float32Array when present`);
    }
  });
}

/** Every change to a class goes through here: it also drops the class's ranking for selection, which then reads the patches until the class is ranked again. */
function addCounts(dbs: StoreDbs, cls: number, samples: number, patches: number): void {
  const ck = classKey(cls);
  dbs.centroids.removeSync(rankingKey(cls));
  const cur = dbs.classes.get(ck) ?? { samples: 0, patches: 0 };
  const next = { samples: cur.samples + samples, patches: cur.patches + patches };
  if (next.samples === 0) dbs.classes.removeSync(ck);
  else dbs.classes.putSync(ck, next);
}

/** Inside a write transaction: drop a scored sample and everything it wrote. */
function removeScored(dbs: StoreDbs, key: string): void {
  const k = sampleKey(key);
  const old = dbs.samples.get(k);
  if (old === undefined) return;
  for (let i = 0; i < old.patches; i++) dbs.patches.removeSync(patchKey(old.cls, key, i));
  dbs.scoreMaps.removeSync(k);
  dbs.samples.removeSync(k);
  addCounts(dbs, old.cls, -1, -old.patches);
}

export async function putSample(dbs: StoreDbs, rec: SampleRecord): Promise<void> {
  validateSample(rec);
  const stored = storedSample(rec);
  // Encode before the transaction: its callback then cannot fail half-way on bad input.
  const k = sampleKey(rec.key);
  const map = encodeFloat32(rec.scoreMap.data);
  const patches = rec.patches.map((p, i) => [patchKey(rec.cls, rec.key, i), encodePatch(p)] as const);
  await dbs.root.childTransaction(() => {
    removeScored(dbs, rec.key);
    dbs.skipped.removeSync(k);
    dbs.samples.putSync(k, stored);
    dbs.scoreMaps.putSync(k, map);
    for (const [pk, pv] of patches) dbs.patches.putSync(pk, pv);
    addCounts(dbs, rec.cls, 1, patches.length);
  });
}

export async function putSkipped(dbs: StoreDbs, rec: SkippedRecord): Promise<void> {
  const sk = skipKey(rec);
  for (const f of ['shard', 'reason', 'code'] as const) {
    if (typeof rec[f] !== 'string') bad(rec.key ?? rec.shard, `skip record: ${f} must be a string, got ${typeof rec[f]}`);
  }
  const value = { shard: rec.shard, ...(rec.stage === undefined ? {} : { stage: rec.stage }), reason: rec.reason, code: rec.code };
  await dbs.root.childTransaction(() => {
    if (rec.key !== undefined) removeScored(dbs, rec.key);
    dbs.skipped.putSync(sk, value);
  });
}

function readSample(dbs: StoreDbs, key: string, s: StoredSample, withPatches = true): SampleRecord {
  const mapBytes = dbs.scoreMaps.get(sampleKey(key));
  if (mapBytes === undefined) damaged(dbs, key, 'score map');
  const patches = Array.from({ length: withPatches ? s.patches : 0 }, (_, i) => {
    const bytes = dbs.patches.get(patchKey(s.cls, key, i));
    if (bytes === undefined) damaged(dbs, key, `patch ${i}`);
    return bytes;
  });
  return sampleFromParts(key, s, mapBytes, patches);
}

export function getSample(dbs: StoreDbs, key: string, withPatches = true): SampleRecord | undefined {
  const s = dbs.samples.get(sampleKey(key));
  return s === undefined ? undefined : readSample(dbs, key, s, withPatches);
}

/** Every scored sample, in key order. Not a snapshot: a long scan does not pin old pages. */
export function* iterateSamples(dbs: StoreDbs): Generator<SampleRecord> {
  for (const { key, value } of dbs.samples.getRange({ snapshot: false })) yield readSample(dbs, decodeSampleKey(key), value);
}

export function* iterateKeys(dbs: StoreDbs): Generator<string> {
  for (const key of dbs.samples.getKeys({ snapshot: false })) yield decodeSampleKey(key);
}

/** Shard-level records first (their keys start with 00, see schema.ts), then sample-level ones in key order. */
export function* iterateSkipped(dbs: StoreDbs): Generator<SkippedRecord> {
  for (const { key, value } of dbs.skipped.getRange({ snapshot: false })) yield { ...decodeSkipKey(key), ...value };
}

/** undefined also for a key the store could never hold (the write would say why). */
export function sampleStatus(dbs: StoreDbs, key: string): SampleStatus | undefined {
  if (!isUsableKey(key)) return undefined;
  const k = sampleKey(key);
  if (dbs.samples.doesExist(k)) return 'scored';
  return dbs.skipped.doesExist(k) ? 'skipped' : undefined;
}

export function classCounts(dbs: StoreDbs, cls: number): ClassCounts | undefined {
  const c = dbs.classes.get(classKey(cls));
  return c === undefined ? undefined : { samples: c.samples, patches: c.patches };
}

export function storeCounts(dbs: StoreDbs): StoreCounts {
  const perClass = new Map<number, ClassCounts>();
  let samples = 0;
  let patches = 0;
  for (const { key, value } of dbs.classes.getRange({ snapshot: false })) {
    perClass.set(decodeClassKey(key), { samples: value.samples, patches: value.patches });
    samples += value.samples;
    patches += value.patches;
  }
  return { samples, patches, skipped: dbs.skipped.getCount(), perClass };
}
