import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isDdpsError } from '../core/errors.js';
import { Pack } from '../models/pack.js';
import { PackPool } from '../models/packPool.js';
import { iou } from '../operators/math/nms.js';
import { runScore, type ScoreSummary } from '../pipelines/score.js';
import { resolveScoreConfig, type ScoreConfig } from '../core/config.js';
import { ScoreStore } from '../storage/store/index.js';
import { loadClassMap, readSamples, ShardWriter } from '../storage/webdataset/index.js';
import type { DiffusionModel } from '../models/diffusion.js';
import { digest, dumpStore } from './fixtures/scoreStoreSamples.js';
import { DATA, REPO, TINY_SD, tempDir } from './helpers/paths.js';
import { TOY_SCORE, toyWorld } from './helpers/toyWorld.js';
import { needs } from './helpers/needs.js';

const CLI = join(REPO, 'dist/cli/ddps.js');

async function score(model: DiffusionModel, shards: string | string[], over: Partial<ScoreConfig> & { batchSize?: number; concurrency?: number; onError?: 'skip' | 'fail'; classes?: string } = {}): Promise<{ dir: string; summary: ScoreSummary }> {
  const world = await toyWorld();
  const { batchSize, concurrency, onError, classes, ...cfg } = over;
  const config = resolveScoreConfig({ ...TOY_SCORE, ...cfg });
  const classMap = await loadClassMap(classes ?? world.classes);
  const dir = tempDir('ddps-store-');
  const store = ScoreStore.open(dir, { config, pack: { name: model.identity.name, digest: model.identity.digest } });
  try {
    const summary = await runScore({ shards, model, store, config, labels: classMap.names, classMap, batchSize: batchSize ?? 4, concurrency: concurrency ?? 1, onError: onError ?? 'skip' });
    return { dir, summary };
  } finally {
    await store.close();
  }
}

function dumpOf(dir: string): string {
  const store = ScoreStore.open(dir, { readOnly: true });
  try {
    return dumpStore(store);
  } finally {
    void store.close();
  }
}

async function planted(shards: string[]): Promise<Map<string, [number, number, number, number]>> {
  const boxes = new Map<string, [number, number, number, number]>();
  for await (const s of readSamples(shards)) boxes.set(s.__key__, JSON.parse(String(s.json)).box);
  return boxes;
}

test('planted signal: the top patch covers the planted object in at least 95 % of images; random patches do far worse', async (t) => {
  const world = await toyWorld();
  const pack = await Pack.load(world.pack, { dift: true, intraOpThreads: 1 });
  const { dir, summary } = await score(pack, world.shards);
  await pack.close();
  t.is(summary.scored, 72);
  const boxes = await planted(world.shards);
  const store = ScoreStore.open(dir, { readOnly: true });
  let hits = 0;
  let random = 0;
  let n = 0;
  // A fixed grid of patch positions stands in for random patches: their mean hit rate is the floor.
  for (const s of store.samples()) {
    const truth = boxes.get(s.key)!;
    const top = s.patches[0]!;
    n++;
    if (iou(top.boxOriginal, truth) >= 0.5) hits++;
    const [w, h] = s.size;
    const side = top.boxOriginal[2];
    let grid = 0;
    let cells = 0;
    for (let y = 0; y + side <= h; y += 8) {
      for (let x = 0; x + side <= w; x += 8) {
        cells++;
        if (iou([x, y, side, side], truth) >= 0.5) grid++;
      }
    }
    random += grid / cells;
    t.is(top.feature?.length, 8);
  }
  await store.close();
  t.is(n, 72);
  t.true(hits / n >= 0.95, `top patch hit rate ${hits / n}`);
  t.true(random / n < 0.35, `random patch hit rate ${random / n}`);
});

test('determinism: the same store for batch size 1 and 8, and for 1 and 2 workers, in both DIFT modes', async (t) => {
  const world = await toyWorld();
  for (const diftMode of ['crop', 'shared'] as const) {
    const pack = await Pack.load(world.pack, { dift: true, intraOpThreads: 1 });
    const a = await score(pack, world.shards, { batchSize: 1, diftMode, patchesPerImage: 2 });
    const b = await score(pack, world.shards, { batchSize: 8, diftMode, patchesPerImage: 2 });
    await pack.close();
    const pool = await PackPool.open(world.pack, { workers: 2, dift: true });
    const c = await score(pool, world.shards, { batchSize: 3, concurrency: 2, diftMode, patchesPerImage: 2 });
    await pool.close();
    const da = dumpOf(a.dir);
    t.is(digest(dumpOf(b.dir)), digest(da), `${diftMode}: batch 1 vs 8`);
    t.is(digest(dumpOf(c.dir)), digest(da), `${diftMode}: 1 vs 2 workers`);
    t.is(a.summary.scored, 72);
  }
});

function runCli(args: string[]): { done: Promise<string>; kill: () => void } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  // Resolves to 'exit 0', 'exit N: <stderr>' or 'SIGKILL', so a failing run shows why.
  const done = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? (code === 0 ? 'exit 0' : `exit ${code}: ${stderr}`))));
  return { done, kill: () => child.kill('SIGKILL') };
}

test('bad input is counted, named and skipped; with --on-error fail it stops the run', async (t) => {
  const world = await toyWorld();
  const dir = tempDir('ddps-bad-');
  const good: Record<string, Buffer | string>[] = [];
  for await (const s of readSamples(world.shards[0]!)) {
    if (good.length < 6) good.push(s as unknown as Record<string, Buffer | string>);
  }
  const w = new ShardWriter(join(dir, 'bad-%06d.tar'));
  const keep = (s: Record<string, Buffer | string>) => Object.fromEntries(Object.entries(s).filter(([k]) => !k.startsWith('__')));
  await w.write({ __key__: 'ok_0', ...keep(good[0]!) });
  await w.write({ __key__: 'corrupt', png: Buffer.from('this is not a png'), cls: '1' });
  await w.write({ __key__: 'truncated_png', png: (good[1]!.png as Buffer).subarray(0, 200), cls: '1' });
  await w.write({ __key__: 'no_image', cls: '2' });
  await w.write({ __key__: 'unknown_class', png: good[2]!.png as Buffer, json: JSON.stringify({ label: 'unicorn' }) });
  await w.write({ __key__: 'no_class', png: good[3]!.png as Buffer });
  await w.write({ __key__: 'ok_1', ...keep(good[4]!) });
  const [shard] = await w.close();
  // A second shard cut in the middle of a member.
  const w2 = new ShardWriter(join(dir, 'cut-%06d.tar'));
  await w2.write({ __key__: 'ok_2', ...keep(good[5]!) });
  await w2.write({ __key__: 'lost', ...keep(good[0]!) });
  const [cut] = await w2.close();
  truncateSync(cut!, statSync(cut!).size - 1500);

  const pack = await Pack.load(world.pack, { dift: true, intraOpThreads: 1 });
  const { dir: storeDir, summary } = await score(pack, [shard!, cut!]);
  t.is(summary.scored, 3);
  const byKey = new Map(summary.skipped.map((s) => [s.key ?? `(shard ${s.url})`, s]));
  t.is(byKey.get('corrupt')?.code, 'BAD_SAMPLE');
  t.regex(byKey.get('corrupt')!.reason, /corrupt.*bad-000000\.tar/s);
  t.is(byKey.get('truncated_png')?.stage, 'decode');
  t.regex(byKey.get('no_image')!.reason, /no image/);
  t.is(byKey.get('unknown_class')?.code, 'UNKNOWN_CLASS');
  t.regex(byKey.get('unknown_class')!.reason, /unicorn/);
  t.regex(byKey.get('no_class')!.reason, /no class/);
  const shardSkip = summary.skipped.find((s) => s.code === 'BAD_SHARD');
  t.truthy(shardSkip, 'the truncated shard is reported');
  t.true(shardSkip!.url.endsWith('cut-000000.tar'));
  const store = ScoreStore.open(storeDir, { readOnly: true });
  t.deepEqual([...store.keys()].sort(), ['ok_0', 'ok_1', 'ok_2']);
  t.deepEqual([...store.skipped()].map((s) => s.key ?? '(shard)').sort(), ['(shard)', 'corrupt', 'no_class', 'no_image', 'truncated_png', 'unknown_class']);
  await store.close();

  const w3 = new ShardWriter(join(dir, 'fail-%06d.tar'));
  await w3.write({ __key__: 'ok_3', ...keep(good[1]!) });
  await w3.write({ __key__: 'corrupt', png: Buffer.from('this is not a png'), cls: '1' });
  await w3.write({ __key__: 'ok_4', ...keep(good[2]!) });
  const err = await t.throwsAsync(score(pack, await w3.close(), { onError: 'fail' }));
  t.true(isDdpsError(err, 'BAD_SAMPLE'));
  t.regex(err!.message, /"corrupt" in .*fail-000000\.tar/);
  await pack.close();
});

needs('shared')('the SD-shaped tiny-sd fixture scores real Imagenette photos end to end, grayscale JPEG included', async (t) => {
  const src = join(DATA, 'imagenette/train-000000.tar');
  const dir = tempDir('ddps-inet-');
  const w = new ShardWriter(join(dir, 'inet-%06d.tar'));
  let taken = 0;
  let gray = false;
  for await (const s of readSamples(src)) {
    const isGray = s.__key__ === 'n03417042_2156';
    if (taken < 5 || isGray) {
      const { __key__, __url__: _u, ...rest } = s;
      await w.write({ __key__, ...rest });
      taken++;
      gray ||= isGray;
    }
    if (gray && taken >= 5) break;
  }
  const shards = await w.close();
  t.true(gray);
  const pool = await PackPool.open(TINY_SD, { workers: 1, dift: true });
  const { dir: storeDir, summary } = await score(pool, shards, { imageSize: 256, patchSize: 224, timesteps: 2, classes: join(DATA, 'imagenette/classes.json') });
  await pool.close();
  t.deepEqual(summary.skipped, []);
  t.is(summary.scored, 6);
  const store = ScoreStore.open(storeDir, { readOnly: true });
  const g = store.getSample('n03417042_2156')!;
  t.deepEqual(g.size, [224, 224]);
  t.deepEqual([g.scoreMap.h, g.scoreMap.w], [32, 32]);
  for (const s of store.samples()) {
    t.true(s.scoreMap.data.every(Number.isFinite));
    const p = s.patches[0]!;
    t.is(p.feature!.length, 64);
    t.true(Math.abs(Math.hypot(...p.feature!) - 1) < 1e-5);
    t.true(p.boxOriginal[0] >= 0 && p.boxOriginal[0] + p.boxOriginal[2] <= 224);
  }
  await store.close();
  t.truthy(readFileSync(join(DATA, 'imagenette/classes.json')));
});

needs('shared')('low-resolution CIFAR images in whole-image mode: the whole image is the one patch, upsampled for the model', async (t) => {
  const src = join(DATA, 'cifar10/test-000000.tar');
  const dir = tempDir('ddps-cifar-');
  const w = new ShardWriter(join(dir, 'cifar-%06d.tar'));
  let n = 0;
  for await (const s of readSamples(src)) {
    const { __key__, __url__: _u, ...rest } = s;
    await w.write({ __key__, ...rest });
    if (++n === 8) break;
  }
  const shards = await w.close();
  const pack = await Pack.load(TINY_SD, { dift: true, intraOpThreads: 2 });
  const { dir: storeDir, summary } = await score(pack, shards, { wholeImage: true, imageSize: 64, patchSize: 64, timesteps: 2, classes: join(DATA, 'cifar10/classes.json') });
  await pack.close();
  t.is(summary.scored, 8);
  const store = ScoreStore.open(storeDir, { readOnly: true });
  for (const s of store.samples()) {
    t.deepEqual(s.size, [32, 32]);
    t.is(s.transform.scale, 2);
    t.deepEqual([s.scoreMap.h, s.scoreMap.w], [8, 8]);
    t.is(s.patches.length, 1);
    t.deepEqual(s.patches[0]!.boxOriginal, [0, 0, 32, 32]);
    // The whole-image score is the mean of the score map.
    const mean = s.scoreMap.data.reduce((a, b) => a + b, 0) / 64;
    t.true(Math.abs(s.patches[0]!.score - mean) < 1e-6);
  }
  await store.close();
});

test('--limit-per-class keeps the first N images of each class in shard order, and counts stored ones on resume', async (t) => {
  const world = await toyWorld();
  const pack = await Pack.load(world.pack, { dift: true, intraOpThreads: 1 });
  const { dir, summary } = await score(pack, world.shards, { limitPerClass: 3 });
  t.is(summary.scored, 18);
  const store = ScoreStore.open(dir, { readOnly: true });
  t.deepEqual([...store.counts().perClass.values()].map((c) => c.samples), [3, 3, 3, 3, 3, 3]);
  const firstThree = new Map<number, string[]>();
  for await (const s of readSamples(world.shards)) {
    const cls = Number(String(s.cls));
    const list = firstThree.get(cls) ?? [];
    if (list.length < 3) list.push(s.__key__);
    firstThree.set(cls, list);
  }
  t.deepEqual([...store.keys()].sort(), [...firstThree.values()].flat().sort());
  const config = store.config;
  await store.close();
  // A re-run with the same limit finds each class full: the stored images count, nothing new is scored.
  const again = ScoreStore.open(dir, { config, pack: { name: pack.identity.name, digest: pack.identity.digest } });
  const classMap = await loadClassMap(world.classes);
  const rerun = await runScore({ shards: world.shards, model: pack, store: again, config: resolveScoreConfig({ ...TOY_SCORE, limitPerClass: 3 }), labels: classMap.names, classMap });
  t.is(rerun.scored, 0);
  t.is(again.counts().samples, 18);
  await again.close();
  await pack.close();
});

test('ddps score refuses a store written with another configuration, names the differences, and exits', async (t) => {
  const world = await toyWorld();
  const store = tempDir('ddps-mismatch-');
  const common = ['score', '--shards', world.shards[0]!, '--model', world.pack, '--store', store, '--quiet', '--image-size', '128', '--patch-size', '56'];
  t.is(await runCli([...common, '--timesteps', '2']).done, 'exit 0');
  const refused = await runCli([...common, '--timesteps', '4']).done;
  t.regex(refused, /^exit 1: .*different run: config timesteps: stored 2, given 4.*--allow-mismatch/s);
  t.is(await runCli([...common, '--timesteps', '4', '--allow-mismatch']).done, 'exit 0');
});
