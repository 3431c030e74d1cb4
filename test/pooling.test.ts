import test from 'ava';
import { isDdpsError } from '../core/errors.js';
import { poolScores } from '../operators/math/pooling.js';
import { seededRandom } from '../models/noise.js';


function randomMap(h: number, w: number, seed: number): Float32Array {
  const rnd = seededRandom(seed);
  const d = new Float32Array(h * w);
  for (let i = 0; i < d.length; i++) d[i] = rnd() * 2 - 1;
  return d;
}

function bruteForce(d: Float32Array, h: number, w: number, k: number, s: number): number[] {
  const out: number[] = [];
  for (let r = 0; r + k <= h; r += s) {
    for (let c = 0; c + k <= w; c += s) {
      let sum = 0;
      for (let y = r; y < r + k; y++) for (let x = c; x < c + k; x++) sum += d[y * w + x];
      out.push(sum / (k * k));
    }
  }
  return out;
}

// D[r][c] = 4r + c: a 2x2 window at (r, c) has mean 4r + c + 2.5.
const RAMP = Float32Array.from({ length: 16 }, (_, i) => i);

test('4x4 ramp, k = 2, stride 1: hand-worked window means', (t) => {
  const p = poolScores(RAMP, 4, 4, 2, 1);
  t.like(p, { rows: 3, cols: 3, windowH: 2, windowW: 2, stride: 1 });
  t.deepEqual(Array.from(p.scores), [2.5, 3.5, 4.5, 6.5, 7.5, 8.5, 10.5, 11.5, 12.5]);
});

test('4x4 ramp, k = 2, stride 2: non-overlapping windows', (t) => {
  const p = poolScores(RAMP, 4, 4, 2, 2);
  t.like(p, { rows: 2, cols: 2 });
  t.deepEqual(Array.from(p.scores), [2.5, 4.5, 10.5, 12.5]);
});

test('4x4 ramp: only valid windows (k = 3 at stride 2 fits once; k = 4 is the whole map; k = 1 is the map)', (t) => {
  const p3 = poolScores(RAMP, 4, 4, 3, 2);
  t.like(p3, { rows: 1, cols: 1 });
  t.deepEqual(Array.from(p3.scores), [5]);
  const p4 = poolScores(RAMP, 4, 4, 4, 1);
  t.deepEqual(Array.from(p4.scores), [7.5]);
  t.deepEqual(Array.from(poolScores(RAMP, 4, 4, 1, 1).scores), Array.from(RAMP));
});

test('4x4 hot cell: exactly the windows that contain it score', (t) => {
  const d = new Float32Array(16);
  d[2 * 4 + 3] = 8;
  const p = poolScores(d, 4, 4, 2, 1);
  // windows with top-left (1,2) and (2,2) contain cell (2,3)
  t.deepEqual(Array.from(p.scores), [0, 0, 0, 0, 0, 2, 0, 0, 2]);
});

test('window larger than the map: the whole map is the one window', (t) => {
  const d = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const p = poolScores(d, 3, 5, 4, 1);
  t.like(p, { rows: 1, cols: 1, windowH: 3, windowW: 5 });
  t.deepEqual(Array.from(p.scores), [8]);
  // too big in one direction only is the same rule
  t.like(poolScores(d, 3, 5, 5, 1), { rows: 1, cols: 1, windowH: 3, windowW: 5 });
});

test('matches brute force on random maps (square and not, several k and strides)', (t) => {
  const cases: Array<[number, number, number, number]> = [
    [32, 32, 28, 1],
    [32, 48, 28, 1],
    [64, 64, 28, 3],
    [17, 23, 5, 2],
    [9, 30, 9, 4],
    [10, 10, 3, 3],
    [40, 33, 1, 1],
    [31, 64, 7, 5],
  ];
  for (const [i, [h, w, k, s]] of cases.entries()) {
    const d = randomMap(h, w, 1000 + i);
    const p = poolScores(d, h, w, k, s);
    const ref = bruteForce(d, h, w, k, s);
    t.is(p.rows, Math.floor((h - k) / s) + 1);
    t.is(p.cols, Math.floor((w - k) / s) + 1);
    t.is(p.scores.length, ref.length);
    let maxErr = 0;
    for (let j = 0; j < ref.length; j++) maxErr = Math.max(maxErr, Math.abs(p.scores[j] - ref[j]));
    t.true(maxErr < 1e-12, `h=${h} w=${w} k=${k} s=${s}: max error ${maxErr}`);
  }
});

test('bad arguments are DdpsErrors', (t) => {
  const bad = (f: () => unknown) => t.true(isDdpsError(t.throws(f), 'BAD_ARGUMENT'));
  bad(() => poolScores(RAMP, 4, 5, 2, 1));
  bad(() => poolScores(RAMP, 4, 4, 0, 1));
  bad(() => poolScores(RAMP, 4, 4, 2, 0));
  bad(() => poolScores(RAMP, 4, 4, 2.5, 1));
});
