/**
 * Minimal protobuf wire format: just what reading and writing ONNX ModelProto needs.
 *
 * The Writer keeps large byte runs (tensor raw data, finished sub-messages) by reference, so a model
 * with big inline initializers is copied once, when it is finally concatenated or written out.
 * The Reader yields fields as views into the input with their byte ranges, so a caller can splice a
 * message (replace one field, append new ones) without decoding or re-encoding the rest.
 */
import { DdpsError } from '../../core/errors.js';

export const WireType = { Varint: 0, I64: 1, Len: 2, I32: 5 } as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

/** Runs shorter than this are copied into the scratch buffer; longer ones are kept by reference. */
const COPY_LIMIT = 512;

export class Writer {
  private chunks: Uint8Array[] = [];
  private chunked = 0;
  private buf = new Uint8Array(256);
  private pos = 0;

  get length(): number {
    return this.chunked + this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Unsigned varint; negative numbers are written as 64-bit two's complement (protobuf int64). */
  varint(v: number | bigint): this {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new RangeError(`varint: ${v} is not an integer`);
      if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
        this.ensure(8);
        while (v >= 0x80) {
          this.buf[this.pos++] = (v % 0x80) | 0x80;
          v = Math.floor(v / 0x80);
        }
        this.buf[this.pos++] = v;
        return this;
      }
      v = BigInt(v);
    }
    let u = BigInt.asUintN(64, v);
    if (v >= 1n << 64n || v < -(1n << 63n)) throw new RangeError(`varint: ${v} does not fit in 64 bits`);
    this.ensure(10);
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
    return this;
  }

  tag(field: number, wireType: WireType): this {
    return this.varint(field * 8 + wireType);
  }

  /** Appends bytes as they are (no tag, no length). */
  raw(bytes: Uint8Array): this {
    if (bytes.length < COPY_LIMIT) {
      this.ensure(bytes.length);
      this.buf.set(bytes, this.pos);
      this.pos += bytes.length;
      return this;
    }
    this.flushScratch();
    this.chunks.push(bytes);
    this.chunked += bytes.length;
    return this;
  }

  private flushScratch(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.buf.subarray(0, this.pos));
    this.chunked += this.pos;
    this.buf = new Uint8Array(256);
    this.pos = 0;
  }

  /** int32/int64/uint64/enum/bool field. */
  int(field: number, v: number | bigint): this {
    return this.tag(field, WireType.Varint).varint(v);
  }

  float(field: number, v: number): this {
    this.tag(field, WireType.I32);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset).setFloat32(this.pos, v, true);
    this.pos += 4;
    return this;
  }

  bytes(field: number, bytes: Uint8Array): this {
    return this.tag(field, WireType.Len).varint(bytes.length).raw(bytes);
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8Encoder.encode(s));
  }

  /** Embeds a sub-message. A Writer passed here is consumed: its chunks are shared, not copied. */
  message(field: number, sub: Writer | Uint8Array): this {
    if (sub instanceof Uint8Array) return this.bytes(field, sub);
    this.tag(field, WireType.Len).varint(sub.length);
    for (const chunk of sub.finishChunks()) this.raw(chunk);
    return this;
  }

  packedInts(field: number, values: ArrayLike<number | bigint>): this {
    const body = new Writer();
    for (let i = 0; i < values.length; i++) body.varint(values[i]!);
    return this.message(field, body);
  }

  packedFloats(field: number, values: ArrayLike<number>): this {
    // Copied so the caller may reuse its array; typed-array bytes are little-endian on every host ORT runs on.
    const body = Float32Array.from(values);
    return this.bytes(field, new Uint8Array(body.buffer));
  }

  /** The message as a list of byte runs (for writing to a file without concatenating). */
  finishChunks(): Uint8Array[] {
    this.flushScratch();
    return this.chunks;
  }

  finish(): Uint8Array {
    const chunks = this.finishChunks();
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(this.chunked);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** A field as found in a message; `start`..`end` is its whole encoding (tag included) within the buffer read. */
export type Field =
  | { field: number; wireType: 0; value: bigint; start: number; end: number }
  | { field: number; wireType: 1 | 2 | 5; bytes: Uint8Array; start: number; end: number };

function malformed(what: string, at: number): DdpsError {
  return new DdpsError('BAD_MODEL', `malformed protobuf: ${what} at byte ${at}`);
}

/** Reads a varint that must fit in a JS number (tags, lengths). Returns [value, next position]. */
function readSmallVarint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  const start = pos;
  for (;;) {
    if (pos >= buf.length) throw malformed('truncated varint', start);
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) break;
    scale *= 0x80;
    if (scale > 2 ** 49) throw malformed('varint too large for a length or tag', start);
  }
  return [value, pos];
}

function readVarint64(buf: Uint8Array, pos: number): [bigint, number] {
  let value = 0n;
  let shift = 0n;
  const start = pos;
  for (;;) {
    if (pos >= buf.length || shift > 63n) throw malformed('truncated or overlong varint', start);
    const b = buf[pos++]!;
    value |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) break;
    shift += 7n;
  }
  return [BigInt.asUintN(64, value), pos];
}

/** Iterates the fields of one message; byte payloads are views into `buf`, never copies. */
export function* readFields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const [key, afterTag] = readSmallVarint(buf, pos);
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) throw malformed('field number 0', start);
    pos = afterTag;
    if (wireType === WireType.Varint) {
      const [value, next] = readVarint64(buf, pos);
      pos = next;
      yield { field, wireType, value, start, end: pos };
      continue;
    }
    let size: number;
    if (wireType === WireType.Len) [size, pos] = readSmallVarint(buf, pos);
    else if (wireType === WireType.I64) size = 8;
    else if (wireType === WireType.I32) size = 4;
    else throw malformed(`unsupported wire type ${wireType} (field ${field})`, start);
    if (pos + size > buf.length) throw malformed(`field ${field} runs past the end (${size} bytes)`, start);
    yield { field, wireType, bytes: buf.subarray(pos, pos + size), start, end: pos + size };
    pos += size;
  }
}

/** A varint field's value as a signed int64 number (ONNX ints); throws when it is not exactly representable. */
export function fieldInt(f: Field): number {
  if (f.wireType !== WireType.Varint) throw new DdpsError('BAD_MODEL', `malformed protobuf: field ${f.field} is not a varint`);
  const v = BigInt.asIntN(64, f.value);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new DdpsError('BAD_MODEL', `malformed protobuf: field ${f.field} value ${v} exceeds 2^53`);
  }
  return Number(v);
}

export function fieldBytes(f: Field): Uint8Array {
  if (f.wireType === WireType.Varint) throw new DdpsError('BAD_MODEL', `malformed protobuf: field ${f.field} is a varint, expected bytes`);
  return f.bytes;
}

export function fieldString(f: Field): string {
  return utf8Decoder.decode(fieldBytes(f));
}

export function fieldFloat(f: Field): number {
  const b = fieldBytes(f);
  if (f.wireType !== WireType.I32) throw new DdpsError('BAD_MODEL', `malformed protobuf: field ${f.field} is not fixed32`);
  return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
}

export function readPackedInts(bytes: Uint8Array): bigint[] {
  const out: bigint[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const [v, next] = readVarint64(bytes, pos);
    out.push(BigInt.asIntN(64, v));
    pos = next;
  }
  return out;
}

export function readPackedFloats(bytes: Uint8Array): Float32Array {
  if (bytes.length % 4 !== 0) throw malformed(`packed floats of ${bytes.length} bytes`, 0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
