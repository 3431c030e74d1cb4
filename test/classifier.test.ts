import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Classifier, argmax, loadTeacherConfig, preprocess, softmax, type RgbImage, type TeacherConfig } from '../models/classifier.js';
import { bilinearTaps } from '../models/resample.js';
import { isDdpsError } from '../core/errors.js';
import { decodeImage } from '../operators/decode.js';
import { readSamples, sampleClass, sampleImage } from '../storage/webdataset/index.js';
import { DATA, MODELS, tempDir } from './helpers/paths.js';
import { CIFAR_CONFIG, CIFAR_TEACHER } from './helpers/teachers.js';
import { needs } from './helpers/needs.js';

const IMAGENET_TEACHER = join(MODELS, 'mobilenetv2-12-int8.onnx');
const IMAGENET_CONFIG: TeacherConfig = {
  input: 'input',
  output: 'output',
  size: [224, 224],
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  batch: null,
};

async function firstImages(shard: string, n: number): Promise<{ img: RgbImage; cls: number }[]> {
  const out: { img: RgbImage; cls: number }[] = [];
  for await (const s of readSamples(shard)) {
    const cls = sampleClass(s)!;
    const img = await decodeImage(sampleImage(s)!, { key: s.__key__, url: s.__url__, cls });
    out.push({ img, cls });
    if (out.length === n) break;
  }
  return out;
}

function entropy(p: Float32Array): number {
  return -Array.from(p).reduce((a, v) => a + (v > 0 ? v * Math.log(v) : 0), 0);
}

function close(t: { true(v: boolean, m?: string): void }, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  t.true(got.length === want.length, `length ${got.length} != ${want.length}`);
  for (let i = 0; i < want.length; i++) t.true(Math.abs(got[i]! - want[i]!) <= tol, `[${i}] ${got[i]} != ${want[i]}`);
}

test('softmax: known answers, shift invariance, no overflow', (t) => {
  close(t, softmax(Float32Array.of(1, 2, 3)), [0.09003057, 0.24472847, 0.66524096], 1e-7);
  close(t, softmax(Float32Array.of(1001, 1002, 1003)), [0.09003057, 0.24472847, 0.66524096], 1e-7);
  close(t, softmax(Float32Array.of(0, 0, 0, 0)), [0.25, 0.25, 0.25, 0.25], 0);
  // T = 2 halves the logits: [0, ln 4] / 2 = [0, ln 2] -> [1/3, 2/3].
  close(t, softmax(Float32Array.of(0, Math.log(4)), 2), [1 / 3, 2 / 3], 1e-7);
  t.throws(() => softmax(Float32Array.of(1), 0), { message: /temperature 0/ });
});

test('softmax: a higher temperature flattens (entropy grows) and keeps the argmax', (t) => {
  const logits = Float32Array.of(2.5, -1, 0.3, 7.1, 4, -3);
  const temps = [0.5, 1, 2, 4, 8, 1000];
  const hs = temps.map((T) => entropy(softmax(logits, T)));
  for (let i = 1; i < hs.length; i++) t.true(hs[i]! > hs[i - 1]!, `H(T=${temps[i]}) = ${hs[i]} <= H(T=${temps[i - 1]}) = ${hs[i - 1]}`);
  t.true(Math.abs(hs.at(-1)! - Math.log(6)) < 1e-4, 'a huge temperature is nearly uniform');
  for (const T of temps) t.is(argmax(softmax(logits, T)), 3);
});

test('bilinearTaps: PIL BILINEAR weights (antialiased when shrinking, plain bilinear when growing)', (t) => {
  const down = bilinearTaps(4, 2);
  t.deepEqual(Array.from(down.start), [0, 1]);
  close(t, down.weights.subarray(0, 3), [0.75 / 1.75, 0.75 / 1.75, 0.25 / 1.75], 1e-12);
  const up = bilinearTaps(2, 4);
  t.deepEqual(Array.from(up.start), [0, 0, 0, 1]);
  close(t, up.weights.subarray(up.taps, up.taps + 2), [0.75, 0.25], 1e-12);
  const same = bilinearTaps(5, 5);
  for (let o = 0; o < 5; o++) {
    t.is(same.start[o], o);
    t.is(same.weights[o * same.taps], 1);
  }
});

test('preprocess: NCHW, (v / 255 - mean) / std, resized with PIL bilinear', (t) => {
  const config: TeacherConfig = { ...CIFAR_CONFIG, size: [1, 2], mean: [0.5, 0.25, 0], std: [0.5, 0.25, 2] };
  // 4x1 row; red 0,100,200,250 -> PIL bilinear to 2 wide gives 125/1.75 and 362.5/1.75.
  const rgb = Uint8Array.of(0, 255, 51, 100, 255, 51, 200, 0, 51, 250, 0, 51);
  const x = preprocess({ rgb, width: 4, height: 1 }, config);
  const r = [125 / 1.75, 362.5 / 1.75].map((v) => (v / 255 - 0.5) / 0.5);
  const g = [382.5 / 1.75, 63.75 / 1.75].map((v) => (v / 255 - 0.25) / 0.25);
  const b = [51, 51].map((v) => v / 255 / 2);
  close(t, x, [...r, ...g, ...b], 1e-5);
  // Identity size: exactly the normalised pixels.
  const id = preprocess({ rgb: Uint8Array.of(255, 0, 128), width: 1, height: 1 }, { ...CIFAR_CONFIG, size: [1, 1] });
  close(t, id, [(1 - 0.4914) / 0.2023, (0 - 0.4822) / 0.1994, (128 / 255 - 0.4465) / 0.201], 1e-5);
  t.throws(() => preprocess({ rgb: new Uint8Array(5), width: 2, height: 1 }, config), { message: /needs 6 bytes, got 5/ });
});

test('loadTeacherConfig: valid file, and errors that name the file and the field', async (t) => {
  const dir = tempDir();
  const write = (name: string, v: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, typeof v === 'string' ? v : JSON.stringify(v));
    return p;
  };
  t.deepEqual(await loadTeacherConfig(write('ok.json', { ...CIFAR_CONFIG, classes: [3, 1] })), { ...CIFAR_CONFIG, classes: [3, 1] });
  const { batch: _batch, ...noBatch } = CIFAR_CONFIG;
  t.is((await loadTeacherConfig(write('nobatch.json', noBatch))).batch, null);
  const cases: [string, unknown, RegExp][] = [
    ['size.json', { ...CIFAR_CONFIG, size: [32] }, /"size" is \[32\], expected 2 positive integers/],
    ['std.json', { ...CIFAR_CONFIG, std: [0.2, 0, 0.2] }, /"std" .* expected 3 positive numbers/],
    ['input.json', { ...CIFAR_CONFIG, input: 3 }, /"input" is 3/],
    ['typo.json', { ...CIFAR_CONFIG, clases: [1] }, /unknown field "clases"/],
    ['dup.json', { ...CIFAR_CONFIG, classes: [1, 1] }, /lists teacher output 1 twice/],
    ['batch.json', { ...CIFAR_CONFIG, batch: 0 }, /"batch" is 0/],
    ['bad.json', '{ nope', /not valid JSON/],
  ];
  for (const [name, content, message] of cases) {
    const path = write(name, content);
    const err = await t.throwsAsync(loadTeacherConfig(path), { message });
    t.true(isDdpsError(err, 'BAD_CONFIG') && err.message.includes(path), name);
  }
  await t.throwsAsync(loadTeacherConfig(join(dir, 'missing.json')), { message: /teacher config not found/ });
});

needs('shared')('Classifier.load checks the config against the model', async (t) => {
  const cases: [Partial<TeacherConfig>, RegExp][] = [
    [{ input: 'images' }, /config "input" is 'images', but the model's inputs are 'input'/],
    [{ output: 'logits' }, /config "output" is 'logits', but the model's outputs are 'output'/],
    [{ size: [224, 224] }, /input 'input' is float32\[1, 3, 32, 32\], expected \[N, 3, 224, 224\]/],
    [{ batch: null }, /fixes the batch at 1, but config "batch" is null/],
    [{ classes: [0, 10] }, /"classes" names output 10, but output 'output' has 10 values per image/],
  ];
  for (const [change, message] of cases) {
    const err = await t.throwsAsync(Classifier.load(CIFAR_TEACHER, { ...CIFAR_CONFIG, ...change }), { message });
    t.true(isDdpsError(err, 'BAD_CONFIG') && err.message.includes(CIFAR_TEACHER));
  }
  await t.throwsAsync(Classifier.load(join(MODELS, 'nope.onnx'), CIFAR_CONFIG), { message: /model file not found/ });
});

needs('shared')('CIFAR-10 ResNet-20: about 81.6 % top-1 on the first 200 test images; a fixed batch of 1 is split', async (t) => {
  const data = await firstImages(join(DATA, 'cifar10/test-000000.tar'), 200);
  const teacher = await Classifier.load(CIFAR_TEACHER, CIFAR_CONFIG);
  try {
    t.is(teacher.classCount, 10);
    const logits = await teacher.logits(data.map((d) => d.img));
    t.is(logits.length, 200);
    t.true(logits.every((l) => l.length === 10));
    const correct = logits.filter((l, i) => argmax(l) === data[i]!.cls).length;
    t.log(`cifar10-resnet20 top-1 on 200: ${((100 * correct) / 200).toFixed(1)} %`);
    t.true(correct / 200 > 0.75, `top-1 ${correct}/200`);
    // One at a time gives the same logits as the split batch.
    const single = await teacher.logits([data[7]!.img]);
    t.deepEqual(Array.from(single[0]!), Array.from(logits[7]!));
    // Restricting to classes picks those outputs, in the config's order.
    const restricted = await Classifier.load(CIFAR_TEACHER, { ...CIFAR_CONFIG, classes: [9, 0, 3] });
    const r = (await restricted.logits([data[7]!.img]))[0]!;
    await restricted.close();
    t.deepEqual(Array.from(r), [logits[7]![9]!, logits[7]![0]!, logits[7]![3]!]);
    t.deepEqual(await teacher.logits([]), []);
  } finally {
    await teacher.close();
  }
});

needs('shared')('MobileNetV2 int8 restricted to the 10 Imagenette classes: > 90 % on 50 val images; batch sizes agree', async (t) => {
  const classes = (JSON.parse(readFileSync(join(DATA, 'imagenette/classes.json'), 'utf8')) as { classes: { imagenet_index: number }[] }).classes.map((c) => c.imagenet_index);
  const data = await firstImages(join(DATA, 'imagenette/val-000000.tar'), 50);
  const teacher = await Classifier.load(IMAGENET_TEACHER, { ...IMAGENET_CONFIG, batch: 16, classes });
  try {
    t.is(teacher.classCount, 10);
    const logits = await teacher.logits(data.map((d) => d.img));
    t.true(logits.every((l) => l.length === 10));
    const correct = logits.filter((l, i) => argmax(l) === data[i]!.cls).length;
    t.log(`mobilenetv2-12-int8 (10 classes) on 50: ${((100 * correct) / 50).toFixed(1)} %`);
    t.true(correct / 50 > 0.9, `agreement ${correct}/50`);
    // Calls of 16 (the last one short) give what one image per call gives.
    const alone = await teacher.logits([data[49]!.img]);
    close(t, alone[0]!, logits[49]!, 1e-4);
  } finally {
    await teacher.close();
  }
});
