import test from 'ava';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDdpsError } from '../core/errors.js';
import { GraphBuilder } from '../models/onnx/builder.js';
import { addDiftOutput, findDiftTensor } from '../models/onnx/diftTap.js';
import { fieldString, readFields, type Field } from '../models/onnx/proto.js';
import { OnnxModel, type HostTensor } from '../models/runtime.js';
import { TINY_SD } from './helpers/paths.js';
import { needs } from './helpers/needs.js';

const FIXTURE = join(TINY_SD, 'unet');
const DIFT_TENSOR = '/up_blocks.1/upsamplers.0/conv/Conv_output_0';

let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ddps-dift-'));
});
let copied: Promise<void> | undefined;
/** The tiny-sd UNet in `dir`, copied by the first test that needs it. */
const fixtureUnet = (): Promise<void> =>
  (copied ??= (async () => {
    // A copy, not a symlink: onnxruntime rejects external data whose real path leaves the model's folder.
    await copyFile(join(FIXTURE, 'model.onnx'), join(dir, 'model.onnx'));
    await copyFile(join(FIXTURE, 'model.onnx_data'), join(dir, 'model.onnx_data'));
  })());
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const bytesOf = (f: Field) => {
  if (f.wireType === 0) throw new Error('expected a bytes field');
  return f.bytes;
};
const graphOf = (model: Uint8Array) => bytesOf([...readFields(model)].find((f) => f.field === 7)!);
const strings = (msg: Uint8Array, field: number) => [...readFields(msg)].filter((f) => f.field === field).map(fieldString);
const outputNames = (graph: Uint8Array) =>
  [...readFields(graph)].filter((f) => f.field === 12).map((f) => strings(bytesOf(f), 1)[0]);

/** A deterministic, non-constant pattern. */
const pattern = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k) * 0.8);

function unetFeeds(): Record<string, HostTensor> {
  return {
    sample: { dtype: 'float32', dims: [2, 4, 32, 32], data: pattern(2 * 4 * 32 * 32, 0.37) },
    timestep: { dtype: 'float32', dims: [], data: Float32Array.from([261]) },
    encoder_hidden_states: { dtype: 'float32', dims: [2, 77, 32], data: pattern(2 * 77 * 32, 1.3) },
  };
}

async function run(path: string, feeds: Record<string, HostTensor>) {
  const model = await OnnxModel.load(path);
  try {
    return await model.run(feeds);
  } finally {
    await model.release();
  }
}

needs('shared')('findDiftTensor picks the up_blocks.1 upsampler conv of the tiny-sd UNet', async (t) => {
  await fixtureUnet();
  const found = findDiftTensor(await readFile(join(FIXTURE, 'model.onnx')));
  t.deepEqual(found, { tensor: DIFT_TENSOR, node: '/up_blocks.1/upsamplers.0/conv/Conv', elemType: 'float32' });
});

needs('shared')('the tapped UNet outputs dift [2,64,16,16] and the same out_sample, bit for bit', async (t) => {
  await fixtureUnet();
  const original = join(dir, 'model.onnx');
  const before = await readFile(original);
  const r = await addDiftOutput(original);
  t.deepEqual(r, { outPath: join(dir, 'model.dift.onnx'), tensor: DIFT_TENSOR, node: '/up_blocks.1/upsamplers.0/conv/Conv' });
  t.true((await readFile(original)).equals(before), 'the original is untouched');

  const tapped = await readFile(r.outPath);
  // Only the graph field changed: the fields around it are byte-identical.
  const top = (b: Uint8Array) => [...readFields(b)].filter((f) => f.field !== 7).map((f) => Buffer.from(b.subarray(f.start, f.end)).toString('hex'));
  t.deepEqual(top(tapped), top(before));
  const g0 = graphOf(before);
  const g1 = graphOf(tapped);
  t.true(Buffer.from(g1.subarray(0, g0.length)).equals(g0), 'the graph is the original graph plus appended fields');
  t.deepEqual(outputNames(g1), ['out_sample', 'dift']);
  const nodes = [...readFields(g1)].filter((f) => f.field === 1);
  const last = bytesOf(nodes.at(-1)!);
  t.deepEqual([strings(last, 4), strings(last, 1), strings(last, 2)], [['Identity'], [DIFT_TENSOR], ['dift']]);
  t.is(findDiftTensor(tapped).tensor, DIFT_TENSOR, 'the Identity node is not mistaken for an up_blocks.1 node');

  const feeds = unetFeeds();
  const plain = await run(original, feeds);
  const out = await run(r.outPath, feeds);
  t.deepEqual(Object.keys(out).sort(), ['dift', 'out_sample']);
  t.deepEqual(out.out_sample!.dims, [2, 4, 32, 32]);
  t.deepEqual(out.out_sample!.data, plain.out_sample!.data);
  t.deepEqual(out.dift!.dims, [2, 64, 16, 16]);
  const dift = out.dift!.data as Float32Array;
  t.true(dift.every(Number.isFinite));
  t.true(new Set(dift).size > 1000, 'a real feature map, not a constant');

  await t.throwsAsync(addDiftOutput(r.outPath, { outPath: join(dir, 'twice.onnx') }), { message: /already has a value named 'dift'/ });
});

needs('shared')('an explicit tensor is tapped instead, into the given file; an unknown one is refused', async (t) => {
  await fixtureUnet();
  const outPath = join(dir, 'model.up0.onnx');
  const tensor = '/up_blocks.0/upsamplers.0/conv/Conv_output_0';
  const r = await addDiftOutput(dir, { tensor, outPath });
  t.deepEqual(r, { outPath, tensor, node: '/up_blocks.0/upsamplers.0/conv/Conv' });
  const out = await run(outPath, unetFeeds());
  t.deepEqual(out.dift!.dims, [2, 64, 8, 8]);

  const e = await t.throwsAsync(addDiftOutput(dir, { tensor: 'nope', outPath: join(dir, 'x.onnx') }));
  t.true(isDdpsError(e, 'BAD_MODEL'));
  t.is(e!.message, `${join(dir, 'model.onnx')}: no node produces tensor 'nope'`);
});

test('dift takes the float16 type of the sample input; inline initializers survive the splice', async (t) => {
  const g = new GraphBuilder('half-unet');
  g.input('sample', 'float16', ['batch', 2]);
  g.initializer('bias', 'float16', [2], Uint16Array.from([0x3c00, 0x4000])); // 1, 2
  g.node('Add', ['sample', 'bias'], ['h'], {}, { name: '/up_blocks.1/Add' });
  g.node('Neg', ['h'], ['out_sample'], {}, { name: '/up_blocks.2/Neg' });
  g.output('out_sample', 'float16', ['batch', 2]);
  const path = join(dir, 'half', 'model.onnx');
  await g.save(path);
  const r = await addDiftOutput(path);
  t.is(r.outPath, join(dir, 'half', 'model.dift.onnx'));
  t.is(r.tensor, 'h');
  const out = await run(r.outPath, { sample: { dtype: 'float16', dims: [1, 2], data: Uint16Array.from([0x3800, 0xbc00]) } }); // 0.5, -1
  t.is(out.dift!.dtype, 'float16');
  t.deepEqual([...out.dift!.data], [0x3e00, 0x3c00]); // 1.5, 1
  t.deepEqual([...out.out_sample!.data], [0xbe00, 0xbc00]); // -1.5, -1
});

test('errors name the file: no up_blocks.1 node, no graph, missing file', async (t) => {
  const g = new GraphBuilder('plain');
  g.input('sample', 'float32', [1]);
  g.node('Relu', ['sample'], ['out_sample'], {}, { name: '/up_blocks.0/Relu' });
  g.output('out_sample', 'float32', [1]);
  const plain = join(dir, 'plain.onnx');
  await g.save(plain);
  let e = await t.throwsAsync(addDiftOutput(plain, { outPath: join(dir, 'plain.dift.onnx') }));
  t.true(isDdpsError(e, 'BAD_MODEL'));
  t.regex(e!.message, new RegExp(`^${plain}: no node whose name starts with '/up_blocks.1/'`));

  const noGraph = join(dir, 'nograph.onnx');
  await writeFile(noGraph, Uint8Array.from([0x08, 0x08])); // ir_version 8 and nothing else
  e = await t.throwsAsync(addDiftOutput(noGraph));
  t.true(isDdpsError(e, 'BAD_MODEL'));
  t.is(e!.message, `${noGraph}: expected one graph in the ModelProto, found 0`);

  const garbage = join(dir, 'garbage.onnx');
  await writeFile(garbage, 'this is not protobuf');
  e = await t.throwsAsync(addDiftOutput(garbage));
  t.true(isDdpsError(e, 'BAD_MODEL'));
  t.regex(e!.message, new RegExp(`^${garbage}: not a readable ONNX model \\(malformed protobuf`));

  e = await t.throwsAsync(addDiftOutput(plain, { outPath: plain }));
  t.true(isDdpsError(e, 'BAD_ARGUMENT'), 'never overwrites the original');

  const missing = join(dir, 'nowhere', 'model.onnx');
  e = await t.throwsAsync(addDiftOutput(missing));
  t.true(isDdpsError(e, 'MISSING_FILE'));
  t.is((e as { file?: string }).file, missing);
});
