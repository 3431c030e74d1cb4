import test from 'ava';
import { gaussianNoise, murmur3x86_128 } from '../models/noise.js';

const hex = (s: string, seed: number): string =>
  murmur3x86_128(new TextEncoder().encode(s), seed)
    .map((x) => x.toString(16).padStart(8, '0'))
    .join('');

function correlation(a: Float32Array, b: Float32Array): number {
  let sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sa += a[i];
    sb += b[i];
    sab += a[i] * b[i];
    saa += a[i] * a[i];
    sbb += b[i] * b[i];
  }
  const n = a.length;
  const cov = sab / n - (sa / n) * (sb / n);
  return cov / Math.sqrt((saa / n - (sa / n) ** 2) * (sbb / n - (sb / n) ** 2));
}

test('MurmurHash3_x86_128 matches the reference test vectors', (t) => {
  // From the reference implementation's test suite (PeterScott/murmur3 test.c): block and tail paths.
  t.is(hex('Hello, world!', 123), '61c9129e5a1aacd7a41621629e37c886');
  t.is(hex('Hello, world!', 321), 'd5fbdcb3c26c4193045880c5a7170f0f');
  t.is(hex('xxxxxxxxxxxxxxxxxxxxxxxxxxxx', 123), '5e40bab278825a164cf929d31fec6047');
  t.is(hex('', 0), '00000000000000000000000000000000');
});

test('frozen known answer: a change of generator breaks this test', (t) => {
  const expected = Float32Array.from([-2.8839826583862305, -0.6881480813026428, 2.217691659927368, -0.04149787127971649]);
  t.deepEqual(gaussianNoise(0, 'a', 0, 4), expected);
  t.deepEqual(gaussianNoise(0, 'a', 0, 3), expected.subarray(0, 3));
});

test('deterministic whatever the call order, batching or length', (t) => {
  const a1 = gaussianNoise(7, 'shard-0003/img_17', 2, 1001);
  const b1 = gaussianNoise(7, 'shard-0003/img_18', 2, 1001);
  const b2 = gaussianNoise(7, 'shard-0003/img_18', 2, 1001);
  const a2 = gaussianNoise(7, 'shard-0003/img_17', 2, 1001);
  t.deepEqual(a1, a2);
  t.deepEqual(b1, b2);
  // A shorter request is a prefix of a longer one (odd lengths included).
  t.deepEqual(gaussianNoise(7, 'shard-0003/img_17', 2, 5), a1.subarray(0, 5));
  // Writing into a caller's buffer gives the same numbers and leaves the rest alone.
  const buf = new Float32Array(1010).fill(42);
  const view = gaussianNoise(7, 'shard-0003/img_17', 2, 1001, buf);
  t.deepEqual(view, a1);
  t.is(view.buffer, buf.buffer);
  t.is(buf[1001], 42);
  t.is(gaussianNoise(1, 'x', 0, 0).length, 0);
});

test('different seeds, keys and indices give uncorrelated streams', (t) => {
  const n = 10_000;
  const base = gaussianNoise(0, 'a', 0, n);
  const others: Array<[string, Float32Array]> = [
    ['key b', gaussianNoise(0, 'b', 0, n)],
    ['key "a " ', gaussianNoise(0, 'a ', 0, n)],
    ['key "é"', gaussianNoise(0, 'é', 0, n)],
    ['index 1', gaussianNoise(0, 'a', 1, n)],
    ['seed 1', gaussianNoise(1, 'a', 0, n)],
    ['seed -1', gaussianNoise(-1, 'a', 0, n)],
    ['seed 2^32', gaussianNoise(2 ** 32, 'a', 0, n)],
  ];
  for (const [what, s] of others) {
    t.notDeepEqual(s.subarray(0, 4), base.subarray(0, 4), what);
    const c = correlation(base, s);
    t.true(Math.abs(c) < 0.05, `${what}: correlation ${c}`);
  }
  // seed and index are separate fields: (seed 1, index 0) is not (seed 0, index 1).
  t.true(Math.abs(correlation(gaussianNoise(1, 'k', 0, n), gaussianNoise(0, 'k', 1, n))) < 0.05);
  // Within one stream, neighbours (the Box-Muller pair included) are uncorrelated too.
  t.true(Math.abs(correlation(base.subarray(0, n - 1), base.subarray(1))) < 0.05);
});

test('standard normal moments and tails over 1e6 draws', (t) => {
  const n = 1_000_000;
  const z = gaussianNoise(123, 'stats', 0, n);
  let s1 = 0, s2 = 0, s3 = 0, s4 = 0;
  let over1 = 0, over2 = 0, over3 = 0, over4 = 0;
  for (let i = 0; i < n; i++) {
    const x = z[i];
    s1 += x;
    s2 += x * x;
    s3 += x * x * x;
    s4 += x * x * x * x;
    const ax = Math.abs(x);
    if (ax > 1) over1++;
    if (ax > 2) over2++;
    if (ax > 3) over3++;
    if (ax > 4) over4++;
  }
  const mean = s1 / n;
  const variance = s2 / n - mean * mean;
  t.true(Math.abs(mean) < 0.005, `mean ${mean}`);
  t.true(Math.abs(variance - 1) < 0.01, `variance ${variance}`);
  t.true(Math.abs(s3 / n) < 0.02, `skewness ${s3 / n}`);
  t.true(Math.abs(s4 / n - 3) < 0.05, `kurtosis ${s4 / n}`);
  // Two-sided normal tail probabilities, each within ~5 standard errors of a binomial count.
  const tail = (count: number, p: number): boolean => Math.abs(count - n * p) < 5 * Math.sqrt(n * p * (1 - p));
  t.true(tail(over1, 0.3173105), `P(|z|>1) = ${over1 / n}`);
  t.true(tail(over2, 0.0455003), `P(|z|>2) = ${over2 / n}`);
  t.true(tail(over3, 0.0026998), `P(|z|>3) = ${over3 / n}`);
  t.true(tail(over4, 0.0000633), `P(|z|>4) = ${over4 / n}`);
});

test('bad arguments are refused', (t) => {
  t.throws(() => gaussianNoise(0.5, 'a', 0, 4), { code: 'BAD_ARGUMENT' });
  t.throws(() => gaussianNoise(0, 'a', -1, 4), { code: 'BAD_ARGUMENT' });
  t.throws(() => gaussianNoise(0, 'a', 0, 4, new Float32Array(3)), { code: 'BAD_ARGUMENT' });
});
