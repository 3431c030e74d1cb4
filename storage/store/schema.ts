/**
 * The score store's layout: the ONLY module that knows sub-database names, key layouts and value
 * encodings. Everything else calls these functions.
 *
 * One LMDB environment (a directory), named sub-databases, all with raw byte keys:
 *
 * | db        | key                                   | value                                   |
 * |-----------|---------------------------------------|-----------------------------------------|
 * | meta      | utf8 name ('schema','config','pack','mixed') | JSON                             |
 * | samples   | utf8(sampleKey)                       | JSON StoredSample (no tensors)          |
 * | scoreMaps | utf8(sampleKey)                       | h*w float32, little-endian              |
 * | patches   | u32be(cls) utf8(sampleKey) 00 u32be(i)| 9 float64 LE (box, boxOriginal, score) + feature float32 LE |
 * | skipped   | utf8(sampleKey), or 00 utf8(shard)    | JSON StoredSkip                         |
 * | classes   | u32be(cls)                            | JSON ClassCounts                        |
 * | clusters  | u32be(cls)                            | JSON StoredClusters (no tensors)        |
 * | centroids | u32be(cls)                            | k*dim float32, little-endian            |
 * | centroids | u32be(cls) 01                         | the class's ranking for selection (binary, below) |
 *
 * meta also holds one `import 00 utf8(id)` record per result file imported (see importKey).
 *
 * Patch keys start with the class, so one class's patches are exactly the range
 * [u32be(cls), u32be(cls+1)), ordered by sample key (UTF-8 byte order = code point order), then by
 * patch index. Sample keys may hold any character but NUL: the 00 after the key then sorts below
 * every key character, which keeps a sample's patches together ("a" before "a/b", never interleaved),
 * and a leading 00 in `skipped` can only be a shard-level record.
 *
 * The ranking for selection is what selecting a budget reads of a class, in one small binary record
 * beside the centroids (so selecting a thousand classes parses no JSON): k, the cluster order, and per
 * member its cluster, rank, patch index, sample, score and box, with each sample's shard. It is
 * written with the clusters record and repeats its members; putting or removing any sample of the class
 * drops it (until the class is ranked again), and a store ranked before it existed has none: readers
 * then use the clusters record and the patches.
 *
 * Tensors are copied byte for byte (msgpack, lmdb's default, returns a Float32Array as a Buffer with
 * the wrong contents): bit-exact, NaN payloads and -0 included. Typed arrays use the host's byte
 * order; open.ts refuses big-endian hosts so that the files are little-endian everywhere.
 */
import { DdpsError } from '../../core/errors.js';
import type { ClassCounts, ClusterMember, JsonObject, RankingColumns, SampleRecord } from './types.js';
import { type ResizeTransform } from '../../core/geometry.js';

export const SCHEMA_VERSION = 1;

/** The value type each sub-database holds (keys are always raw bytes). */
export interface DbValues {
  meta: unknown;
  samples: StoredSample;
  scoreMaps: Buffer;
  patches: Buffer;
  skipped: StoredSkip;
  classes: StoredClassCounts;
  clusters: StoredClusters;
  centroids: Buffer;
}

export type DbName = keyof DbValues;

export const DB_ENCODINGS: { readonly [N in DbName]: 'json' | 'binary' } = {
  meta: 'json',
  samples: 'json',
  scoreMaps: 'binary',
  patches: 'binary',
  skipped: 'json',
  classes: 'json',
  clusters: 'json',
  centroids: 'binary',
};

/** Room for later stages' sub-databases. */
export const MAX_DBS = 16;

export const META_KEYS = ['schema', 'config', 'pack', 'mixed', 'runs'] as const;
export type MetaKey = (typeof META_KEYS)[number];

/** lmdb-js keys are at most 1978 bytes and a patch key adds 9 to the sample key. */
export const MAX_SAMPLE_KEY_BYTES = 1978 - 9;

/** Class ids are small non-negative integers; the bound keeps cls + 1 (a range end) in a u32. */
export const MAX_CLASS = 0x7fffffff;

export interface StoredSample {
  shard: string;
  cls: number;
  size: [number, number];
  transform: ResizeTransform;
  /** Score map [h, w]; the floats are in scoreMaps. */
  map: [number, number];
  /** Patch count: the sample's patch keys are indices 0..patches-1. */
  patches: number;
}

export interface StoredSkip {
  shard: string;
  stage?: string;
  reason: string;
  code: string;
}

export type StoredClassCounts = ClassCounts;

export interface StoredClusters {
  k: number;
  dim: number;
  members: ClusterMember[];
  order: number[];
  info?: JsonObject;
}

export function metaKey(name: MetaKey): Buffer {
  return Buffer.from(name, 'utf8');
}

/** The meta record saying that result file `id` was imported; the 00 keeps it apart from every MetaKey. */
export function importKey(id: string): Buffer {
  return Buffer.concat([Buffer.from('import\0', 'utf8'), Buffer.from(id, 'utf8')]);
}

export function isUsableKey(key: string): boolean {
  const bytes = Buffer.byteLength(key, 'utf8');
  return bytes > 0 && bytes <= MAX_SAMPLE_KEY_BYTES && !key.includes('\0');
}

export function checkSampleKey(key: string): void {
  if (!isUsableKey(key)) {
    const bytes = Buffer.byteLength(key, 'utf8');
    throw new DdpsError(
      'BAD_ARGUMENT',
      `score store: sample key ${JSON.stringify(key.slice(0, 80))} is not usable: expected 1..${MAX_SAMPLE_KEY_BYTES} UTF-8 bytes without NUL, got ${bytes} bytes`,
      { sample: key },
    );
  }
}

export function checkClass(cls: number, sample?: string): void {
  if (!Number.isInteger(cls) || cls < 0 || cls > MAX_CLASS) {
    throw new DdpsError('BAD_ARGUMENT', `score store: class ${cls}${sample === undefined ? '' : ` of sample ${sample}`} is not an integer in 0..${MAX_CLASS}`, { sample });
  }
}

export function sampleKey(key: string): Buffer {
  checkSampleKey(key);
  return Buffer.from(key, 'utf8');
}

export function decodeSampleKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

export function classKey(cls: number): Buffer {
  checkClass(cls);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(cls, 0);
  return b;
}

export function decodeClassKey(bytes: Uint8Array): number {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32BE(0);
}

export function patchKey(cls: number, key: string, index: number): Buffer {
  checkClass(cls, key);
  const k = sampleKey(key);
  const b = Buffer.alloc(k.length + 9);
  b.writeUInt32BE(cls, 0);
  k.copy(b, 4);
  b[4 + k.length] = 0;
  b.writeUInt32BE(index, 5 + k.length);
  return b;
}

export function decodePatchKey(bytes: Uint8Array): { cls: number; key: string; index: number } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    cls: b.readUInt32BE(0),
    key: b.toString('utf8', 4, b.length - 5),
    index: b.readUInt32BE(b.length - 4),
  };
}

/** [start, end) of one class's patch keys. */
export function classRange(cls: number): { start: Buffer; end: Buffer } {
  checkClass(cls);
  return { start: classKey(cls), end: classKey(cls + 1) };
}

export function skipKey(rec: { key?: string; shard: string }): Buffer {
  if (rec.key !== undefined) return sampleKey(rec.key);
  return Buffer.concat([Buffer.from([0]), Buffer.from(rec.shard, 'utf8')]);
}

export function decodeSkipKey(bytes: Uint8Array): { key?: string } {
  return bytes[0] === 0 ? {} : { key: decodeSampleKey(bytes) };
}

/** A fresh copy of the floats' bytes. */
export function encodeFloat32(data: Float32Array): Buffer {
  return Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** A fresh, aligned Float32Array from `byteLength` bytes at `offset` (the store's buffers are reused). */
export function decodeFloat32(bytes: Uint8Array, offset = 0, byteLength = bytes.byteLength - offset): Float32Array {
  if (byteLength % 4 !== 0 || offset + byteLength > bytes.byteLength) {
    throw new DdpsError('STORE_MISMATCH', `score store: a float32 value of ${byteLength} bytes at offset ${offset} of ${bytes.byteLength} is truncated (the store is damaged)`);
  }
  const out = new Float32Array(byteLength / 4);
  new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + byteLength));
  return out;
}

/** Key of a class's ranking for selection, in the centroids db. */
export function rankingKey(cls: number): Buffer {
  return Buffer.concat([classKey(cls), Buffer.from([1])]);
}

/** A member as the ranking for selection keeps it. */
export interface RankingMember {
  key: string;
  index: number;
  cluster: number;
  rank: number;
  score: number;
  boxOriginal: [number, number, number, number];
}

export interface StoredRanking {
  k: number;
  order: number[];
  members: RankingMember[];
  /** Sample key -> the shard it was scored from. */
  shards: Map<string, string>;
}

const RANKING_VERSION = 2;

/** Byte offsets of the ranking record's parts: columns, so that typed arrays read them at once. */
function rankingLayout(n: number, orderLength: number): { floats: number; ints: number; strings: number } {
  const floats = Math.ceil((16 + 4 * orderLength) / 8) * 8;
  const ints = floats + 5 * 8 * n;
  return { floats, ints, strings: ints + 4 * 4 * n };
}

/**
 * u32 LE version, k, n, order length; the order (u32 each); padding to 8 bytes; float64 columns
 * score[n] and box[4n]; u32 columns cluster[n], rank[n], index[n], sample[n]; then the strings as
 * UTF-8 JSON {keys, shards, shardOf} (shardOf[i]: index in shards of keys[i]) after their byte length.
 */
export function encodeRanking(r: StoredRanking): Buffer {
  const n = r.members.length;
  const keys = [...new Set(r.members.map((m) => m.key))];
  const keyIndex = new Map(keys.map((k, i) => [k, i]));
  const shards = [...new Set(keys.map((k) => r.shards.get(k) ?? ''))];
  const shardIndex = new Map(shards.map((s, i) => [s, i]));
  const strings = Buffer.from(JSON.stringify({ keys, shards, shardOf: keys.map((k) => shardIndex.get(r.shards.get(k) ?? '')) }), 'utf8');
  const at = rankingLayout(n, r.order.length);
  // Typed columns over one little-endian buffer (the only byte order ddps runs on, as for features).
  const buffer = new ArrayBuffer(at.strings + 4 + strings.length);
  new Uint32Array(buffer, 0, 4).set([RANKING_VERSION, r.k, n, r.order.length]);
  new Uint32Array(buffer, 16, r.order.length).set(r.order);
  const floats = new Float64Array(buffer, at.floats, 5 * n);
  const ints = new Uint32Array(buffer, at.ints, 4 * n);
  r.members.forEach((m, i) => {
    floats[i] = m.score;
    floats.set(m.boxOriginal, n + 4 * i);
    ints[i] = m.cluster;
    ints[n + i] = m.rank;
    ints[2 * n + i] = m.index;
    ints[3 * n + i] = keyIndex.get(m.key)!;
  });
  const b = Buffer.from(buffer);
  b.writeUInt32LE(strings.length, at.strings);
  strings.copy(b, at.strings + 4);
  return b;
}

/** The ranking's columns as typed-array views of one aligned copy, or undefined for one written in another layout. */
export function decodeRankingColumns(bytes: Uint8Array): RankingColumns | undefined {
  const damaged = (): never => {
    throw new DdpsError('STORE_MISMATCH', 'score store: a class\'s ranking for selection is damaged (re-rank the store)');
  };
  if (bytes.byteLength < 16) damaged();
  if (Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32LE(0) !== RANKING_VERSION) return undefined;
  // An aligned copy: the columns are then typed-array views.
  const buffer = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buffer).set(bytes);
  const head = new Uint32Array(buffer, 0, 4);
  const [k, n, orderLength] = [head[1]!, head[2]!, head[3]!];
  const at = rankingLayout(n, orderLength);
  const view = new DataView(buffer);
  if (buffer.byteLength < at.strings + 4 || buffer.byteLength !== at.strings + 4 + view.getUint32(at.strings, true)) damaged();
  const strings = JSON.parse(Buffer.from(buffer, at.strings + 4).toString('utf8')) as { keys: string[]; shards: string[]; shardOf: number[] };
  const column = (j: number): Uint32Array => new Uint32Array(buffer, at.ints + 4 * j * n, n);
  return {
    k,
    order: Array.from(new Uint32Array(buffer, 16, orderLength)),
    count: n,
    cluster: column(0),
    rank: column(1),
    index: column(2),
    sample: column(3),
    keys: strings.keys,
    shards: strings.shardOf.map((s) => strings.shards[s]!),
    score: new Float64Array(buffer, at.floats, n),
    box: new Float64Array(buffer, at.floats + 8 * n, 4 * n),
  };
}

/** The ranking with a member object per patch, or undefined for one written in another layout (readers then use the clusters record). */
export function decodeRanking(bytes: Uint8Array): StoredRanking | undefined {
  const r = decodeRankingColumns(bytes);
  if (r === undefined) return undefined;
  const members = new Array<RankingMember>(r.count);
  for (let i = 0; i < r.count; i++) {
    const b = 4 * i;
    members[i] = { key: r.keys[r.sample[i]!]!, index: r.index[i]!, cluster: r.cluster[i]!, rank: r.rank[i]!, score: r.score[i]!, boxOriginal: [r.box[b]!, r.box[b + 1]!, r.box[b + 2]!, r.box[b + 3]!] };
  }
  return { k: r.k, order: r.order, members, shards: new Map(r.keys.map((key, i) => [key, r.shards[i]!])) };
}

/** box (4), boxOriginal (4), score: float64 so that any JS number comes back unchanged. */
export const PATCH_HEADER_BYTES = 9 * 8;

export interface StoredPatch {
  box: [number, number, number, number];
  boxOriginal: [number, number, number, number];
  score: number;
  feature?: Float32Array;
}

export function encodePatch(p: StoredPatch): Buffer {
  const featureBytes = p.feature === undefined ? 0 : p.feature.byteLength;
  const b = Buffer.alloc(PATCH_HEADER_BYTES + featureBytes);
  [...p.box, ...p.boxOriginal, p.score].forEach((v, i) => b.writeDoubleLE(v, i * 8));
  if (p.feature !== undefined) b.set(new Uint8Array(p.feature.buffer, p.feature.byteOffset, featureBytes), PATCH_HEADER_BYTES);
  return b;
}

/** `withFeature: false` leaves the feature bytes unread (for readers that need boxes and scores only). */
export function decodePatch(bytes: Uint8Array, withFeature = true): StoredPatch {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const v = (i: number): number => b.readDoubleLE(i * 8);
  const p: StoredPatch = { box: [v(0), v(1), v(2), v(3)], boxOriginal: [v(4), v(5), v(6), v(7)], score: v(8) };
  const feature = withFeature ? patchFeatureBytes(bytes) : undefined;
  if (feature !== undefined) p.feature = decodeFloat32(feature);
  return p;
}

/** The float32 feature's bytes in an encoded patch, as a view of `bytes` (undefined when it has none). */
export function patchFeatureBytes(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.byteLength <= PATCH_HEADER_BYTES) return undefined;
  const feature = bytes.subarray(PATCH_HEADER_BYTES);
  if (feature.byteLength % 4 !== 0) throw new DdpsError('STORE_MISMATCH', `score store: a patch's feature of ${feature.byteLength} bytes is truncated (the store is damaged)`);
  return feature;
}

/** The JSON part of a sample: everything but its tensors. */
export function storedSample(rec: SampleRecord): StoredSample {
  const t = rec.transform;
  return {
    shard: rec.shard,
    cls: rec.cls,
    size: [rec.size[0], rec.size[1]],
    transform: { scale: t.scale, ...(t.scaleY === undefined ? {} : { scaleY: t.scaleY }), offsetX: t.offsetX, offsetY: t.offsetY, width: t.width, height: t.height },
    map: [rec.scoreMap.h, rec.scoreMap.w],
    patches: rec.patches.length,
  };
}

/** A sample put back together from its JSON part, score map bytes and encoded patches. */
export function sampleFromParts(key: string, s: StoredSample, mapBytes: Uint8Array, patches: readonly Uint8Array[]): SampleRecord {
  return {
    key,
    shard: s.shard,
    cls: s.cls,
    size: s.size,
    transform: s.transform,
    scoreMap: { h: s.map[0], w: s.map[1], data: decodeFloat32(mapBytes) },
    patches: patches.map((p) => decodePatch(p)),
  };
}

/**
 * One sample as a self-contained byte string, for result files and merges (bit-exact, like the store):
 *
 *   u32le n | n bytes JSON {key, ...StoredSample} | h*w float32 LE | per patch: u32le m | m bytes encodePatch
 */
export function encodeSampleRecord(rec: SampleRecord): Buffer {
  const head = Buffer.from(JSON.stringify({ key: rec.key, ...storedSample(rec) }), 'utf8');
  const parts: Buffer[] = [u32le(head.length), head, encodeFloat32(rec.scoreMap.data)];
  for (const p of rec.patches) {
    const bytes = encodePatch(p);
    parts.push(u32le(bytes.length), bytes);
  }
  return Buffer.concat(parts);
}

export function decodeSampleRecord(bytes: Uint8Array, source: string): SampleRecord {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const damaged = (what: string): never => {
    throw new DdpsError('STORE_MISMATCH', `${source}: a sample record is damaged (${what})`, { file: source });
  };
  if (b.length < 4) damaged('shorter than its header length');
  const n = b.readUInt32LE(0);
  if (4 + n > b.length) damaged(`header of ${n} bytes past the end`);
  let head: StoredSample & { key: string };
  try {
    head = JSON.parse(b.toString('utf8', 4, 4 + n)) as StoredSample & { key: string };
  } catch {
    return damaged('header is not JSON');
  }
  const dims = head.map;
  if (typeof head.key !== 'string' || !Array.isArray(dims) || !dims.every((d) => Number.isInteger(d) && d > 0) || !Number.isInteger(head.patches)) {
    damaged(`header ${JSON.stringify(head).slice(0, 200)} lacks key, map or patches`);
  }
  let at = 4 + n;
  const mapBytes = 4 * head.map[0] * head.map[1];
  if (at + mapBytes > b.length) damaged(`sample ${head.key}: score map past the end`);
  const map = b.subarray(at, at + mapBytes);
  at += mapBytes;
  const patches: Buffer[] = [];
  for (let i = 0; i < head.patches; i++) {
    if (at + 4 > b.length) damaged(`sample ${head.key}: patch ${i} missing`);
    const m = b.readUInt32LE(at);
    if (at + 4 + m > b.length || m < PATCH_HEADER_BYTES) damaged(`sample ${head.key}: patch ${i} of ${m} bytes`);
    patches.push(b.subarray(at + 4, at + 4 + m));
    at += 4 + m;
  }
  if (at !== b.length) damaged(`sample ${head.key}: ${b.length - at} bytes after the last patch`);
  const { key, ...stored } = head;
  return sampleFromParts(key, stored, map, patches);
}

function u32le(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
}
