import { DdpsError } from '../core/errors.js';

/**
 * Seeded Gaussian noise keyed by (seed, key, index) (METHOD.md Stage I): a sample's noise depends only
 * on its own key, never on batch size, worker count or the order in which samples arrive.
 *
 * Scheme (frozen: changing it changes every stored score): the 128-bit MurmurHash3_x86_128 (seed 0) of
 * the message [seed as int64 LE][index as int64 LE][UTF-8 key] is the state of a xoshiro128**
 * generator; consecutive pairs of its 32-bit outputs become two normals by Box-Muller. The hash
 * mixes all 128 bits, which xoshiro needs: its first outputs depend on only part of its state.
 */

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** MurmurHash3_x86_128 of `data` as four uint32 words (h1..h4), as Appleby's reference computes it. */
export function murmur3x86_128(data: Uint8Array, seed = 0): [number, number, number, number] {
  let h1 = seed | 0;
  let h2 = seed | 0;
  let h3 = seed | 0;
  let h4 = seed | 0;
  const len = data.length;
  const blocks = len >>> 4;
  const word = (i: number): number => data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
  for (let b = 0; b < blocks; b++) {
    const o = b << 4;
    let k1 = word(o);
    let k2 = word(o + 4);
    let k3 = word(o + 8);
    let k4 = word(o + 12);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const tail = blocks << 4;
  const rest = len & 15;
  const k = [0, 0, 0, 0];
  for (let i = 0; i < rest; i++) k[i >>> 2] |= data[tail + i] << ((i & 3) << 3);
  if (rest > 12) h4 ^= Math.imul(rotl(Math.imul(k[3], C4), 18), C1);
  if (rest > 8) h3 ^= Math.imul(rotl(Math.imul(k[2], C3), 17), C4);
  if (rest > 4) h2 ^= Math.imul(rotl(Math.imul(k[1], C2), 16), C3);
  if (rest > 0) h1 ^= Math.imul(rotl(Math.imul(k[0], C1), 15), C2);
  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

const encoder = new TextEncoder();

function checkInteger(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) {
    throw new DdpsError('BAD_ARGUMENT', `noise ${name} is ${v}, expected an integer >= ${min}`);
  }
}

/** Little-endian int64 of a safe integer (two's complement for negatives). */
function putInt64(view: DataView, offset: number, v: number): void {
  view.setBigInt64(offset, BigInt(v), true);
}

/** The xoshiro128** state for (seed, key, index). */
function streamState(seed: number, key: string, index: number): [number, number, number, number] {
  const keyBytes = encoder.encode(key);
  const msg = new Uint8Array(16 + keyBytes.length);
  const view = new DataView(msg.buffer);
  putInt64(view, 0, seed);
  putInt64(view, 8, index);
  msg.set(keyBytes, 16);
  const s = murmur3x86_128(msg);
  // The all-zero state is xoshiro's one fixed point; the hash reaches it with probability 2^-128.
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  return s;
}

const TWO_PI_OVER_2_32 = (2 * Math.PI) / 4294967296;
const INV_2_32 = 1 / 4294967296;

/** xoshiro128** over the state of (seed, key, index): the next uint32 per call. */
function xoshiro128(seed: number, key: string, index: number): () => number {
  checkInteger('seed', seed, Number.MIN_SAFE_INTEGER);
  checkInteger('index', index, 0);
  let [s0, s1, s2, s3] = streamState(seed, key, index);
  return () => {
    const out = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return out;
  };
}

/**
 * The first `n` standard normals of the stream (seed, key, index), as float32 (Box-Muller on pairs of
 * draws). Any `n` gives a prefix of the same stream. `out` (length >= n) receives them in its first n entries.
 */
export function gaussianNoise(seed: number, key: string, index: number, n: number, out?: Float32Array): Float32Array {
  checkInteger('length', n, 0);
  if (out !== undefined && out.length < n) {
    throw new DdpsError('BAD_ARGUMENT', `noise output has ${out.length} values, expected at least ${n}`);
  }
  const res = out === undefined ? new Float32Array(n) : out.length === n ? out : out.subarray(0, n);
  const next = xoshiro128(seed, key, index);
  for (let i = 0; i < n; i += 2) {
    // u in (0, 1]: log never sees 0.
    const r = Math.sqrt(-2 * Math.log((next() + 1) * INV_2_32));
    const theta = next() * TWO_PI_OVER_2_32;
    res[i] = r * Math.cos(theta);
    if (i + 1 < n) res[i + 1] = r * Math.sin(theta);
  }
  return res;
}

/**
 * Uniform numbers in [0, 1) from the stream (seed, key, index): the same generator as gaussianNoise's,
 * so callers pick indices the noise never uses. Indices in use: Stage I noise 0..timesteps, DIFT
 * 1e6 + ..., RANDOM_PATCH_STREAM 2e6, CLASSIFIER_CROP_STREAM 3e6, FKD_STREAM 4e6 + epoch,
 * REPLAY_STREAM 5e6 + epoch, RANDOM_SUBSET_STREAM 6e6.
 */
export function keyedUniform(seed: number, key: string, index: number): () => number {
  const next = xoshiro128(seed, key, index);
  return () => next() * INV_2_32;
}

/** Uniform whole number in [0, n) from a uniform draw in [0, 1). */
export function randomInt(next: () => number, n: number): number {
  return Math.min(n - 1, Math.floor(next() * n));
}

/** A small, fast seeded PRNG (mulberry32), uniform in [0, 1): for k-means++ and tests, not for noise. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
