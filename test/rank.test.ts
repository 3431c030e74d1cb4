import test, { type ExecutionContext } from 'ava';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { isDdpsError } from '../core/errors.js';
import { cluster, clusterFeatures, loadClassFeatures } from '../operators/cluster.js';
import { assign } from '../operators/math/kmeans.js';
import { compareByScore, rankClass } from '../operators/math/ranking.js';
import { rankStore, selectFromStore } from '../pipelines/rank.js';
import { centroidIndexPath } from '../storage/store/annIndex.js';
import { ScoreStore, type SampleRecord } from '../storage/store/index.js';
import { tempDir } from './helpers/paths.js';
import { seededRandom } from '../models/noise.js';

const CONFIG = { purpose: 'rank tests' };
const PACK = { name: 'none', digest: 'sha256:rank-tests' };
const DIM = 32;

function openStore(t: ExecutionContext | undefined): ScoreStore {
  const dir = tempDir('ddps-rank-');
  const store = ScoreStore.open(join(dir, 'scores'), { config: CONFIG, pack: PACK });
  t?.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

/** A sample with `patches` random unit features and random scores, as scoring would have stored it. */
function synthetic(key: string, cls: number, patches: number, r: () => number): SampleRecord {
  return {
    key,
    shard: `train-${key.slice(0, 3)}.tar`,
    cls,
    size: [64, 64],
    transform: { scale: 1, offsetX: 0, offsetY: 0, width: 64, height: 64 },
    scoreMap: { h: 1, w: 1, data: Float32Array.of(0) },
    patches: Array.from({ length: patches }, (_, i) => {
      const f = Float32Array.from({ length: DIM }, () => r() * 2 - 1);
      const norm = Math.hypot(...f);
      return { box: [i, 0, 32, 32], boxOriginal: [2 * i, 0, 64, 64.5], score: r(), feature: f.map((v) => v / norm) };
    }),
  };
}

/** `perClass[c]` samples of class c with `patches` patches each; sample keys are `<cls 3 digits>-<n 5 digits>`. */
function makeSamples(perClass: number[], patches: number, seed: number): SampleRecord[] {
  const r = seededRandom(seed);
  return perClass.flatMap((n, cls) => Array.from({ length: n }, (_, i) => synthetic(`${String(cls).padStart(3, '0')}-${String(i).padStart(5, '0')}`, cls, patches, r)));
}

const fill = (store: ScoreStore, samples: SampleRecord[]): Promise<unknown> => Promise.all(samples.map((s) => store.putSample(s)));

/** 10 classes, ~2000 samples of 3 patches; class 9 has only 10 samples (30 patches). */
const BIG = [220, 220, 220, 220, 220, 220, 220, 220, 220, 10];
const big = (async () => {
  const store = openStore(undefined);
  await fill(store, makeSamples(BIG, 3, 1));
  await rankStore(store);
  return store;
})();
test.after.always(async () => {
  const store = await big;
  const dir = store.dir;
  await store.close();
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

test('rankStore: K = min(32, n), every patch a member, members nearest their centroid, both rankings as specified', async (t) => {
  const store = openStore(t);
  await fill(store, makeSamples([4, 60], 2, 2)); // class 0: 8 patches, class 1: 120
  const summaries = await rankStore(store);
  t.deepEqual(
    summaries.map((s) => [s.cls, s.k, s.patches]),
    [
      [0, 8, 8],
      [1, 32, 120],
    ],
  );
  for (const cls of [0, 1]) {
    const rec = store.getClassClusters(cls)!;
    const data = loadClassFeatures(store, cls);
    t.is(rec.centroids.dim, DIM);
    t.is(rec.members.length, data.patches.length);
    t.like(rec.info, { seed: 0, clusters: 32, clustered: data.patches.length, added: 0 });
    // Reassigning every patch to the stored centroids and ranking by the rules gives the stored record.
    const { clusters, distances } = assign(data.features, data.patches.length, rec.centroids.data, rec.centroids.k, DIM);
    const expected = rankClass(
      rec.centroids.k,
      data.patches.map((p, i) => ({ key: p.key, index: p.index, cluster: clusters[i], distance: distances[i] })),
      data.patches.map((p) => p.score),
    );
    t.deepEqual(rec.members, expected.members);
    t.deepEqual(rec.order, expected.order);
    t.true(existsSync(centroidIndexPath(store.dir, cls)));
  }
  // With K = n each patch is its own cluster at distance 0.
  t.true(store.getClassClusters(0)!.members.every((m) => m.rank === 0 && m.distance === 0));
});

test('clustering is seeded and deterministic: same store twice, and the same samples inserted in another order', async (t) => {
  const samples = makeSamples([30, 50, 20], 3, 3);
  const a = openStore(t);
  const b = openStore(t);
  await fill(a, samples);
  for (const s of [...samples].reverse()) await b.putSample(s);
  await rankStore(a, { seed: 11 });
  await rankStore(b, { seed: 11 });
  const first = [0, 1, 2].map((c) => a.getClassClusters(c));
  t.deepEqual(
    [0, 1, 2].map((c) => b.getClassClusters(c)),
    first,
  );
  await rankStore(a, { seed: 11 });
  t.deepEqual(
    [0, 1, 2].map((c) => a.getClassClusters(c)),
    first,
  );
  t.is(first[1]!.info?.seed, 11);
  // The pure path agrees with what the store holds.
  t.deepEqual(clusterFeatures(loadClassFeatures(a, 1), { seed: 11 }), first[1]);
});

test('cluster operator: one summary per class in stream order; classes option ranks only those', async (t) => {
  const store = openStore(t);
  await fill(store, makeSamples([5, 5, 5], 2, 4));
  const out = await lastValueFrom(from([2, 0, 7]).pipe(cluster(store, { clusters: 4 }), toArray()));
  t.deepEqual(
    out.map((s) => [s.cls, s.k, s.patches]),
    [
      [2, 4, 10],
      [0, 4, 10],
      [7, 0, 0],
    ],
  );
  t.is(store.getClassClusters(1), undefined);
  t.is(store.getClassClusters(7), undefined);
  await rankStore(store, { classes: [1] });
  t.is(store.getClassClusters(1)!.centroids.k, 10);
});

test('selectFromStore: exact counts for IPC 1, 10, 50 over all classes and a 3-class subset; short classes flagged', async (t) => {
  const store = await big;
  for (const ipc of [1, 10, 50]) {
    const needed = ipc <= 10 ? 4 * ipc : ipc;
    const all = selectFromStore(store, { ipc });
    t.deepEqual(
      all.map((s) => s.cls),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    for (const s of all) {
      t.is(s.needed, needed);
      const supply = BIG[s.cls] * 3;
      t.is(s.patches.length, Math.min(needed, supply), `class ${s.cls} ipc ${ipc}`);
      t.is(s.short, supply < needed);
      t.is(new Set(s.patches.map((p) => `${p.key}#${p.index}`)).size, s.patches.length);
    }
    const subset = selectFromStore(store, { ipc, classes: [7, 2, 9] });
    t.deepEqual(subset, [all[7], all[2], all[9]]);
  }
  t.true(selectFromStore(store, { ipc: 10 })[9].short);
  t.false(selectFromStore(store, { ipc: 1 })[9].short);
});

test('selectFromStore: the picks follow the quota rule and carry the stored facts', async (t) => {
  const store = await big;
  const cls = 3;
  const rec = store.getClassClusters(cls)!;
  const members = new Map(rec.members.map((m) => [`${m.key}#${m.index}`, m]));
  const patches = new Map([...store.classPatches(cls)].map((p) => [`${p.key}#${p.index}`, p]));
  const size = (c: number): number => rec.members.filter((m) => m.cluster === c).length;
  for (const [ipc, q] of [
    [10, 4],
    [50, 5],
  ] as const) {
    t.true(rec.order.slice(0, 10).every((c) => size(c) >= q), 'the top clusters are big enough for the quota');
    const [sel] = selectFromStore(store, { ipc, classes: [cls] });
    // P = 10 q: exactly q from each top cluster, in cluster order, by rank.
    t.deepEqual(
      sel.patches.map((p) => [p.cluster, p.rank]),
      rec.order.slice(0, 10).flatMap((c) => Array.from({ length: q }, (_, r) => [c, r])),
    );
  }
  // IPC 1: P = 4 < N gives q = 0: the class's four best patches, best first.
  const [one] = selectFromStore(store, { ipc: 1, classes: [cls] });
  const best = [...patches.values()].sort(compareByScore).slice(0, 4);
  t.deepEqual(
    one.patches.map((p) => `${p.key}#${p.index}`),
    best.map((p) => `${p.key}#${p.index}`),
  );
  for (const p of [...one.patches, ...selectFromStore(store, { ipc: 100, classes: [cls] })[0].patches]) {
    const id = `${p.key}#${p.index}`;
    t.is(p.cls, cls);
    t.is(p.shard, `train-${p.key.slice(0, 3)}.tar`);
    t.is(p.score, patches.get(id)!.score);
    t.deepEqual(p.boxOriginal, patches.get(id)!.boxOriginal);
    t.like(members.get(id), { cluster: p.cluster, rank: p.rank });
  }
});

test('IPC 10, 50 and 100 over ~2000 samples / 10 classes: every class its quota, the short one all it has (latency: npm run bench)', async (t) => {
  const store = await big;
  const counts = [10, 50, 100].map((ipc) => selectFromStore(store, { ipc }).reduce((n, s) => n + s.patches.length, 0));
  t.deepEqual(counts, [9 * 40 + 30, 9 * 50 + 30, 9 * 100 + 30]);
});

test('selection needs an up-to-date ranking; a class without samples selects nothing', async (t) => {
  const store = openStore(t);
  await fill(store, makeSamples([10, 10], 2, 5));
  t.true(isDdpsError(t.throws(() => selectFromStore(store, { ipc: 1 })), 'BAD_ARGUMENT'));
  await rankStore(store);
  t.deepEqual(selectFromStore(store, { ipc: 1, classes: [5] }), [{ cls: 5, needed: 4, patches: [], short: true }]);
  const extra = makeSamples([11], 2, 6)[10]; // a new sample of class 0, scored after ranking
  await store.putSample(extra);
  const err = t.throws(() => selectFromStore(store, { ipc: 1 }));
  t.true(isDdpsError(err, 'STORE_MISMATCH'));
  t.regex(err!.message, /class 0 is out of date.*22 patches but its clusters hold 20/);
  t.is(selectFromStore(store, { ipc: 1, classes: [1] })[0].patches.length, 4);
  t.true(isDdpsError(t.throws(() => selectFromStore(store, { ipc: 0 })), 'BAD_ARGUMENT'));
});

test('dedup skips a patch whose feature duplicates a selected one', async (t) => {
  const store = openStore(t);
  const samples = makeSamples([40], 1, 7);
  // Sample 1's patch is sample 0's feature with its score just below.
  samples[1].patches[0].feature = samples[0].patches[0].feature;
  samples[0].patches[0].score = 10;
  samples[1].patches[0].score = 9;
  await fill(store, samples);
  await rankStore(store);
  const plain = selectFromStore(store, { ipc: 1 })[0].patches.map((p) => p.key);
  const dedup = selectFromStore(store, { ipc: 1, dedup: 0.95 })[0].patches.map((p) => p.key);
  t.deepEqual(plain.slice(0, 2), ['000-00000', '000-00001']);
  t.deepEqual(dedup, [plain[0], ...plain.slice(2), selectFromStore(store, { ipc: 2 })[0].patches[4].key]);
});
