import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PixelImage } from '../models/classifier.js';
import { isDdpsError } from '../core/errors.js';
import { halfToFloat32Array } from '../models/float16.js';
import { applyCutMix, type AugmentConfig, renderAug } from '../operators/math/augment.js';
import type { DistilledSet, SetImage } from '../pipelines/distilledSet.js';
import { canonicalJson, findReplay, type ReplayBatch, replayDigest, replayName, replayPlan, type ReplaySpec, writeReplay } from '../pipelines/replay.js';
import { tempDir } from './helpers/paths.js';

const AUG: AugmentConfig = { shufflePatches: 2, rrcScale: [0.5, 1], rrcRatio: [3 / 4, 4 / 3], flip: 0.5, cutmixBeta: 1 };

/** Seven 12x12 images of 3 classes, each a different colour gradient. */
function fakeSet(): DistilledSet {
  const images: SetImage[] = Array.from({ length: 7 }, (_, i) => {
    const rgb = new Uint8Array(12 * 12 * 3);
    for (let p = 0; p < 144; p++) rgb.set([(p * (i + 3)) % 256, (i * 40) % 256, p % 12 * 20], p * 3);
    return { key: `img${i}`, cls: i % 3, shard: '/nowhere/distilled-000000.tar', rgb, width: 12, height: 12, sha256: `sha${i}`, soft: false };
  });
  return { dir: '/nowhere', shards: ['/nowhere/distilled-000000.tar'], digest: 'd'.repeat(64), images, perClass: new Map([[0, 3], [1, 2], [2, 2]]) };
}

function spec(over: Partial<ReplaySpec> = {}): ReplaySpec {
  return {
    profile: 'test',
    size: 8,
    augment: AUG,
    epochs: 3,
    batchSize: 3,
    seed: 4,
    teacher: { file: 'stub.onnx', sha256: 'f'.repeat(64), config: { input: 'x', output: 'y', size: [8, 8], mean: [0, 0, 0], std: [1, 1, 1], batch: null } },
    set: { digest: 'd'.repeat(64), shards: ['distilled-000000.tar'] },
    classCount: 3,
    ...over,
  };
}

/** A stand-in teacher: logits are the image's mean R, G and B; it can be made to fail at a given call. */
function stubTeacher(failAt = Infinity) {
  let calls = 0;
  return {
    calls: () => calls,
    async logits(images: PixelImage[]): Promise<Float32Array[]> {
      if (++calls === failAt) throw new Error('killed');
      return images.map((img) => {
        const m = new Float32Array(3);
        for (let i = 0; i < img.rgb.length; i++) m[i % 3] += img.rgb[i]! / (img.rgb.length / 3);
        return m;
      });
    },
  };
}

test('replayPlan: each epoch shows every image once; an image\'s augmentation does not depend on the batch size', (t) => {
  const images = fakeSet().images;
  const small = [...replayPlan(spec({ batchSize: 3 }), images)];
  const large = [...replayPlan(spec({ batchSize: 5 }), images)];
  t.deepEqual(small.filter((b) => b.epoch === 0).map((b) => b.images.length), [3, 3, 1]);
  const augOf = (plan: ReplayBatch[]) => {
    const m = new Map<string, unknown>();
    for (const b of plan) b.images.forEach((i, j) => m.set(`${b.epoch}/${i}`, b.augs[j]));
    return m;
  };
  t.deepEqual(augOf(small), augOf(large));
  for (let e = 0; e < 3; e++) {
    const shown = small.filter((b) => b.epoch === e).flatMap((b) => b.images);
    t.deepEqual([...shown].sort(), [0, 1, 2, 3, 4, 5, 6]);
    t.deepEqual(small.filter((b) => b.epoch === e).map((b) => b.row), [e * 7, e * 7 + 3, e * 7 + 6]);
  }
  t.notDeepEqual(small.map((b) => b.images), [...replayPlan(spec({ seed: 5 }), images)].map((b) => b.images));
  t.deepEqual(small, [...replayPlan(spec(), images)]);
});

test('canonicalJson and the replay name: key order does not matter, content does', (t) => {
  t.is(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } }), '{"a":{"c":null,"d":[1,{"e":3,"f":2}]},"b":1}');
  t.is(replayDigest(spec()), replayDigest(JSON.parse(canonicalJson(spec())) as ReplaySpec));
  t.not(replayDigest(spec()), replayDigest(spec({ epochs: 4 })));
  t.regex(replayName(spec()), /^test-e3-b3-s4-[0-9a-f]{12}$/);
});

test('writeReplay: the stored logits are the teacher\'s on the rendered, CutMixed batch; same spec, same bytes', async (t) => {
  const set = fakeSet();
  const a = join(tempDir('ddps-replay-'), 'a');
  const b = join(tempDir('ddps-replay-'), 'b');
  const index = await writeReplay({ dir: a, spec: spec(), set, teacher: stubTeacher() });
  await writeReplay({ dir: b, spec: spec(), set, teacher: stubTeacher() });
  for (const f of ['index.json', 'params.jsonl', 'logits.f16']) t.deepEqual(readFileSync(join(a, f)), readFileSync(join(b, f)), f);
  t.is(index.batchesPerEpoch, 3);
  t.deepEqual(index.images.map((i) => i.key), set.images.map((i) => i.key));
  t.is(index.images[0]!.shard, 'distilled-000000.tar');
  t.false(existsSync(join(a, 'partial.json')));

  const lines = readFileSync(join(a, 'params.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ReplayBatch);
  t.is(lines.length, 9);
  const raw = readFileSync(join(a, 'logits.f16'));
  t.is(raw.length, 3 * 7 * 3 * 2);
  const logits = halfToFloat32Array(new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2));
  const batch = lines[4]!;
  const mixed = applyCutMix(batch.images.map((i, j) => renderAug(set.images[i]!, batch.augs[j]!, 8)), batch.cutmix);
  const expected = await stubTeacher().logits(mixed);
  expected.forEach((row, j) => row.forEach((v, c) => t.true(Math.abs(logits[(batch.row + j) * 3 + c]! - v) <= Math.abs(v) * 1e-3, `row ${batch.row + j}`)));
});

test('writeReplay resumes a killed run at its last finished epoch, giving the same files', async (t) => {
  const set = fakeSet();
  const whole = join(tempDir('ddps-replay-'), 'whole');
  await writeReplay({ dir: whole, spec: spec(), set, teacher: stubTeacher() });
  const dir = join(tempDir('ddps-replay-'), 'killed');
  // Killed in epoch 1 (call 5 of 3 per epoch): epoch 0 is recorded as finished.
  await t.throwsAsync(writeReplay({ dir, spec: spec(), set, teacher: stubTeacher(5) }), { message: 'killed' });
  t.false(existsSync(join(dir, 'index.json')));
  t.is((JSON.parse(readFileSync(join(dir, 'partial.json'), 'utf8')) as { epochs: number }).epochs, 1);
  const resumed = stubTeacher();
  await writeReplay({ dir, spec: spec(), set, teacher: resumed });
  t.is(resumed.calls(), 6, 'only epochs 1 and 2 ran again');
  for (const f of ['index.json', 'params.jsonl', 'logits.f16']) t.deepEqual(readFileSync(join(dir, f)), readFileSync(join(whole, f)), f);
});

test('findReplay: cached when it matches; without a teacher, another epoch count is refused naming its index', async (t) => {
  const set = fakeSet();
  const cacheDir = tempDir('ddps-replay-cache-');
  const made = await findReplay({ cacheDir, spec: spec(), set, teacher: stubTeacher() });
  t.true(made.made);
  t.deepEqual(await findReplay({ cacheDir, spec: spec(), set, teacher: stubTeacher() }), { dir: made.dir, made: false });
  const { teacher: _, ...noTeacher } = spec();
  t.deepEqual(await findReplay({ cacheDir, spec: noTeacher, set }), { dir: made.dir, made: false });
  const err = await t.throwsAsync(findReplay({ cacheDir, spec: { ...noTeacher, epochs: 5 }, set }));
  t.true(isDdpsError(err, 'STORE_MISMATCH'));
  t.is((err as { file?: string }).file, join(made.dir, 'index.json'));
  t.regex(err!.message, /was made for 3 epochs at batch size 3, but this run trains 5 epochs at batch size 3/);
  const none = await t.throwsAsync(findReplay({ cacheDir, spec: { ...noTeacher, seed: 9 }, set }));
  t.true(isDdpsError(none, 'MISSING_FILE'));
  t.regex(none!.message, /no replay labels for \/nowhere \(seed 9\)/);
});
