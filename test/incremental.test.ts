import test, { type ExecutionContext } from 'ava';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterFeatures, loadClassFeatures } from '../operators/cluster.js';
import { assign, nearestCentroid } from '../operators/math/kmeans.js';
import { rankClass } from '../operators/math/ranking.js';
import { rankStore, selectFromStore, updateRanks } from '../pipelines/rank.js';
import { CentroidIndex, centroidIndexPath } from '../storage/store/annIndex.js';
import { ScoreStore, type ClassClusters, type SampleRecord } from '../storage/store/index.js';
import { tempDir } from './helpers/paths.js';
import { seededRandom } from '../models/noise.js';

const DIM = 24;

function openStore(t: ExecutionContext): ScoreStore {
  const dir = tempDir('ddps-incremental-');
  const store = ScoreStore.open(join(dir, 'scores'), { config: { purpose: 'incremental tests' }, pack: { name: 'none', digest: 'sha256:incremental' } });
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

/** Scoring a new sample = storing its record: random unit features, random scores (no model needed). */
function synthetic(key: string, cls: number, r: () => number): SampleRecord {
  return {
    key,
    shard: `new-${key}.tar`,
    cls,
    size: [64, 64],
    transform: { scale: 1, offsetX: 0, offsetY: 0, width: 64, height: 64 },
    scoreMap: { h: 1, w: 1, data: Float32Array.of(0) },
    patches: Array.from({ length: 2 }, (_, i) => {
      const f = Float32Array.from({ length: DIM }, () => r() * 2 - 1);
      const norm = Math.hypot(...f);
      return { box: [i, 0, 32, 32], boxOriginal: [i, 0, 32, 32], score: r(), feature: f.map((v) => v / norm) };
    }),
  };
}

/** `count` samples of class `cls` (2 patches each), keys `<prefix><cls>-<i>`. */
async function add(store: ScoreStore, cls: number, count: number, prefix: string, seed: number): Promise<void> {
  const r = seededRandom(seed);
  await Promise.all(Array.from({ length: count }, (_, i) => store.putSample(synthetic(`${prefix}${cls}-${String(i).padStart(4, '0')}`, cls, r))));
}

/** Classes 0, 1, 2 with 200, 300, 100 patches, ranked. */
async function rankedStore(t: ExecutionContext): Promise<ScoreStore> {
  const store = openStore(t);
  await add(store, 0, 100, 'old', 1);
  await add(store, 1, 150, 'old', 2);
  await add(store, 2, 50, 'old', 3);
  await rankStore(store, { seed: 4 });
  return store;
}

/** Every patch of the class assigned to `rec`'s centroids from scratch, ranked by the same rules. */
function fromScratch(store: ScoreStore, cls: number, rec: ClassClusters) {
  const data = loadClassFeatures(store, cls);
  const { k, data: centroids } = rec.centroids;
  const { clusters, distances } = assign(data.features, data.patches.length, centroids, k, DIM);
  return rankClass(
    k,
    data.patches.map((p, i) => ({ key: p.key, index: p.index, cluster: clusters[i], distance: distances[i], score: p.score, boxOriginal: p.boxOriginal })),
    data.patches.map((p) => p.score),
  );
}

const memberMap = (rec: ClassClusters) => new Map(rec.members.map((m) => [`${m.key}#${m.index}`, m]));

test('a small addition is folded in: old members keep cluster and distance, new ones join their nearest centroid', async (t) => {
  const store = await rankedStore(t);
  const before = [0, 1, 2].map((c) => store.getClassClusters(c)!);
  await add(store, 0, 10, 'new', 5); // 20 patches = 10 % of class 0
  t.deepEqual(await updateRanks(store), { incremental: [0], reclustered: [], unchanged: [1, 2] });

  const after = store.getClassClusters(0)!;
  t.deepEqual(after.centroids, before[0].centroids);
  t.is(after.members.length, 220);
  t.like(after.info, { seed: 4, clusters: 32, clustered: 200, added: 20 });
  const old = memberMap(before[0]);
  const data = loadClassFeatures(store, 0);
  const { k, data: centroids } = after.centroids;
  let fresh = 0;
  for (const m of after.members) {
    const was = old.get(`${m.key}#${m.index}`);
    if (was !== undefined) {
      t.is(m.cluster, was.cluster);
      t.is(m.distance, was.distance);
      continue;
    }
    fresh++;
    const i = data.patches.findIndex((p) => p.key === m.key && p.index === m.index);
    t.is(m.cluster, nearestCentroid(data.features, i, centroids, k, DIM), `${m.key}#${m.index} goes to its nearest centroid (brute force)`);
  }
  t.is(fresh, 20);
  // The same as assigning every patch to these centroids from scratch, ranks and cluster order included.
  t.deepEqual({ members: after.members, order: after.order }, fromScratch(store, 0, after));
  t.deepEqual(store.getClassClusters(1), before[1]);
  t.deepEqual(store.getClassClusters(2), before[2]);
  // Nothing new: nothing to do.
  t.deepEqual(await updateRanks(store), { incremental: [], reclustered: [], unchanged: [0, 1, 2] });
});

test('a big addition re-clusters that class only; additions count up to the threshold; selection stays valid', async (t) => {
  const store = await rankedStore(t);
  const before = [0, 1, 2].map((c) => store.getClassClusters(c)!);
  await add(store, 1, 35, 'new', 6); // 70 patches > 20 % of 300
  await add(store, 2, 5, 'new', 7); // 10 patches <= 20 % of 100
  t.deepEqual(await updateRanks(store), { incremental: [2], reclustered: [1], unchanged: [0] });

  const re = store.getClassClusters(1)!;
  t.notDeepEqual(re.centroids.data, before[1].centroids.data);
  t.like(re.info, { seed: 4, clusters: 32, clustered: 370, added: 0 });
  t.deepEqual(re, await clusterFeatures(loadClassFeatures(store, 1), { seed: 4 }), 'what a from-scratch ranking of the class gives');
  t.deepEqual(store.getClassClusters(0), before[0]);
  t.like(store.getClassClusters(2)!.info, { clustered: 100, added: 10 });
  // The persisted index now holds the new centroids: it loads without being rewritten.
  const path = centroidIndexPath(store.dir, 1);
  const stamp = statSync(path).mtimeMs;
  const index = CentroidIndex.load(store.dir, 1, re.centroids);
  t.is(statSync(path).mtimeMs, stamp);
  for (let c = 0; c < re.centroids.k; c++) t.is(index.nearest(re.centroids.data.subarray(c * DIM, (c + 1) * DIM)), c);

  for (const ipc of [1, 10, 50]) {
    const needed = ipc <= 10 ? 4 * ipc : ipc;
    const sel = selectFromStore(store, { ipc });
    t.deepEqual(
      sel.map((s) => [s.cls, s.patches.length, s.short]),
      [
        [0, needed, false],
        [1, needed, false],
        [2, needed, false],
      ],
    );
  }

  // 10 more patches for class 2: 10 + 10 = 20, not above 20 % of 100; 2 more: 22, above.
  await add(store, 2, 5, 'more', 8);
  t.deepEqual(await updateRanks(store, { classes: [2] }), { incremental: [2], reclustered: [], unchanged: [] });
  await add(store, 2, 1, 'last', 9);
  t.deepEqual(await updateRanks(store, { classes: [2] }), { incremental: [], reclustered: [2], unchanged: [] });
  t.like(store.getClassClusters(2)!.info, { clustered: 122, added: 0 });
});

test('threshold and seed options; classes never ranked get clustered', async (t) => {
  const store = await rankedStore(t);
  await add(store, 0, 1, 'new', 10);
  t.deepEqual(await updateRanks(store, { threshold: 0, seed: 9 }), { incremental: [], reclustered: [0], unchanged: [1, 2] });
  t.like(store.getClassClusters(0)!.info, { seed: 9, clustered: 202 });
  await add(store, 5, 3, 'new', 11);
  t.deepEqual(await updateRanks(store, { classes: [5] }), { incremental: [], reclustered: [5], unchanged: [] });
  t.is(store.getClassClusters(5)!.centroids.k, 6);
  await t.throwsAsync(updateRanks(store, { threshold: -1 }), { code: 'BAD_ARGUMENT' } as never);
});

test('a sample re-put with fewer patches drops the missing members', async (t) => {
  const store = await rankedStore(t);
  const key = 'old2-0007';
  const rec = store.getSample(key)!;
  await store.putSample({ ...rec, patches: rec.patches.slice(0, 1) });
  t.deepEqual(await updateRanks(store), { incremental: [2], reclustered: [], unchanged: [0, 1] });
  const after = store.getClassClusters(2)!;
  t.is(after.members.length, 99);
  t.false(after.members.some((m) => m.key === key && m.index === 1));
  t.deepEqual({ members: after.members, order: after.order }, fromScratch(store, 2, after));
});

test('centroid index: a stale or damaged file is rebuilt from the store\'s centroids', (t) => {
  const dir = tempDir('ddps-ann-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const row = (c: number) => [c, c * c, 1];
  const centroids = (perm: number[]) => ({ k: 6, dim: 3, data: Float32Array.from(perm.flatMap(row)) });
  const a = centroids([0, 1, 2, 3, 4, 5]);
  const b = centroids([5, 4, 3, 2, 1, 0]); // the same points under other labels
  CentroidIndex.build(a).save(dir, 3);
  const path = centroidIndexPath(dir, 3);
  const bytesA = readFileSync(path);
  const q = Float32Array.from([0.2, 0, 1]);
  t.is(CentroidIndex.load(dir, 3, a).nearest(q), 0);
  t.is(CentroidIndex.load(dir, 3, b).nearest(q), 5);
  t.notDeepEqual(readFileSync(path), bytesA, 'rewritten for the new centroids');
  writeFileSync(path, 'not an index');
  t.is(CentroidIndex.load(dir, 3, a).nearest(q), 0);
  t.deepEqual(readFileSync(path), bytesA);
  t.throws(() => CentroidIndex.build(a).nearest(Float32Array.of(1, 2)), { code: 'BAD_ARGUMENT' } as never);
});
