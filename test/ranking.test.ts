import test from 'ava';
import { compareByScore, compareKeys, comparePatchIds, median, orderClusters, rankClass, rankWithinClusters } from '../operators/math/ranking.js';

test('compareKeys orders like the store (UTF-8 bytes), not like UTF-16 code units', (t) => {
  const keys = ['a', 'a/b', 'a_b', 'ü', '日本/猫', '😀', 'ｚ', 'ab', 'a', '', 'z\u{10ffff}', 'z\uffff', 'Z'];
  const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  t.deepEqual([...keys].sort(compareKeys), byBytes);
  // The case plain `<` gets wrong: U+FF5A is below U+1F600, though its UTF-16 unit is above 0xD83D.
  t.true(compareKeys('ｚ', '😀') < 0);
  t.true('ｚ' > '😀');
  t.is(compareKeys('same', 'same'), 0);
});

test('comparePatchIds: key first, then index numerically', (t) => {
  const ids = [
    { key: 'b', index: 0 },
    { key: 'a', index: 10 },
    { key: 'a', index: 2 },
  ];
  t.deepEqual(
    ids.sort(comparePatchIds).map((p) => `${p.key}#${p.index}`),
    ['a#2', 'a#10', 'b#0'],
  );
});

test('compareByScore: highest first, NaN last, ties by (key, index)', (t) => {
  const ps = [
    { key: 'b', index: 0, score: 1 },
    { key: 'a', index: 1, score: NaN },
    { key: 'c', index: 0, score: 2 },
    { key: 'a', index: 0, score: 1 },
    { key: 'd', index: 0, score: -Infinity },
  ];
  t.deepEqual(
    ps.sort(compareByScore).map((p) => `${p.key}#${p.index}`),
    ['c#0', 'a#0', 'b#0', 'a#1', 'd#0'],
  );
});

test('median: odd, even, single, none', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([10, 1, 3, 2]), 2.5);
  t.is(median([7]), 7);
  t.true(Number.isNaN(median([])));
  t.is(median(Float32Array.from([-1, -3])), -2);
});

test('rankWithinClusters: nearest first, equal distances by (key, index), grouped by cluster', (t) => {
  const ranked = rankWithinClusters([
    { key: 'a', index: 0, cluster: 0, distance: 0.3 },
    { key: 'c', index: 0, cluster: 1, distance: 0.5 },
    { key: 'b', index: 0, cluster: 0, distance: 0.1 },
    { key: 'a', index: 1, cluster: 0, distance: 0.1 },
    { key: 'c', index: 1, cluster: 1, distance: 0.2 },
  ]);
  t.deepEqual(ranked, [
    { key: 'a', index: 1, cluster: 0, rank: 0, distance: 0.1 },
    { key: 'b', index: 0, cluster: 0, rank: 1, distance: 0.1 },
    { key: 'a', index: 0, cluster: 0, rank: 2, distance: 0.3 },
    { key: 'c', index: 1, cluster: 1, rank: 0, distance: 0.2 },
    { key: 'c', index: 0, cluster: 1, rank: 1, distance: 0.5 },
  ]);
});

test('orderClusters: median score highest first, ties by index, empty clusters last', (t) => {
  // cluster 0: [5, 1, 3] -> 3; cluster 1: [3] -> 3 (tie with 0); cluster 2: none; cluster 3: [4, 9] -> 6.5
  const clusters = [0, 0, 0, 1, 3, 3];
  const scores = [5, 1, 3, 3, 4, 9];
  t.deepEqual(orderClusters(4, clusters, scores), [3, 0, 1, 2]);
  // A NaN median ranks below every number but above an empty cluster.
  t.deepEqual(orderClusters(3, [2, 1], [NaN, -100]), [1, 2, 0]);
  t.deepEqual(orderClusters(2, [], []), [0, 1]);
});

test('rankClass: both rankings of a hand-worked class', (t) => {
  const members = [
    { key: 's1', index: 0, cluster: 1, distance: 0.4 },
    { key: 's1', index: 1, cluster: 0, distance: 0.2 },
    { key: 's2', index: 0, cluster: 1, distance: 0.1 },
    { key: 's3', index: 0, cluster: 0, distance: 0.6 },
    { key: 's3', index: 1, cluster: 1, distance: 0.4 },
  ];
  // cluster 0 scores [0.9, 0.1] -> median 0.5; cluster 1 scores [0.2, 0.3, 0.6] -> median 0.3
  const { members: ranked, order } = rankClass(2, members, [0.2, 0.9, 0.3, 0.1, 0.6]);
  t.deepEqual(order, [0, 1]);
  t.deepEqual(
    ranked.map((m) => [m.key, m.index, m.cluster, m.rank]),
    [
      ['s1', 1, 0, 0],
      ['s3', 0, 0, 1],
      ['s2', 0, 1, 0],
      ['s1', 0, 1, 1], // 0.4 tie with s3#1: s1 first
      ['s3', 1, 1, 2],
    ],
  );
});
