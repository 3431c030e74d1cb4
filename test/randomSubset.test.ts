import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyedUniform } from '../models/noise.js';
import { centreSquare, buildRandomSubset, RANDOM_SUBSET_STREAM } from '../pipelines/randomSubset.js';
import { ShardWriter, readSamples, sampleClass } from '../storage/webdataset/index.js';
import { DATA, tempDir } from './helpers/paths.js';
import { needs } from './helpers/needs.js';
import test from 'ava';

const TRAIN = join(DATA, 'cifar10/train-000000.tar');
const NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

async function provenance(dir: string): Promise<{ key: string; cls: number; sources: string[] }[]> {
  const out = [];
  for await (const s of readSamples(join(dir, 'distilled-000000.tar'))) {
    const json = JSON.parse(s.json!.toString()) as { class: number; cells: { source: string }[] };
    out.push({ key: s.__key__, cls: json.class, sources: json.cells.map((c) => c.source) });
  }
  return out;
}

test('centreSquare: the largest centred square', (t) => {
  t.deepEqual(centreSquare(32, 32), [0, 0, 32, 32]);
  t.deepEqual(centreSquare(300, 200), [50, 0, 200, 200]);
  t.deepEqual(centreSquare(201, 300), [0, 49, 201, 201]);
});

needs('shared')('buildRandomSubset: per class the IPC samples with the smallest keyed draws, whatever the shard order; reused', async (t) => {
  // The source again, split into two shards in reverse order: the subset must not change.
  const split = tempDir('ddps-random-src-');
  const all: { sample: Record<string, unknown>; cls: number }[] = [];
  for await (const s of readSamples(TRAIN)) {
    const { __url__: _, ...rest } = s;
    all.push({ sample: rest, cls: sampleClass(s)! });
  }
  const writer = new ShardWriter(join(split, 'part-%06d.tar'), { maxcount: 2500 });
  for (const { sample } of [...all].reverse()) await writer.write(sample as { __key__: string });
  await writer.close();

  const opts = { classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], ipc: 2, mosaic: false, outputSize: 32, classNames: NAMES, seed: 3 };
  const a = await buildRandomSubset({ ...opts, source: TRAIN, outDir: tempDir('ddps-random-a-') });
  const b = await buildRandomSubset({ ...opts, source: join(split, 'part-{000000..000001}.tar'), outDir: tempDir('ddps-random-b-') });
  t.false(a.reused);
  t.is(a.sourceImages, 5000);
  t.is(a.manifest.images, 20);
  t.is(a.manifest.createdBy, 'ddps evaluate --compare random');

  const expected = new Map<number, string[]>();
  for (let c = 0; c < 10; c++) {
    const keys = all.filter((s) => s.cls === c).map((s) => s.sample.__key__ as string);
    expected.set(c, keys.map((k) => ({ k, u: keyedUniform(3, k, RANDOM_SUBSET_STREAM)() })).sort((x, y) => x.u - y.u).slice(0, 2).map((x) => x.k));
  }
  const got = await provenance(a.dir);
  for (let c = 0; c < 10; c++) t.deepEqual(got.filter((g) => g.cls === c).flatMap((g) => g.sources), expected.get(c), `class ${c}`);
  t.deepEqual((await provenance(b.dir)).map((g) => g.sources), got.map((g) => g.sources));

  const again = await buildRandomSubset({ ...opts, source: TRAIN, outDir: a.dir });
  t.true(again.reused);
  t.deepEqual(again.manifest, JSON.parse(readFileSync(join(a.dir, 'manifest.json'), 'utf8')));
});

needs('shared')('buildRandomSubset with mosaics: four different real images per distilled image', async (t) => {
  const r = await buildRandomSubset({ source: TRAIN, classes: [3, 5], ipc: 1, mosaic: true, outputSize: 32, classNames: NAMES, seed: 0, outDir: tempDir('ddps-random-m-') });
  const got = await provenance(r.dir);
  t.deepEqual(got.map((g) => g.cls), [3, 5]);
  for (const g of got) t.is(new Set(g.sources).size, 4);
});
