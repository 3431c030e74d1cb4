import test from 'ava';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import sharp from 'sharp';
import { from, lastValueFrom, toArray } from 'rxjs';
import { Pack } from '../models/pack.js';
import { argmin, classLosses } from '../operators/classLosses.js';
import { encodeLatent } from '../operators/encodeLatent.js';
import { lossDiff } from '../operators/lossDiff.js';
import { runDiffusionClassifier, summarizeClassified, type ClassifiedSample } from '../pipelines/diffusionClassify.js';
import { preparedBatches } from '../pipelines/score.js';
import { resolveScoreConfig } from '../core/config.js';
import { StageTimer } from '../models/stageTimer.js';
import { loadClassMap } from '../storage/webdataset/index.js';
import { TOY_CLASSES } from '../toy/classes.js';
import { ShardWriter } from '../storage/webdataset/index.js';
import { REPO, tempDir } from './helpers/paths.js';
import { TOY_SCORE, toyWorld } from './helpers/toyWorld.js';

test('argmin: first smallest', (t) => {
  t.is(argmin([3, 1, 2, 1]), 1);
  t.is(argmin(Float64Array.of(0.5)), 0);
  t.is(argmin([2, 2, 2]), 0);
});

test('summarizeClassified: top-1, per class, confusion and the true-class gap, hand-computed', (t) => {
  const s = (cls: number, predicted: number, losses: number[], uncondLoss: number): ClassifiedSample => ({ key: `k${cls}${predicted}`, cls, predicted, losses, uncondLoss });
  const r = summarizeClassified(
    [s(0, 0, [1, 2], 1.5), s(0, 1, [2, 1], 1.5), s(1, 1, [3, 0.5], 1), s(1, 1, [3, 2], 1)],
    ['cat', 'dog'],
  );
  t.is(r.images, 4);
  t.is(r.correct, 3);
  t.is(r.top1, 0.75);
  t.deepEqual(r.perClass, [{ label: 'cat', images: 2, top1: 0.5 }, { label: 'dog', images: 2, top1: 1 }]);
  t.deepEqual(r.confusion, [[1, 1], [0, 2]]);
  // Gaps uncond - true-class loss: 0.5, -0.5, 0.5, -1.
  t.is(r.signal.meanGap, -0.125);
  t.is(r.signal.positive, 0.5);
});

/** One flat image per toy class in that class's colour: the toy UNet denoises it exactly with its own prompt. */
async function flatColourShard(dir: string): Promise<string> {
  const writer = new ShardWriter(join(dir, 'flat-%06d.tar'));
  for (const c of TOY_CLASSES) {
    const raw = Buffer.alloc(64 * 64 * 3);
    for (let i = 0; i < raw.length; i += 3) raw.set(c.rgb, i);
    await writer.write({ __key__: `flat_${c.name}`, png: await sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer(), cls: String(c.index) });
  }
  return (await writer.close())[0]!;
}

test('toy pack: an image of flat class colour has zero loss with its own prompt only, so every one is classified right', async (t) => {
  const world = await toyWorld();
  const classMap = await loadClassMap(world.classes);
  const config = resolveScoreConfig({ imageSize: 64, wholeImage: true, timesteps: 3, seed: 1 });
  const pack = await Pack.load(world.pack, { intraOpThreads: 1 });
  try {
    const samples: ClassifiedSample[] = [];
    const summary = await runDiffusionClassifier({ shards: await flatColourShard(tempDir()), model: pack, config, labels: classMap.names, classMap, onSample: (s) => samples.push(s) });
    t.is(summary.top1, 1);
    t.is(summary.signal.positive, 1);
    t.is(summary.unetPasses, TOY_CLASSES.length * (TOY_CLASSES.length + 1) * config.timesteps);
    for (const s of samples) {
      t.true(s.losses[s.cls]! < 1e-6, `${s.key}: own-prompt loss ${s.losses[s.cls]}`);
      t.true(s.losses.every((l, c) => c === s.cls || l > 0.01), `${s.key}: ${s.losses.join(', ')}`);
    }
  } finally {
    await pack.close();
  }
});

test("toy world: the true-class gap L_u - L_c of the classifier is lossDiff's D averaged over the image", async (t) => {
  const world = await toyWorld();
  const classMap = await loadClassMap(world.classes);
  const config = resolveScoreConfig({ ...TOY_SCORE, seed: 3 });
  const pack = await Pack.load(world.pack, { intraOpThreads: 1 });
  try {
    const encoded = await lastValueFrom(
      preparedBatches({ shards: world.shards[0]!, config: { ...config, limitPerClass: 1 }, classMap, batchSize: 3, window: 64, onError: 'fail', onSkip: () => {}, timer: new StageTimer() }).pipe(encodeLatent(pack), toArray()),
    );
    t.is(encoded.flat().length, classMap.names.length);
    for (const batch of encoded) {
      const [scored, lossed] = await Promise.all([
        lastValueFrom(from([batch]).pipe(lossDiff(pack, { config, labels: classMap.names }))),
        lastValueFrom(from([batch]).pipe(classLosses(pack, { config, labels: classMap.names }))),
      ]);
      scored.forEach((s, i) => {
        const meanD = s.scoreMap.reduce((a, b) => a + b, 0) / s.scoreMap.length;
        const l = lossed[i]!;
        const gap = l.uncondLoss - l.classLosses[s.cls]!;
        t.true(Math.abs(meanD - gap) <= 1e-5 * Math.max(1, Math.abs(meanD)), `${s.key}: mean D ${meanD} vs gap ${gap}`);
      });
    }
  } finally {
    await pack.close();
  }
});

test('ddps model classify --json: the summary a user gets, on the flat-colour images', async (t) => {
  const world = await toyWorld();
  const shard = await flatColourShard(tempDir());
  const out = execFileSync(process.execPath, [join(REPO, 'dist/cli/ddps.js'), 'model', 'classify', '--model', world.pack, '--shards', shard, '--class-map', world.classes, '--whole-image', '--image-size', '64', '--timesteps', '2', '--json', '--quiet'], { encoding: 'utf8' });
  const r = JSON.parse(out) as { top1: number; images: number; timesteps: number; unetPasses: number; perClass: { label: string; top1: number }[] };
  t.is(r.images, TOY_CLASSES.length);
  t.is(r.top1, 1);
  t.is(r.timesteps, 2);
  t.is(r.unetPasses, TOY_CLASSES.length * (TOY_CLASSES.length + 1) * 2);
  t.deepEqual(r.perClass.map((c) => c.label), TOY_CLASSES.map((c) => c.name));
});
