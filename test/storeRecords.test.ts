import test, { type ExecutionContext } from 'ava';
import { readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { mergeStores, openRecordFile, importRecordFile, importRecords, ScoreStore, storeDigest, storeRecords, writeRecordFile } from '../storage/store/index.js';
import { decodeSampleRecord, encodeSampleRecord } from '../storage/store/schema.js';
import { FIXTURE_CONFIG, FIXTURE_PACK, dumpSample, dumpStore, makeSample } from './fixtures/scoreStoreSamples.js';
import { tempDir } from './helpers/paths.js';

function scratch(t: ExecutionContext): string {
  const dir = tempDir('ddps-records-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function storeWith(dir: string, order: number[], opts: { config?: object; skips?: number[] } = {}): Promise<ScoreStore> {
  const store = ScoreStore.open(dir, { config: opts.config ?? FIXTURE_CONFIG, pack: FIXTURE_PACK });
  for (const i of order) await store.putSample(makeSample(i));
  for (const i of opts.skips ?? []) await store.putSkipped({ key: `skipped/${i}`, shard: 'shard-9.tar', stage: 'decode', reason: `sample ${i} is not an image`, code: 'BAD_SAMPLE' });
  return store;
}

async function digestOf(dir: string): Promise<{ digest: string; dump: string }> {
  const store = ScoreStore.open(dir, { readOnly: true });
  try {
    return { digest: storeDigest(store), dump: dumpStore(store) };
  } finally {
    await store.close();
  }
}

test('a sample record round-trips bit for bit; a damaged one is refused naming the source', (t) => {
  for (let i = 0; i < 12; i++) {
    const s = makeSample(i);
    t.is(dumpSample(decodeSampleRecord(encodeSampleRecord(s), 'x')), dumpSample(s));
  }
  const bytes = encodeSampleRecord(makeSample(3));
  t.throws(() => decodeSampleRecord(bytes.subarray(0, bytes.length - 1), 'r.tar'), { code: 'STORE_MISMATCH', message: /r\.tar: .*damaged/ } as never);
  t.throws(() => decodeSampleRecord(Buffer.concat([bytes, Buffer.from([0])]), 'r.tar'), { message: /1 bytes after the last patch/ } as never);
  t.throws(() => decodeSampleRecord(Buffer.from([200, 0, 0, 0, 1]), 'r.tar'), { message: /header of 200 bytes/ } as never);
});

test('digest: the same content written in another order gives the same digest; any change gives another', async (t) => {
  const dir = scratch(t);
  const order = Array.from({ length: 20 }, (_, i) => i);
  const shuffled = [7, 19, 0, 3, 12, 5, 18, 1, 9, 14, 2, 16, 11, 4, 8, 13, 6, 17, 10, 15];
  const a = await storeWith(join(dir, 'a'), order, { skips: [1, 2] });
  // Another history: written twice, one sample first skipped then scored, skips in another order.
  const b = await storeWith(join(dir, 'b'), [...shuffled, ...order.slice(0, 5)], { skips: [2, 1] });
  await b.putSkipped({ key: makeSample(4).key, shard: 's', reason: 'r', code: 'BAD_SAMPLE' });
  await b.putSample(makeSample(4));
  await b.addRun({ ended: 'now', scored: 1, skipped: 0, seconds: 1, stages: {}, unetPasses: 0, execution: {} });
  await b.recordImport('some-file', { scored: 3 });
  t.is(storeDigest(a), storeDigest(b));
  t.regex(storeDigest(a), /^[0-9a-f]{64}$/);

  const c = await storeWith(join(dir, 'c'), order, { skips: [1, 2] });
  const changed = makeSample(11);
  changed.patches[0]!.score = Math.fround(changed.patches[0]!.score) + 2 ** -40;
  await c.putSample(changed);
  t.not(storeDigest(c), storeDigest(a));
  const d = await storeWith(join(dir, 'd'), order, { skips: [1] });
  t.not(storeDigest(d), storeDigest(a));
  const e = await storeWith(join(dir, 'e'), order, { config: { ...FIXTURE_CONFIG, seed: 8 }, skips: [1, 2] });
  t.not(storeDigest(e), storeDigest(a));
  for (const s of [a, b, c, d, e]) await s.close();
});

test('result file: a store exported and imported into an empty store gives the same content; importing twice changes nothing', async (t) => {
  const dir = scratch(t);
  const src = await storeWith(join(dir, 'src'), Array.from({ length: 15 }, (_, i) => i), { skips: [3] });
  await src.putSkipped({ shard: 'shard-7.tar', reason: 'shard shard-7.tar is truncated', code: 'BAD_SHARD' });
  const { path, scored, skipped } = await writeRecordFile(join(dir, 'results', 'job-a.%d.tar'), { config: src.config, pack: src.pack }, storeRecords(src), { number: 2 });
  t.is(path, join(dir, 'results', 'job-a.2.tar'));
  t.deepEqual({ scored, skipped }, { scored: 15, skipped: 2 });
  t.deepEqual(readdirSync(join(dir, 'results')), ['job-a.2.tar']);
  const opened = await openRecordFile(path);
  t.deepEqual(opened.identity, { config: FIXTURE_CONFIG, pack: FIXTURE_PACK });
  await opened.records.return(undefined);

  let created = 0;
  let dst: ScoreStore | undefined;
  const storeFor = (identity: { config: object; pack: typeof FIXTURE_PACK }) => {
    if (dst === undefined) created++;
    return (dst ??= ScoreStore.open(join(dir, 'dst'), identity));
  };
  t.deepEqual(await importRecordFile(path, storeFor), { scored: 15, skipped: 2 });
  const once = storeDigest(dst!);
  t.is(once, storeDigest(src));
  t.is(dumpStore(dst!), dumpStore(src));
  await importRecordFile(path, storeFor);
  t.is(storeDigest(dst!), once);
  t.is(created, 1);

  // A file of another configuration is refused before anything is written.
  const other = await storeWith(join(dir, 'other'), [30], { config: { ...FIXTURE_CONFIG, patchSize: 48 } });
  const otherFile = await writeRecordFile(join(dir, 'results', 'job-b.%d.tar'), { config: other.config, pack: other.pack }, storeRecords(other));
  await t.throwsAsync(importRecordFile(otherFile.path, storeFor), { code: 'STORE_MISMATCH', message: /job-b\.0\.tar .*config patchSize: stored 32, given 48/ } as never);
  t.is(storeDigest(dst!), once);
  for (const s of [src, dst!, other]) await s.close();
});

test('result file: a truncated file is refused whole; an aborted write leaves no file behind', async (t) => {
  const dir = scratch(t);
  const src = await storeWith(join(dir, 'src'), Array.from({ length: 10 }, (_, i) => i));
  const { path } = await writeRecordFile(join(dir, 'r', 'cut.%d.tar'), { config: src.config, pack: src.pack }, storeRecords(src));
  truncateSync(path, statSync(path).size - 2048);
  const dst = ScoreStore.open(join(dir, 'dst'), { config: FIXTURE_CONFIG, pack: FIXTURE_PACK });
  await t.throwsAsync(importRecordFile(path, () => dst), { code: 'BAD_SHARD', message: /truncated/ } as never);

  const controller = new AbortController();
  let n = 0;
  const records = function* () {
    for (const r of storeRecords(src)) {
      if (++n === 4) controller.abort(new Error('lost the lock'));
      yield r;
    }
  };
  await t.throwsAsync(writeRecordFile(join(dir, 'aborted', 'x.%d.tar'), { config: src.config, pack: src.pack }, records(), { signal: controller.signal }), { message: 'lost the lock' });
  t.deepEqual(readdirSync(join(dir, 'aborted')), []);
  await src.close();
  await dst.close();
});

test('import: a skip record never replaces a scored sample, so the order of imports does not matter', async (t) => {
  const dir = scratch(t);
  const s = makeSample(5);
  const skip = { key: s.key, shard: s.shard, stage: 'model', reason: 'out of memory', code: 'ERROR' };
  const a = ScoreStore.open(join(dir, 'a'), { config: FIXTURE_CONFIG, pack: FIXTURE_PACK });
  t.deepEqual(await importRecords(a, [{ sample: s }, { skip }]), { scored: 1, skipped: 0 });
  const b = ScoreStore.open(join(dir, 'b'), { config: FIXTURE_CONFIG, pack: FIXTURE_PACK });
  t.deepEqual(await importRecords(b, [{ skip }, { sample: s }]), { scored: 1, skipped: 1 });
  t.is(a.status(s.key), 'scored');
  t.is(storeDigest(a), storeDigest(b));
  await a.close();
  await b.close();
});

test('merge: stores scored apart merge into one equal to scoring everything in one store; again changes nothing; other runs are refused', async (t) => {
  const dir = scratch(t);
  const all = Array.from({ length: 16 }, (_, i) => i);
  for (const [name, keys, skips] of [['a', all.slice(0, 10), [1]], ['b', all.slice(6), [2]], ['whole', all, [1, 2]]] as const) {
    await (await storeWith(join(dir, name), [...keys], { skips: [...skips] })).close();
  }
  const summary = await mergeStores(join(dir, 'merged'), [join(dir, 'a'), join(dir, 'b')]);
  t.deepEqual(summary.sources.map((s) => [s.scored, s.skipped]), [[10, 1], [10, 1]]);
  t.is(summary.samples, 16);
  const whole = await digestOf(join(dir, 'whole'));
  t.deepEqual(await digestOf(join(dir, 'merged')), whole);
  await mergeStores(join(dir, 'merged'), [join(dir, 'b'), join(dir, 'a')]);
  t.deepEqual(await digestOf(join(dir, 'merged')), whole);

  await (await storeWith(join(dir, 'seed8'), [40], { config: { ...FIXTURE_CONFIG, seed: 8 } })).close();
  await t.throwsAsync(mergeStores(join(dir, 'merged'), [join(dir, 'seed8')]), { code: 'STORE_MISMATCH', message: /different runs.*config seed: stored 7, given 8/ } as never);
  await t.throwsAsync(mergeStores(join(dir, 'fresh'), [join(dir, 'a'), join(dir, 'seed8')]), { code: 'STORE_MISMATCH', message: /seed8 differs from .*a: config seed/ } as never);
  t.deepEqual(await digestOf(join(dir, 'merged')), whole);
  await t.throwsAsync(mergeStores(join(dir, 'a'), [join(dir, 'a')]), { code: 'BAD_ARGUMENT', message: /both the target and a source/ } as never);
  const mixed = ScoreStore.open(join(dir, 'a'), { config: { ...FIXTURE_CONFIG, seed: 9 }, pack: FIXTURE_PACK, allowMismatch: true });
  await mixed.close();
  await t.throwsAsync(mergeStores(join(dir, 'fresh2'), [join(dir, 'a')]), { message: /mixes 2 runs/ } as never);
});
