/**
 * `ddps evaluate` end to end on CIFAR-10 with Debian's PyTorch, at tiny settings: 100 distilled images
 * (a random real subset stands in for a selection), 500 test images, one seed, a few epochs.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { Classifier, loadTeacherConfig } from '../models/classifier.js';
import { isDdpsError } from '../core/errors.js';
import { runPython } from '../models/python.js';
import { applyCutMix, type ImageAug, renderAug } from '../operators/math/augment.js';
import { loadDistilledSet } from '../pipelines/distilledSet.js';
import { type EvaluateOptions, type EvaluationReport, runEvaluate, resultsJson } from '../pipelines/evaluate.js';
import { buildRandomSubset } from '../pipelines/randomSubset.js';
import { relabel } from '../pipelines/relabel.js';
import type { ReplayBatch } from '../pipelines/replay.js';
import { ShardWriter, readSamples } from '../storage/webdataset/index.js';
import { DATA, MODELS, tempDir } from './helpers/paths.js';
import { needs } from './helpers/needs.js';

const TRAIN = join(DATA, 'cifar10/train-000000.tar');
const TEST = join(DATA, 'cifar10/test-000000.tar');
const NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const ptest = needs('shared', 'python');

interface World {
  distilled: string;
  val: string;
  /** 600 CIFAR-10 training images: a small source split for random and full. */
  source: string;
  teacher: Classifier;
}

/** The first n samples of a shard, written to a new one. */
async function firstSamples(from: string, n: number, pattern: string): Promise<string> {
  const writer = new ShardWriter(pattern);
  let i = 0;
  for await (const s of readSamples(from)) {
    const { __url__: _, ...rest } = s;
    await writer.write(rest);
    if (++i === n) break;
  }
  return (await writer.close())[0]!;
}

let world: Promise<World> | undefined;

/** Built once: IPC 10 of CIFAR-10 train (seed 1) as the "distilled" set, the first 500 test images as the validation split. */
function getWorld(): Promise<World> {
  world ??= (async () => {
    const root = tempDir('ddps-eval-');
    const sub = await buildRandomSubset({ source: TRAIN, classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], ipc: 10, mosaic: false, outputSize: 32, classNames: NAMES, seed: 1, outDir: join(root, 'distilled') });
    const val = await firstSamples(TEST, 500, join(root, 'val', 'val-%06d.tar'));
    writeFileSync(join(root, 'val', 'classes.json'), readFileSync(join(DATA, 'cifar10/classes.json')));
    const source = await firstSamples(TRAIN, 600, join(root, 'source', 'train-%06d.tar'));
    const teacher = await Classifier.load(join(MODELS, 'cifar10-resnet20.onnx'), await loadTeacherConfig(join(MODELS, 'cifar10-resnet20.json')));
    return { distilled: sub.dir, val, source, teacher };
  })();
  return world;
}

test.after.always(async () => {
  if (world) await (await world).teacher.close();
});

function options(w: World, over: Partial<EvaluateOptions> = {}): EvaluateOptions {
  return { distilled: w.distilled, val: w.val, profile: 'cifar10-conv3', overrides: { epochs: 8, seeds: 1 }, batchSize: 10, teacher: w.teacher, threads: 2, out: tempDir('ddps-eval-out-'), ...over };
}

let learned: { report: EvaluationReport; out: string } | undefined;

ptest.serial('students learn from replayed labels: the loss falls, top-1 beats chance; IOR against random real images', async (t) => {
  const w = await getWorld();
  const epochs: { name: string; loss: number; top1?: number }[] = [];
  const read: number[] = [];
  const opts = options(w, { compare: ['random'], source: TRAIN, onEvent: (e) => (e.kind === 'epoch' ? epochs.push(e) : e.kind === 'source' && read.push(e.read)) });
  const report = await runEvaluate(opts);
  t.is(read[0], 1, 'the first source sample opens the progress line');
  learned = { report, out: opts.out };
  t.deepEqual(report.runs.map((r) => [r.name, r.ipc]), [['distilled', 10], ['random', 10]]);
  for (const name of ['distilled', 'random']) {
    const loss = epochs.filter((e) => e.name === name).map((e) => e.loss);
    t.is(loss.length, 8);
    t.true((loss[6]! + loss[7]!) / 2 < 0.9 * ((loss[0]! + loss[1]!) / 2), `${name} loss ${loss.map((l) => l.toFixed(4)).join(' ')}`);
  }
  // Chance is 10 %; on 500 images its standard deviation is 1.3 points.
  for (const run of report.runs) t.true(run.top1.mean > 16, `${run.name}: ${run.top1.mean} %`);
  const [d, r] = report.runs;
  t.is(report.ior!.top1, d!.top1.mean - r!.top1.mean);
  t.is(d!.bestLast20.mean, d!.top1.mean, '8 epochs: the last 20 % holds only the final evaluation');
  t.is(report.sets[0]!.batchSize, 10);
  t.true(report.sets[0]!.teacherAgreement! > 60);
  t.deepEqual(JSON.parse(readFileSync(join(opts.out, 'results.json'), 'utf8')), JSON.parse(JSON.stringify(report)));
  t.deepEqual(Object.keys(resultsJson(report)), ['profile', 'runs']);
  t.deepEqual(Object.keys(resultsJson(report).runs[0]!), ['name', 'ipc', 'top1', 'bestLast20', 'seconds']);
});

ptest.serial('replay is deterministic: the same seed gives the same parameters and the same first-epoch loss; a re-run trains nothing', async (t) => {
  if (!learned) return t.fail('needs the previous test');
  const w = await getWorld();
  const oneEpoch = options(w, { overrides: { epochs: 1, seeds: 1 } });
  const again = await runEvaluate(oneEpoch);
  const first = JSON.parse(readFileSync(join(learned.out, 'runs/distilled/seed-0.json'), 'utf8')) as { loss: number[] };
  const second = JSON.parse(readFileSync(join(oneEpoch.out, 'runs/distilled/seed-0.json'), 'utf8')) as { loss: number[] };
  t.is(second.loss.length, 1);
  t.true(Math.abs(second.loss[0]! - first.loss[0]!) < 1e-6 * first.loss[0]!, `${second.loss[0]} vs ${first.loss[0]}`);
  // Epoch 0 of the 8-epoch replay and of the 1-epoch replay: the same batches, augmentations and CutMix.
  const replays = join(w.distilled, 'replay');
  const epoch0 = async (prefix: string) => {
    const dir = (await readdir(replays)).find((d) => d.startsWith(prefix))!;
    return readFileSync(join(replays, dir, 'params.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ReplayBatch).filter((b) => b.epoch === 0);
  };
  t.deepEqual(await epoch0('cifar10-conv3-e1-b10-s0-'), await epoch0('cifar10-conv3-e8-b10-s0-'));
  t.true(again.runs[0]!.top1.mean >= 0);

  let trained = 0;
  let sourceLines = 0;
  const rerun = await runEvaluate({
    ...options(w, { compare: ['random'], source: TRAIN, out: learned.out }),
    onEvent: (e) => {
      if (e.kind === 'epoch') trained++;
      if (e.kind === 'source') sourceLines++;
    },
  });
  t.is(trained, 0);
  t.is(sourceLines, 0, 'the random subset is reused: no source-reading progress');
  t.deepEqual(rerun.runs, learned.report.runs);

  // More seeds later: only the new seed trains, the first student is kept as it was.
  const seedsTrained = new Set<number>();
  const twoSeeds = await runEvaluate({ ...options(w, { overrides: { epochs: 1, seeds: 2 }, out: oneEpoch.out }), onEvent: (e) => e.kind === 'epoch' && seedsTrained.add(e.seed) });
  t.deepEqual([...seedsTrained], [1]);
  t.is(twoSeeds.sets[0]!.seeds[0]!.top1, again.sets[0]!.seeds[0]!.top1);
  // A run file written before per-seed digests carries the whole job's digest: still that student.
  const job = JSON.parse(readFileSync(join(oneEpoch.out, 'jobs/distilled.json'), 'utf8')) as { digest: string; digests: Record<string, string> };
  t.not(job.digests['0'], job.digests['1']);
  const seed1 = join(oneEpoch.out, 'runs/distilled/seed-1.json');
  writeFileSync(seed1, JSON.stringify({ ...JSON.parse(readFileSync(seed1, 'utf8')), digest: job.digest }));
  let retrained = 0;
  await runEvaluate({ ...options(w, { overrides: { epochs: 1, seeds: 2 }, out: oneEpoch.out }), onEvent: (e) => e.kind === 'epoch' && retrained++ });
  t.is(retrained, 0);
});

ptest('TS and Python render the same augmented pixels from the same parameters', async (t) => {
  const dir = tempDir('ddps-render-');
  // Noise at odd sizes, so every tap of the resampler matters.
  const sizes = [[37, 29], [64, 64], [20, 26]] as const;
  const images = await Promise.all(
    sizes.map(async ([w, h], i) => {
      const rgb = Uint8Array.from({ length: w * h * 3 }, (_, k) => (k * 2654435761 + i * 97) % 251);
      const path = join(dir, `img${i}.png`);
      await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path);
      return { path, img: { rgb, width: w, height: h } };
    }),
  );
  const items: { image: number; aug: ImageAug }[] = [
    { image: 0, aug: { crop: [3, 2, 30, 25], flip: false } },
    { image: 0, aug: { cols: [1, 0], rows: [1, 0], crop: [0, 0, 37, 29], flip: true } },
    { image: 1, aug: { cols: [2, 0, 1], rows: [1, 2, 0], crop: [5, 9, 50, 41], flip: false } },
    { image: 2, aug: { crop: [1, 1, 7, 11], flip: true } },
  ];
  const size = 24;
  const cutmix = { perm: [2, 3, 0, 1], box: [4, 6, 17, 20] as [number, number, number, number], lam: 0.5 };
  const ts = applyCutMix(items.map((it) => renderAug(images[it.image]!.img, it.aug, size)), cutmix);
  const job = join(dir, 'job.json');
  writeFileSync(job, JSON.stringify({ images: images.map((i) => i.path), items, size, cutmix }));
  await runPython('ddps_eval.augment', [job, join(dir, 'out.f32')]);
  const raw = readFileSync(join(dir, 'out.f32'));
  const py = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
  t.is(py.length, items.length * size * size * 3);
  let worst = 0;
  ts.forEach((img, i) => img.rgb.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - py[i * size * size * 3 + k]!)))));
  t.true(worst < 1e-3, `max |TS - Python| = ${worst}`);
});

ptest('the Python reader returns exactly the images, classes and soft labels ddps wrote', async (t) => {
  const w = await getWorld();
  const out = tempDir('ddps-reader-');
  await relabel({ inDir: w.distilled, outDir: out, teacher: w.teacher, classCount: 10 });
  const set = await loadDistilledSet(out);
  const rows: { key: string; cls: number; sha256: string; width: number; soft: number[] }[] = [];
  await runPython('ddps_eval.wds', set.shards, { onEvent: (e) => rows.push(e as unknown as (typeof rows)[number]) });
  t.deepEqual(rows.map((r) => [r.key, r.cls, r.sha256, r.width]), set.images.map((i) => [i.key, i.cls, i.sha256, i.width]));
  const soft = new Map<string, number[]>();
  for await (const s of readSamples(set.shards)) soft.set(s.__key__, (JSON.parse(s['soft.json']!.toString()) as { probs: number[] }).probs);
  for (const r of rows) t.deepEqual(r.soft, soft.get(r.key));
});

ptest('static labels (.soft.json), a random subset relabelled for them, the full split with hard labels, and another folder train too', async (t) => {
  const w = await getWorld();
  const soft = tempDir('ddps-static-');
  await relabel({ inDir: w.distilled, outDir: soft, teacher: w.teacher, classCount: 10 });
  const other = await buildRandomSubset({ source: w.source, classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], ipc: 2, mosaic: false, outputSize: 32, classNames: NAMES, seed: 7, outDir: tempDir('ddps-other-') });
  const otherSoft = tempDir('ddps-other-static-');
  await relabel({ inDir: other.dir, outDir: otherSoft, teacher: w.teacher, classCount: 10 });
  const notes: string[] = [];
  // The profile's batch sizes: 50 at IPC 10, 20 for IPC 2 (never above IPC x classes), full's 128.
  const opts = options(w, { distilled: soft, labels: 'static', batchSize: undefined, overrides: { epochs: 2, seeds: 1 }, compare: ['random', 'full', otherSoft], source: w.source, fullEpochs: 1, onEvent: (e) => e.kind === 'note' && notes.push(e.message) });
  const report = await runEvaluate(opts);
  t.deepEqual(report.sets.map((s) => [s.name, s.labels, s.epochs, s.images]), [['distilled', 'static', 2, 100], ['random', 'static', 2, 100], ['full', 'hard', 1, 600], [otherSoft, 'static', 2, 20]]);
  t.deepEqual(report.runs.map((r) => r.ipc), [10, 10, 60, 2]);
  t.deepEqual(report.sets.map((s) => s.batchSize), [50, 50, 128, 20]);
  t.true(report.sets[1]!.dir.endsWith('-static'));
  t.true(notes.some((n) => /^full: 600 images, hard labels, 1 epoch, batch size 128$/.test(n)), notes.join('\n'));
  for (const s of report.sets) t.true(Number.isFinite(s.seeds[0]!.loss[0]!) && s.seeds[0]!.top1 >= 0);
});

ptest('a child that fails reports its own error: --device cuda without CUDA', async (t) => {
  const w = await getWorld();
  const err = await t.throwsAsync(runEvaluate(options(w, { labels: 'hard', teacher: undefined, device: 'cuda' })));
  t.true(isDdpsError(err, 'MISSING_DEPENDENCY'), err?.message);
  t.regex(err!.message, /--device cuda, but torch .* sees no CUDA device/);
});

ptest('bad input, each error naming the file: no static labels; a replay of other epochs; a validation class the set lacks; a teacher below chance', async (t) => {
  const w = await getWorld();
  const noSoft = await t.throwsAsync(runEvaluate(options(w, { labels: 'static' })));
  t.true(isDdpsError(noSoft, 'MISSING_FILE'));
  t.regex(noSoft!.message, /has no static labels: sample "\d{3}_\d{5}" in .*distilled-000000\.tar has no \.soft\.json/);

  // The replays made so far are for 8 and 1 epochs (or none if run alone: then make one).
  await runEvaluate(options(w, { overrides: { epochs: 1, seeds: 1 } }));
  const otherEpochs = await t.throwsAsync(runEvaluate(options(w, { teacher: undefined, overrides: { epochs: 5, seeds: 1 } })));
  t.true(isDdpsError(otherEpochs, 'STORE_MISMATCH'));
  t.regex(otherEpochs!.message, /replay .*\/replay\/cifar10-conv3-e\d-b10-s0-[0-9a-f]{12}\/index\.json was made for \d epochs at batch size 10, but this run trains 5 epochs at batch size 10/);

  const half = await buildRandomSubset({ source: TRAIN, classes: [0, 1, 2, 3, 4], ipc: 1, mosaic: false, outputSize: 32, classNames: NAMES, seed: 2, outDir: tempDir('ddps-half-') });
  const lacking = await t.throwsAsync(runEvaluate(options(w, { distilled: half.dir, labels: 'hard' })));
  t.true(isDdpsError(lacking, 'UNKNOWN_CLASS'));
  t.is((lacking as { file?: string }).file, w.val);
  t.regex(lacking!.message, /validation shard .*val-000000\.tar has class 5 \(dog\), which .* does not have \(it has classes 0, 1, 2, 3, 4\)/);

  // The class-order pitfall: the teacher's outputs shifted by one class.
  const config = await loadTeacherConfig(join(MODELS, 'cifar10-resnet20.json'));
  const shifted = await Classifier.load(join(MODELS, 'cifar10-resnet20.onnx'), { ...config, classes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 0] });
  try {
    const below = await t.throwsAsync(runEvaluate(options(w, { teacher: shifted })));
    t.true(isDdpsError(below, 'BAD_CONFIG'));
    t.is((below as { file?: string }).file, shifted.path);
    t.regex(below!.message, /agrees with the true labels of .* on \d+\.\d % of its 100 images, below chance \(10\.0 %\)/);
  } finally {
    await shifted.close();
  }
});
