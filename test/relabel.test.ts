import test from 'ava';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Classifier, argmax, softmax } from '../models/classifier.js';
import { isDdpsError } from '../core/errors.js';
import { decodeImage } from '../operators/decode.js';
import { cropRgb } from '../operators/math/crop.js';
import { roundHalfEven } from '../operators/math/augment.js';
import { CROP_RATIO, fkdCrop, type SoftLabel } from '../operators/relabel.js';
import { relabel } from '../pipelines/relabel.js';
import { ShardWriter, readSamples, sampleClass, sampleImage, type WdsSample } from '../storage/webdataset/index.js';
import { DATA, tempDir } from './helpers/paths.js';
import { CIFAR_CONFIG, CIFAR_TEACHER } from './helpers/teachers.js';
import { needs } from './helpers/needs.js';


async function readAll(shard: string): Promise<WdsSample[]> {
  const out: WdsSample[] = [];
  for await (const s of readSamples(shard)) out.push(s);
  return out;
}

/** A distilled-like folder: 12 CIFAR-10 test images as PNG with .cls and .json, in two shards, and a manifest. */
async function distilledDir(): Promise<string> {
  const dir = tempDir('ddps-relabel-in-');
  const writer = new ShardWriter(join(dir, 'distilled-%06d.tar'), { maxcount: 6 });
  let n = 0;
  for await (const s of readSamples(join(DATA, 'cifar10/test-000000.tar'))) {
    const png = await sharp(sampleImage(s)!).png().toBuffer();
    await writer.write({ __key__: `ipc1/img${String(n).padStart(3, '0')}`, png, cls: String(sampleClass(s)), json: { source: [s.__key__], boxes: [[0, 0, 32, 32]] } });
    if (++n === 12) break;
  }
  await writer.close();
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ stage: 'select', ipc: 1, counts: { images: 12 } }));
  return dir;
}

test('roundHalfEven is Python round()', (t) => {
  t.deepEqual([0.5, 1.5, 2.5, 3.5, 2.4, 2.6, 7].map(roundHalfEven), [0, 2, 2, 4, 2, 3, 7]);
});

test('cropRgb cuts the window and mirrors it', (t) => {
  // 3x2 image, pixel value = 10 * (y * 3 + x) in every channel.
  const rgb = Uint8Array.from({ length: 18 }, (_, i) => 10 * Math.floor(i / 3));
  const img = { rgb, width: 3, height: 2 };
  const grey = (r: Uint8Array) => Array.from(r).filter((_, i) => i % 3 === 0);
  t.deepEqual(grey(cropRgb(img, [1, 0, 2, 2]).rgb), [10, 20, 40, 50]);
  t.deepEqual(grey(cropRgb(img, [1, 0, 2, 2], true).rgb), [20, 10, 50, 40]);
  t.throws(() => cropRgb(img, [2, 0, 2, 2]), { message: /outside the 3x2 image/ });
});

test('fkdCrop: deterministic per (seed, key, epoch), inside the image, torchvision ranges', (t) => {
  t.deepEqual(fkdCrop(224, 224, 3, 'a', 1), fkdCrop(224, 224, 3, 'a', 1));
  const crops = (seed: number, epoch: number) => Array.from({ length: 8 }, (_, i) => fkdCrop(224, 224, seed, `k${i}`, epoch));
  t.notDeepEqual(crops(3, 1), crops(3, 2));
  t.notDeepEqual(crops(3, 1), crops(4, 1));
  let flips = 0;
  let full = 0;
  const areas: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const { crop, flip } = fkdCrop(224, 224, 0, `k${i}`, i % 5);
    const [x, y, w, h] = crop;
    t.true(x >= 0 && y >= 0 && w >= 1 && h >= 1 && x + w <= 224 && y + h <= 224, `crop ${crop}`);
    if (w === 224 && h === 224) full++;
    else {
      // Rounding to whole pixels moves the ratio a little past the range.
      t.true(w / h > CROP_RATIO[0] * 0.97 && w / h < CROP_RATIO[1] * 1.03, `ratio of ${crop}`);
      t.true((w * h) / 224 ** 2 > 0.08 * 0.95, `area of ${crop}`);
    }
    areas.push((w * h) / 224 ** 2);
    if (flip) flips++;
  }
  t.true(flips > 900 && flips < 1100, `flips ${flips}/2000`);
  // Area fraction is uniform on [0.08, 1] before rejections (mean 0.54); rejected big crops pull it down.
  const mean = areas.reduce((a, b) => a + b, 0) / areas.length;
  t.true(mean > 0.35 && mean < 0.6, `mean area ${mean}`);
  t.true(full < 100, `whole-image fallbacks ${full}`);
  // A 100x2 strip: every try is at least 3 high, so the fallback is the centre crop at ratio 4/3 (round(2.67) = 3 wide).
  t.deepEqual(fkdCrop(100, 2, 0, 'strip', 0).crop, [48, 0, 3, 2]);
});

needs('shared')('relabel: soft labels match the teacher, every field round-trips, FKD crops deterministic', async (t) => {
  const inDir = await distilledDir();
  const outDir = tempDir('ddps-relabel-out-');
  const teacher = await Classifier.load(CIFAR_TEACHER, CIFAR_CONFIG);
  try {
    const summary = await relabel({ inDir, outDir, teacher, temperature: 4, fkdEpochs: 3, seed: 5, classCount: 10 });
    t.deepEqual(summary.shards.map((p) => p.slice(outDir.length + 1)), ['distilled-000000.tar', 'distilled-000001.tar']);
    t.deepEqual(readdirSync(outDir).sort(), ['distilled-000000.tar', 'distilled-000001.tar', 'manifest.json']);
    t.is(summary.images, 12);
    t.is(summary.labelled, 12);

    let agree = 0;
    for (const name of ['distilled-000000.tar', 'distilled-000001.tar']) {
      const before = await readAll(join(inDir, name));
      const after = await readAll(join(outDir, name));
      t.deepEqual(
        after.map((s) => s.__key__),
        before.map((s) => s.__key__),
      );
      for (const [i, s] of after.entries()) {
        const orig = before[i]!;
        t.deepEqual(Object.keys(s).sort(), [...Object.keys(orig), 'soft.json'].sort());
        for (const ext of ['png', 'cls', 'json']) t.true((s[ext] as Buffer).equals(orig[ext] as Buffer), `${s.__key__}.${ext}`);
        const soft = JSON.parse((s['soft.json'] as Buffer).toString()) as SoftLabel;
        const img = await decodeImage(orig.png as Buffer, { key: s.__key__, url: name, cls: 0 });
        const [logits] = await teacher.logits([img]);
        t.is(soft.temperature, 4);
        t.is(soft.probs.length, 10);
        t.true(Math.abs(soft.probs.reduce((a, b) => a + b, 0) - 1) < 1e-5);
        t.is(argmax(soft.probs), argmax(logits!), `${s.__key__}: soft argmax vs teacher`);
        const want = softmax(logits!, 4);
        t.true(soft.probs.every((p, c) => Math.abs(p - want[c]!) < 1e-6));
        if (argmax(logits!) === Number((orig.cls as Buffer).toString())) agree++;

        t.deepEqual(
          soft.fkd!.map((f) => f.epoch),
          [0, 1, 2],
        );
        for (const f of soft.fkd!) {
          const [x, y, w, h] = f.crop;
          t.true(x >= 0 && y >= 0 && w >= 1 && h >= 1 && x + w <= 32 && y + h <= 32, `crop ${f.crop}`);
          t.deepEqual({ crop: f.crop, flip: f.flip }, fkdCrop(32, 32, 5, s.__key__, f.epoch));
          t.true(Math.abs(f.probs.reduce((a, b) => a + b, 0) - 1) < 1e-5);
        }
        // The crop label is the teacher on that crop, mirrored as stated.
        const f = soft.fkd![1]!;
        const cropLogits = (await teacher.logits([cropRgb(img, f.crop, f.flip)]))[0]!;
        const cropWant = softmax(cropLogits, 4);
        t.true(f.probs.every((p, c) => Math.abs(p - cropWant[c]!) < 1e-6));
      }
    }
    t.is(summary.agree, agree);
    t.is(summary.agreement, (100 * agree) / 12);

    const manifest = JSON.parse(readFileSync(join(outDir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    t.like(manifest, { stage: 'select', ipc: 1, counts: { images: 12 }, relabel: { teacher: CIFAR_TEACHER, temperature: 4, fkdEpochs: 3, seed: 5, classCount: 10 } });

    // Same inputs, same bytes; another seed moves the crops but not the whole-image labels.
    const again = tempDir('ddps-relabel-again-');
    await relabel({ inDir, outDir: again, teacher, temperature: 4, fkdEpochs: 3, seed: 5, classCount: 10 });
    for (const name of ['distilled-000000.tar', 'distilled-000001.tar']) t.true(readFileSync(join(again, name)).equals(readFileSync(join(outDir, name))), name);
    const other = tempDir('ddps-relabel-seed-');
    await relabel({ inDir, outDir: other, teacher, temperature: 4, fkdEpochs: 3, seed: 6, classCount: 10 });
    const a = JSON.parse(((await readAll(join(outDir, 'distilled-000000.tar')))[0]!['soft.json'] as Buffer).toString()) as SoftLabel;
    const b = JSON.parse(((await readAll(join(other, 'distilled-000000.tar')))[0]!['soft.json'] as Buffer).toString()) as SoftLabel;
    t.deepEqual(a.probs, b.probs);
    t.notDeepEqual(
      a.fkd!.map((f) => f.crop),
      b.fkd!.map((f) => f.crop),
    );
  } finally {
    await teacher.close();
  }
});

needs('shared')('relabel: temperature 1 without FKD; errors for a class-count mismatch, a sample without image, in = out', async (t) => {
  const inDir = await distilledDir();
  const teacher = await Classifier.load(CIFAR_TEACHER, CIFAR_CONFIG);
  try {
    const outDir = tempDir('ddps-relabel-t1-');
    await relabel({ inDir, outDir, teacher, temperature: 1, classCount: 10 });
    const first = (await readAll(join(outDir, 'distilled-000000.tar')))[0]!;
    const soft = JSON.parse((first['soft.json'] as Buffer).toString()) as SoftLabel;
    t.is(soft.temperature, 1);
    t.is(soft.fkd, undefined);
    const [logits] = await teacher.logits([await decodeImage(first.png as Buffer, { key: 'k', url: 'u', cls: 0 })]);
    t.true(soft.probs.every((p, c) => Math.abs(p - softmax(logits!)[c]!) < 1e-6));

    const mismatch = await t.throwsAsync(relabel({ inDir, outDir: tempDir(), teacher, classCount: 5 }), { message: /gives 10 classes per image, but the dataset has 5/ });
    t.true(isDdpsError(mismatch, 'BAD_CONFIG'));
    await t.throwsAsync(relabel({ inDir, outDir: inDir, teacher, classCount: 10 }), { message: /--out must differ from --in/ });

    const noImage = tempDir('ddps-relabel-noimg-');
    const w = new ShardWriter(join(noImage, 'd-%06d.tar'));
    await w.write({ __key__: 'x0', cls: '1', json: {} });
    await w.close();
    const err = await t.throwsAsync(relabel({ inDir: noImage, outDir: tempDir(), teacher, classCount: 10 }), { message: /sample "x0" in .*d-000000.tar has no image \(members: cls, json\)/ });
    t.true(isDdpsError(err, 'BAD_SAMPLE'));
    await t.throwsAsync(relabel({ inDir: tempDir(), outDir: tempDir(), teacher, classCount: 10 }), { message: /holds no shards/ });
  } finally {
    await teacher.close();
  }
});
