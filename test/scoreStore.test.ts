import test, { type ExecutionContext } from 'ava';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isDdpsError } from '../core/errors.js';
import { ScoreStore, type ClassClusters, type SampleRecord } from '../storage/store/index.js';
import { canonicalJson, jsonDiff } from '../storage/store/meta.js';
import { decodeFloat32, decodePatch, decodePatchKey, encodeFloat32, encodePatch, patchKey } from '../storage/store/schema.js';
import { FIXTURE_CONFIG, FIXTURE_PACK, dumpStore, makeSample } from './fixtures/scoreStoreSamples.js';
import { tempDir } from './helpers/paths.js';

function storeDir(t: ExecutionContext): string {
  const dir = tempDir('ddps-store-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'scores');
}

function openStore(t: ExecutionContext, dir = storeDir(t)): ScoreStore {
  const store = ScoreStore.open(dir, { config: FIXTURE_CONFIG, pack: FIXTURE_PACK });
  t.teardown(() => store.close());
  return store;
}

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Zeros, -0, denormals, extremes, infinities, the canonical NaN and NaNs with payloads, by bit pattern. */
const SPECIAL_BITS = [
  0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000,
  0x7fc00000, 0xffc00000, 0x7f800001, 0x7fa5a5a5, 0x3f800000, 0x3dcccccd, 0x40490fdb,
];
const special = (): Float32Array => new Float32Array(Uint32Array.from(SPECIAL_BITS).buffer);

function sample(key: string, cls: number, nPatches: number, featureDim = 3): SampleRecord {
  return {
    key,
    shard: 'shard-000000.tar',
    cls,
    size: [100, 80],
    transform: { scale: 0.8, offsetX: 4, offsetY: 0, width: 64, height: 64 },
    scoreMap: { h: 2, w: 3, data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    patches: Array.from({ length: nPatches }, (_, i) => ({
      box: [i, 0, 32, 32] as [number, number, number, number],
      boxOriginal: [i / 0.8, 0, 40, 40] as [number, number, number, number],
      score: 1 - i / 10,
      feature: Float32Array.from({ length: featureDim }, (_, j) => i + j / 10),
    })),
  };
}

test('float32 bytes round-trip bit-exact: -0, denormals, infinities, NaN payloads', (t) => {
  const src = special();
  t.deepEqual(bits(decodeFloat32(encodeFloat32(src))), SPECIAL_BITS);
  // A view into a larger buffer stores only the view, and decoding at an odd offset still aligns.
  const view = new Float32Array(special().buffer, 8, 5);
  const padded = Buffer.concat([Buffer.from([9]), encodeFloat32(view)]);
  t.deepEqual(bits(decodeFloat32(padded, 1)), SPECIAL_BITS.slice(2, 7));
  t.throws(() => decodeFloat32(Buffer.alloc(7)), { code: 'STORE_MISMATCH' } as never);
});

test('patch values keep any JS number exactly, with or without a feature', (t) => {
  const p = { box: [-0, 1e-300, 3, 4] as [number, number, number, number], boxOriginal: [0.1, 0.2, 0.3, 1 / 3] as [number, number, number, number], score: -7.25e-12 };
  const back = decodePatch(encodePatch(p));
  t.true(Object.is(back.box[0], -0));
  t.deepEqual(back, p);
  t.false('feature' in back);
  const withFeature = decodePatch(encodePatch({ ...p, feature: special() }));
  t.deepEqual(bits(withFeature.feature!), SPECIAL_BITS);
});

test('patch keys sort by class number, then UTF-8 key, then index; and decode back', (t) => {
  const ordered: [number, string, number][] = [
    [1, 'a', 0],
    [1, 'a', 2],
    [1, 'a', 10],
    [1, 'a/b', 0],
    [1, 'a_b', 0],
    [1, 'ｚ', 0], // U+FF5A: EF BD 9A
    [1, '😀', 0], // F0 9F 98 80 sorts after it in UTF-8 (before it in UTF-16)
    [2, 'a', 0],
    [10, 'a', 0],
    [256, 'a', 0],
  ];
  const keys = ordered.map(([c, k, i]) => patchKey(c, k, i));
  const sorted = [...keys].sort(Buffer.compare);
  t.deepEqual(sorted, keys);
  t.deepEqual(keys.map((k) => decodePatchKey(k)), ordered.map(([cls, key, index]) => ({ cls, key, index })));
  t.throws(() => patchKey(1, 'bad\0key', 0), { code: 'BAD_ARGUMENT' } as never);
  t.throws(() => patchKey(-1, 'a', 0), { code: 'BAD_ARGUMENT' } as never);
  t.throws(() => patchKey(1.5, 'a', 0), { code: 'BAD_ARGUMENT' } as never);
});

test('canonicalJson ignores key order; jsonDiff names the differing dotted paths', (t) => {
  t.is(canonicalJson({ b: 1, a: { d: [1, 2], c: 'x' } }), '{"a":{"c":"x","d":[1,2]},"b":1}');
  t.deepEqual(jsonDiff({ a: 1, n: { x: 1, y: [1, 2] }, same: 's' }, { same: 's', n: { y: [1, 3], x: 1 }, a: 2, extra: true }), ['a', 'extra', 'n.y']);
  t.deepEqual(jsonDiff({ a: 1, b: { c: 2 } }, { b: { c: 2 }, a: 1 }), []);
});

test('a sample round-trips with its score map, patches and features, bit-exact', async (t) => {
  const store = openStore(t);
  const rec = makeSample(5, 8);
  rec.scoreMap = { h: 4, w: 4, data: special() };
  rec.patches[0]!.feature = special();
  await store.putSample(rec);
  const back = store.getSample(rec.key)!;
  t.deepEqual(bits(back.scoreMap.data), SPECIAL_BITS);
  t.deepEqual(bits(back.patches[0]!.feature!), SPECIAL_BITS);
  t.deepEqual(back, rec);
  t.true(store.has(rec.key));
  t.is(store.status(rec.key), 'scored');
  t.false(store.has('nope'));
  t.false(store.has(''), 'a key the store could never hold is simply not stored');
  t.is(store.status('a\0b'), undefined);
  t.is(store.getSample('nope'), undefined);
  // Returned arrays are copies: changing them does not change the store.
  back.scoreMap.data[0] = 42;
  t.deepEqual(bits(store.getSample(rec.key)!.scoreMap.data), SPECIAL_BITS);
});

test('a class range scan returns exactly that class, in key then index order, with tricky keys', async (t) => {
  const store = openStore(t);
  const keys = ['😀', 'a/b', 'a', 'ｚ', 'a_b', '日本/猫', 'a\u0001'];
  // Class 1's neighbours 0, 2, 10, 11 and 256 hold the same keys.
  for (const cls of [10, 1, 2, 0, 11, 256]) {
    for (const k of keys) await store.putSample(sample(`${k}@${cls}`, cls, 1 + (cls % 3)));
  }
  await store.putSample(sample('solo', 1, 2));
  const got = [...store.classPatches(1)].map((p) => `${p.key}#${p.index}`);
  t.deepEqual(got, [
    'a\u0001@1#0', 'a\u0001@1#1', 'a/b@1#0', 'a/b@1#1', 'a@1#0', 'a@1#1', 'a_b@1#0', 'a_b@1#1',
    'solo#0', 'solo#1', '日本/猫@1#0', '日本/猫@1#1', 'ｚ@1#0', 'ｚ@1#1', '😀@1#0', '😀@1#1',
  ]);
  const first = [...store.classPatches(1)][0]!;
  t.deepEqual(first.box, [0, 0, 32, 32]);
  t.deepEqual(Array.from(first.feature!), Array.from(Float32Array.from([0, 0.1, 0.2])));
  t.is([...store.classPatches(10)].length, keys.length * 2);
  t.is([...store.classPatches(256)].length, keys.length * 2);
  t.deepEqual([...store.classPatches(3)], []);
  const counts = store.counts();
  t.deepEqual([...counts.perClass.keys()], [0, 1, 2, 10, 11, 256]);
  t.deepEqual(counts.perClass.get(1), { samples: 8, patches: 16 });
  t.is(counts.samples, 6 * keys.length + 1);
  t.is(counts.patches, keys.length * (1 + 2 + 3 + 2 + 3 + 2) + 2);
  // samples() and keys() come in UTF-8 byte order.
  const all = [...store.keys()];
  t.deepEqual(all, [...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  t.deepEqual([...store.samples()].map((s) => s.key), all);
});

test('re-putting a sample replaces it: no duplicate patches, no double counts, class moves cleanly', async (t) => {
  const store = openStore(t);
  await store.putSample(sample('x', 3, 3));
  await store.putSample(sample('x', 3, 3));
  await store.putSample(sample('y', 3, 2));
  t.deepEqual(store.counts().perClass.get(3), { samples: 2, patches: 5 });
  t.is([...store.classPatches(3)].length, 5);

  await store.putSample(sample('x', 3, 1));
  t.deepEqual([...store.classPatches(3)].map((p) => `${p.key}#${p.index}`), ['x#0', 'y#0', 'y#1']);
  t.deepEqual(store.counts().perClass.get(3), { samples: 2, patches: 3 });

  await store.putSample(sample('x', 7, 2));
  t.deepEqual([...store.classPatches(3)].map((p) => `${p.key}#${p.index}`), ['y#0', 'y#1']);
  t.deepEqual([...store.classPatches(7)].map((p) => `${p.key}#${p.index}`), ['x#0', 'x#1']);
  const counts = store.counts();
  t.deepEqual([...counts.perClass], [[3, { samples: 1, patches: 2 }], [7, { samples: 1, patches: 2 }]]);
  t.is(counts.samples, 2);
  t.is(counts.patches, 4);

  await store.putSample(sample('y', 7, 2));
  t.deepEqual([...store.counts().perClass.keys()], [7], 'an emptied class leaves the counters');
});

test('skipped samples are listed with their reasons; a key has one state, the last written', async (t) => {
  const store = openStore(t);
  await store.putSkipped({ key: 'bad/1', shard: 's0.tar', stage: 'decode', reason: 'not an image', code: 'BAD_SAMPLE' });
  await store.putSkipped({ shard: 's1.tar', stage: 'read', reason: 'truncated tar', code: 'BAD_SHARD' });
  t.is(store.status('bad/1'), 'skipped');
  t.false(store.has('bad/1'));
  t.deepEqual([...store.skipped()], [
    { shard: 's1.tar', stage: 'read', reason: 'truncated tar', code: 'BAD_SHARD' },
    { key: 'bad/1', shard: 's0.tar', stage: 'decode', reason: 'not an image', code: 'BAD_SAMPLE' },
  ]);
  t.is(store.counts().skipped, 2);

  await store.putSample(sample('bad/1', 4, 2));
  t.is(store.status('bad/1'), 'scored');
  t.is(store.counts().skipped, 1);

  await store.putSkipped({ key: 'bad/1', shard: 's0.tar', reason: 'label missing', code: 'BAD_SAMPLE' });
  t.is(store.status('bad/1'), 'skipped');
  t.deepEqual([...store.classPatches(4)], []);
  t.deepEqual(store.counts(), { samples: 0, patches: 0, skipped: 2, perClass: new Map() });
});

test('invalid samples are refused naming the sample, and nothing is written', async (t) => {
  const store = openStore(t);
  const short = sample('short', 1, 1);
  short.scoreMap = { h: 3, w: 3, data: new Float32Array(8) };
  const e = await t.throwsAsync(store.putSample(short));
  t.true(isDdpsError(e, 'BAD_ARGUMENT'));
  t.is((e as { sample?: string }).sample, 'short');
  t.regex(e!.message, /3x3 = 9, got 8/);
  const empty = sample('empty-feature', 1, 1);
  empty.patches[0]!.feature = new Float32Array(0);
  await t.throwsAsync(store.putSample(empty), { message: /patch 0: feature must be a non-empty/ });
  await t.throwsAsync(store.putSample(sample('', 1, 1)), { message: /sample key "" is not usable/ });
  await t.throwsAsync(store.putSample(sample('a\0b', 1, 1)), { message: /without NUL/ });
  await t.throwsAsync(store.putSample(sample('x'.repeat(1970), 1, 1)), { message: /1970 bytes/ });
  await t.throwsAsync(store.putSample(sample('neg', -1, 1)), { message: /class -1 of sample neg/ });
  t.deepEqual(store.counts(), { samples: 0, patches: 0, skipped: 0, perClass: new Map() });
});

test('a store refuses another configuration or model pack unless allowed, naming the differences', async (t) => {
  const dir = storeDir(t);
  const first = ScoreStore.open(dir, { config: { ...FIXTURE_CONFIG, unset: undefined }, pack: { ...FIXTURE_PACK, deterministic: true } });
  t.deepEqual(first.config, FIXTURE_CONFIG);
  t.deepEqual(first.pack, { ...FIXTURE_PACK, deterministic: true });
  await first.close();
  // Same run with keys in another order: accepted.
  const reordered = ScoreStore.open(dir, { config: { tRange: [0.1, 0.7], seed: 7, patchSize: 32, imageSize: 64 }, pack: { ...FIXTURE_PACK } });
  t.deepEqual(reordered.mismatches, []);
  await reordered.close();

  const other = { ...FIXTURE_CONFIG, seed: 8, tRange: [0.2, 0.7] };
  const otherPack = { name: 'sd15', digest: 'sha256:ffff' };
  const e = t.throws(() => ScoreStore.open(dir, { config: other, pack: otherPack }));
  t.true(isDdpsError(e, 'STORE_MISMATCH'));
  t.regex(e!.message, /config seed: stored 7, given 8/);
  t.regex(e!.message, /config tRange: stored \[0.1,0.7\], given \[0.2,0.7\]/);
  t.regex(e!.message, /model pack: stored toy \(digest sha256:0123abcd\), given sd15 \(digest sha256:ffff\)/);
  t.notRegex(e!.message, /imageSize|patchSize/);
  t.regex(e!.message, /--allow-mismatch/);

  const mixed = ScoreStore.open(dir, { config: other, pack: otherPack, allowMismatch: true });
  t.is(mixed.mismatches.length, 3);
  t.deepEqual(mixed.config, FIXTURE_CONFIG, 'the store keeps its own configuration');
  t.deepEqual(mixed.pack, { ...FIXTURE_PACK, deterministic: true });
  await mixed.putSample(sample('from-other-run', 0, 1));
  await mixed.close();

  const again = ScoreStore.open(dir, { config: other, pack: otherPack, allowMismatch: true });
  t.deepEqual(again.mixed, [{ config: other, pack: otherPack }], 'a mixed-in run is recorded once');
  t.true(again.has('from-other-run'));
  await again.close();

  // Only the digest identifies a pack; its other fields are kept but not compared.
  const renamed = ScoreStore.open(dir, { config: FIXTURE_CONFIG, pack: { ...FIXTURE_PACK, name: 'toy-copy', deterministic: true } });
  t.deepEqual(renamed.mismatches, []);
  await renamed.close();

  t.throws(() => ScoreStore.open(dir, { config: [] as unknown as object, pack: FIXTURE_PACK }), { message: /configuration as a JSON object/ });
  t.throws(() => ScoreStore.open(dir, { config: {}, pack: { name: 'x' } as never }), { message: /model pack as \{ name, digest \}/ });
});

test('a reopened store has everything; read-only opens need no configuration and refuse writes', async (t) => {
  const dir = storeDir(t);
  const store = ScoreStore.open(dir, { config: FIXTURE_CONFIG, pack: FIXTURE_PACK });
  for (let i = 0; i < 12; i++) await store.putSample(makeSample(i));
  await store.putSkipped({ key: 'broken', shard: 's.tar', reason: 'bad png', code: 'BAD_SAMPLE' });
  const before = dumpStore(store);
  await store.close();

  const ro = ScoreStore.open(dir, { readOnly: true });
  t.teardown(() => ro.close());
  t.is(dumpStore(ro), before);
  t.deepEqual(ro.getSample(makeSample(3).key), makeSample(3));
  t.deepEqual(ro.config, FIXTURE_CONFIG);
  t.deepEqual(ro.pack, FIXTURE_PACK);
  t.deepEqual(ro.mixed, []);
  await t.throwsAsync(ro.putSample(makeSample(20)), { message: /opened read-only/ });
  t.throws(() => ScoreStore.open(dir, { readOnly: true, config: { ...FIXTURE_CONFIG, seed: 1 } }), { message: /config seed: stored 7, given 1/ });

  const missing = t.throws(() => ScoreStore.open(join(dir, 'nothing-here'), { readOnly: true }));
  t.true(isDdpsError(missing, 'MISSING_FILE'));
});

test('a dotted store path is still a directory', async (t) => {
  const dir = storeDir(t) + '.store';
  const store = openStore(t, dir);
  await store.putSample(makeSample(1));
  t.true(statSync(dir).isDirectory());
  t.true(existsSync(join(dir, 'data.mdb')));
});

test('class clusters round-trip with bit-exact centroids and are validated', async (t) => {
  const store = openStore(t);
  const rec: ClassClusters = {
    centroids: { k: 2, dim: 8, data: special() },
    members: [
      { key: 'a/1', index: 0, cluster: 1, rank: 0, distance: 0.25 },
      { key: 'b', index: 2, cluster: 0, rank: 0, distance: 0.5 },
    ],
    order: [1, 0],
    info: { seed: 0, samples: 2 },
  };
  await store.putClassClusters(10, rec);
  const back = store.getClassClusters(10)!;
  t.deepEqual(bits(back.centroids.data), SPECIAL_BITS);
  t.deepEqual(back, rec);
  t.is(store.getClassClusters(1), undefined);
  await t.throwsAsync(store.putClassClusters(1, { ...rec, centroids: { k: 3, dim: 8, data: special() } }), { message: /k x dim = 24/ });
  await t.throwsAsync(store.putClassClusters(1, { ...rec, order: [0, 2] }), { message: /order names cluster 2/ });
  await t.throwsAsync(store.putClassClusters(1, { ...rec, members: [{ key: 'b', index: 0, cluster: 0, rank: 0, distance: NaN }] }), { message: /finite distance/ });
  t.is(store.getClassClusters(1), undefined);
});
