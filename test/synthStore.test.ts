import test from 'ava';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { ScoreStore } from '../storage/store/index.js';
import { readSamples } from '../storage/webdataset/index.js';
import { ensureSyntheticStore, sampleKeyOf, writeSyntheticStore, type SyntheticOptions } from '../scripts/synthStore.js';
import { tempDir } from './helpers/paths.js';

const SMALL = { classes: 3, samplesPerClass: 4, patchesPerSample: 2, dim: 16, imageSize: 64, patchSize: 24, mapSize: 4, samplesPerShard: 5, modes: 3, seed: 7 };

function options(t: import('ava').ExecutionContext, extra: Partial<SyntheticOptions> = {}): SyntheticOptions {
  const dir = tempDir('ddps-synth-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { ...SMALL, ...extra, out: join(dir, 'synthetic') };
}

test('synthetic store: every sample in the store and in its shard, unit features, boxes inside the images, byte-identical twice', async (t) => {
  const a = await writeSyntheticStore(options(t));
  const b = await writeSyntheticStore(options(t));
  t.deepEqual(
    a.shards.map((s) => s.split('/').pop()),
    ['train-000000.tar', 'train-000001.tar', 'train-000002.tar'],
  );
  a.shards.forEach((s, i) => t.true(readFileSync(s).equals(readFileSync(b.shards[i]!)), s));
  const sa = ScoreStore.open(a.storeDir, { readOnly: true });
  const sb = ScoreStore.open(b.storeDir, { readOnly: true });
  t.teardown(async () => {
    await sa.close();
    await sb.close();
  });
  const counts = sa.counts();
  t.deepEqual([...counts.perClass], [0, 1, 2].map((c) => [c, { samples: 4, patches: 8 }]));
  t.deepEqual((sa.config as { classes: string[] }).classes, a.classNames);
  const samples = [...sa.samples()];
  const located = (list: typeof samples): unknown[] => list.map((s) => ({ ...s, shard: s.shard.split('/').pop() }));
  t.deepEqual(located(samples), located([...sb.samples()]), 'the same store but for where its shards are');
  const images = new Map<string, Buffer>();
  for await (const s of readSamples(a.shards)) images.set(s.__key__, s.jpg as Buffer);
  for (const s of samples) {
    t.is(s.key, sampleKeyOf(s.cls, Number(s.key.slice(5))));
    const meta = await sharp(images.get(s.key)!).metadata();
    t.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 64, 64]);
    t.true(s.shard.endsWith(`train-00000${Math.floor((s.cls * 4 + Number(s.key.slice(5))) / 5)}.tar`));
    for (const p of s.patches) {
      t.is(Math.round(1e5 * Math.hypot(...p.feature!)), 1e5);
      t.true(p.box[0] >= 0 && p.box[1] >= 0 && p.box[0] + 24 <= 64 && p.box[1] + 24 <= 64);
      t.deepEqual(p.boxOriginal, p.box);
    }
  }
});

test('synthetic store: features gather around `modes` directions per class; an existing store with the same options is reused', async (t) => {
  const opts = options(t, { spread: 0, samplesPerClass: 10 });
  const made = await ensureSyntheticStore(opts);
  const store = ScoreStore.open(made.storeDir, { readOnly: true });
  for (const cls of [0, 1, 2]) {
    const distinct = new Set([...store.classPatches(cls)].map((p) => Buffer.from(p.feature!.buffer).toString('hex')));
    t.true(distinct.size <= 3 && distinct.size >= 2, `class ${cls}: ${distinct.size} directions`);
  }
  await store.close();
  const stamp = statSync(join(made.storeDir, 'data.mdb')).mtimeMs;
  t.deepEqual(await ensureSyntheticStore(opts), made);
  t.is(statSync(join(made.storeDir, 'data.mdb')).mtimeMs, stamp);
});
