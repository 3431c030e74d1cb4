import test from 'ava';
import { isDdpsError } from '../core/errors.js';
import { accumulateScore, lossMap, lossMapAt } from '../operators/math/lossMap.js';

// 2 channels x 1 x 3 cells. Differences ch0 = 1, 2, -2 and ch1 = 1, -2, 3, so the
// channel means of the squares are (1+1)/2, (4+4)/2, (4+9)/2.
const EPS = Float32Array.of(1, 2, -1, 0.5, 0, 4);
const PRED = Float32Array.of(0, 0, 1, -0.5, 2, 1);

test('lossMap: per-cell channel mean of squared differences, hand-computed', (t) => {
  t.deepEqual(Array.from(lossMap(EPS, PRED, 2, 1, 3)), [1, 4, 6.5]);
});

test('lossMap: four channels, two rows', (t) => {
  // cell 0: d = 1,1,1,1 -> 1; cell 1: d = .5 x4 -> .25; cell 2: d = 1,0,0,0 -> .25; cell 3: d = 0 -> 0
  const eps = Float32Array.of(1, 0.5, 1, 7, 1, 0.5, 0, 7, 1, 0.5, 0, 7, 1, 0.5, 0, 7);
  const pred = Float32Array.of(0, 0, 0, 7, 0, 0, 0, 7, 0, 0, 0, 7, 0, 0, 0, 7);
  t.deepEqual(Array.from(lossMap(eps, pred, 4, 2, 2)), [1, 0.25, 0.25, 0]);
});

test('lossMapAt reads the requested batch item and writes into out', (t) => {
  const eps = new Float32Array(12).fill(9);
  const pred = new Float32Array(12).fill(-3);
  eps.set(EPS, 6);
  pred.set(PRED, 6);
  const out = new Float32Array(3);
  const got = lossMapAt(eps, pred, 1, 2, 1, 3, out);
  t.is(got, out);
  t.deepEqual(Array.from(out), [1, 4, 6.5]);
  t.deepEqual(Array.from(lossMapAt(eps, pred, 0, 2, 1, 3)), [144, 144, 144]);
});

test('lossMap: bad sizes are DdpsErrors', (t) => {
  const bad = (f: () => unknown) => t.true(isDdpsError(t.throws(f), 'BAD_ARGUMENT'));
  bad(() => lossMapAt(EPS, PRED, 1, 2, 1, 3));
  bad(() => lossMap(EPS, PRED.subarray(0, 5), 2, 1, 3));
  bad(() => lossMap(EPS, PRED, 2, 1, 3, new Float32Array(2)));
  bad(() => lossMap(EPS, PRED, 0, 1, 3));
  bad(() => lossMapAt(EPS, PRED, -1, 2, 1, 3));
});

test('accumulateScore adds weight * (lossU - lossC) in place', (t) => {
  const acc = new Float32Array(3);
  const lu = Float32Array.of(1, 2, 3);
  const lc = Float32Array.of(0.5, 2, 4);
  t.is(accumulateScore(acc, lu, lc, 0.5), acc);
  t.deepEqual(Array.from(acc), [0.25, 0, -0.5]);
  accumulateScore(acc, lu, lc, 0.5);
  t.deepEqual(Array.from(acc), [0.5, 0, -1]);
});

test('accumulateScore over K timesteps gives D = mean_k (L_u,k - L_c,k)', (t) => {
  // Dyadic values: every step is exact in float32.
  const lu = [Float32Array.of(1, 0), Float32Array.of(3, 0.5), Float32Array.of(2, 0.25), Float32Array.of(2, 1.25)];
  const lc = [Float32Array.of(0, 1), Float32Array.of(1, 1), Float32Array.of(2, 0), Float32Array.of(1, 1)];
  const acc = new Float32Array(2);
  for (let k = 0; k < 4; k++) accumulateScore(acc, lu[k], lc[k], 1 / 4);
  // cell 0: (1 + 2 + 0 + 1) / 4 = 1; cell 1: (-1 - 0.5 + 0.25 + 0.25) / 4 = -0.25
  t.deepEqual(Array.from(acc), [1, -0.25]);
});

test('accumulateScore rejects maps of different sizes', (t) => {
  const e = t.throws(() => accumulateScore(new Float32Array(3), new Float32Array(3), new Float32Array(2), 1));
  t.true(isDdpsError(e, 'BAD_ARGUMENT'));
});
