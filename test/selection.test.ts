import test from 'ava';
import { isDdpsError } from '../core/errors.js';
import { selectPatches, type Candidate } from '../operators/math/selection.js';

/** Candidate named `<cluster>.<rank>` (or `name`), patch index 0. */
const cand = (cluster: number, rank: number, score: number, name = `${cluster}.${rank}`, feature?: number[]): Candidate => ({
  key: name,
  index: 0,
  cluster,
  rank,
  score,
  ...(feature === undefined ? {} : { feature: Float32Array.from(feature) }),
});

const names = (cands: Candidate[], picked: number[]): string[] => picked.map((i) => cands[i].key);

test('quota q = floor(P / N) per top cluster in cluster order, a short cluster gives what it has, fill by score', (t) => {
  const cs = [
    cand(0, 3, 0.3),
    cand(2, 0, 0.1),
    cand(0, 0, 0.5),
    cand(1, 0, 0.6),
    cand(2, 2, 0.95),
    cand(0, 1, 0.4),
    cand(2, 1, 0.2),
    cand(0, 2, 0.9),
    cand(0, 4, 0.35),
  ];
  // 3 clusters (fewer than N = 10), P = 8 -> q = 2: 2.0 2.1 | 0.0 0.1 | 1.0 (short), then the 3 best
  // unused by score: 2.2 (0.95), 0.2 (0.9), 0.4 (0.35 beats 0.3's 0.3).
  const picked = selectPatches(cs, [2, 0, 1], { needed: 8, topClusters: 10 });
  t.deepEqual(names(cs, picked), ['2.0', '2.1', '0.0', '0.1', '1.0', '2.2', '0.2', '0.4']);
});

test('P < N gives q = 0: everything comes from the fill, in score order, ties by key', (t) => {
  // 12 singleton clusters; P = 4 (IPC 1), N = 10.
  const scores = [0.1, 0.8, 0.3, 0.8, 0.5, 0.2, 0.9, 0.05, 0.4, 0.7, 0.6, 0.15];
  const cs = scores.map((s, c) => cand(c, 0, s, `k${String(c).padStart(2, '0')}`));
  const order = Array.from({ length: 12 }, (_, c) => c);
  t.deepEqual(names(cs, selectPatches(cs, order, { needed: 4, topClusters: 10 })), ['k06', 'k01', 'k03', 'k09']);
});

test('q from each of the top N clusters only, in the given cluster order; no fill when the quota fills P', (t) => {
  // 12 clusters of 5; N = 10, P = 40 -> q = 4 from each of the 10 first in `order`.
  const cs: Candidate[] = [];
  for (let c = 0; c < 12; c++) for (let r = 0; r < 5; r++) cs.push(cand(c, r, c === 0 || c === 1 ? 100 : r));
  const order = [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
  const picked = names(cs, selectPatches(cs, order, { needed: 40, topClusters: 10 }));
  const expected = order.slice(0, 10).flatMap((c) => [0, 1, 2, 3].map((r) => `${c}.${r}`));
  t.deepEqual(picked, expected);
  // Clusters 1 and 0 (outside the top 10) give nothing despite their high scores.
  t.false(picked.some((n) => n.startsWith('0.') || n.startsWith('1.')));
});

test('N = topClusters when the class has more: P = 5, N = 2 -> q = 2, then 1 by score', (t) => {
  const cs = [cand(0, 0, 0.1), cand(0, 1, 0.2), cand(0, 2, 0.3), cand(1, 0, 0.4), cand(1, 1, 0.5), cand(1, 2, 0.45), cand(2, 0, 0.99)];
  t.deepEqual(names(cs, selectPatches(cs, [1, 0, 2], { needed: 5, topClusters: 2 })), ['1.0', '1.1', '0.0', '0.1', '2.0']);
  t.deepEqual(names(cs, selectPatches(cs, [1, 0, 2], { needed: 6, topClusters: 2 })), ['1.0', '1.1', '1.2', '0.0', '0.1', '0.2']);
});

test('a class with fewer patches than P gives all it has, quota first', (t) => {
  const cs = [cand(0, 0, 0.1), cand(1, 0, 0.9), cand(0, 1, 0.5)];
  t.deepEqual(names(cs, selectPatches(cs, [1, 0], { needed: 8, topClusters: 10 })), ['1.0', '0.0', '0.1']);
  t.deepEqual(selectPatches([], [], { needed: 8, topClusters: 10 }), []);
  t.deepEqual(selectPatches(cs, [1, 0], { needed: 0, topClusters: 10 }), []);
});

test('dedup: a near-duplicate is passed over in the quota and in the fill, which continues further down', (t) => {
  const one = [cand(0, 0, 0.5, 'a', [1, 0]), cand(0, 1, 0.4, 'a2', [1, 0.01]), cand(0, 2, 0.3, 'b', [0, 1])];
  t.deepEqual(names(one, selectPatches(one, [0], { needed: 2, topClusters: 10 })), ['a', 'a2']);
  t.deepEqual(names(one, selectPatches(one, [0], { needed: 2, topClusters: 10, dedup: 0.95 })), ['a', 'b']);

  const two = [
    cand(0, 0, 0.1, 'a', [1, 0]),
    cand(1, 0, 0.2, 'b', [0, 1]),
    cand(0, 1, 0.9, 'c', [0.999, 0.04]), // cosine 0.9992 with a
    cand(1, 1, 0.5, 'd', [-1, 0]),
  ];
  // q = floor(3 / 2) = 1: a, b; fill: c (0.9) is a near-duplicate of a, d (0.5) is next.
  t.deepEqual(names(two, selectPatches(two, [0, 1], { needed: 3, topClusters: 10, dedup: 0.95 })), ['a', 'b', 'd']);
  // Everything left is a duplicate: fewer than needed.
  t.deepEqual(names(two, selectPatches(two, [0, 1], { needed: 4, topClusters: 10, dedup: 0.95 })), ['a', 'b', 'd']);
  // Threshold 0.9995 lets c through.
  t.deepEqual(names(two, selectPatches(two, [0, 1], { needed: 3, topClusters: 10, dedup: 0.9995 })), ['a', 'b', 'c']);
});

test('bad rules and dedup without features are DdpsErrors', (t) => {
  const cs = [cand(0, 0, 1)];
  for (const rule of [
    { needed: -1, topClusters: 10 },
    { needed: 1.5, topClusters: 10 },
    { needed: 4, topClusters: 0 },
    { needed: 4, topClusters: 10, dedup: 1.5 },
    { needed: 4, topClusters: 10, dedup: 0.9 },
  ]) {
    t.true(isDdpsError(t.throws(() => selectPatches(cs, [0], rule)), 'BAD_ARGUMENT'), JSON.stringify(rule));
  }
});
