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
 *
 * Patch keys start with the class, so one class's patches are exactly the range
 * [u32be(cls), u32be(cls+1)), ordered by sample key (UTF-8 byte order = code point order), then by
 * patch index. Sample keys may hold any character but NUL: the 00 after the key then sorts below
 * every key character, which keeps a sample's patches together ("a" before "a/b", never interleaved),
 * and a leading 00 in `skipped` can only be a shard-level record.
 *
 * Tensors are copied byte for byte (msgpack, lmdb's default, returns a Float32Array as a Buffer with
 * the wrong contents): bit-exact, NaN payloads and -0 included. Typed arrays use the host's byte
 * order; open.ts refuses big-endian hosts so that the files are little-endian everywhere.
 */
import { DdpsError } from '../../core/errors.js';
import type { ClassCounts, ClusterMember, JsonObject } from './types.js';
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

export function decodePatch(bytes: Uint8Array): StoredPatch {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const v = (i: number): number => b.readDoubleLE(i * 8);
  const p: StoredPatch = { box: [v(0), v(1), v(2), v(3)], boxOriginal: [v(4), v(5), v(6), v(7)], score: v(8) };
  if (b.length > PATCH_HEADER_BYTES) p.feature = decodeFloat32(b, PATCH_HEADER_BYTES);
  return p;
}
