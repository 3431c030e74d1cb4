import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDdpsError } from '../core/errors.js';
import { attr, GraphBuilder, type ModelOptions } from '../models/onnx/builder.js';
import {
  fieldFloat,
  fieldInt,
  fieldString,
  readFields,
  readPackedFloats,
  readPackedInts,
  Writer,
  type Field,
} from '../models/onnx/proto.js';
import { OnnxModel, type HostTensor } from '../models/runtime.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fields = (b: Uint8Array) => [...readFields(b)];
const bytesOf = (f: Field) => {
  if (f.wireType === 0) throw new Error('expected a bytes field');
  return f.bytes;
};

// ---------- protobuf wire format ----------

test('varints match the protobuf encoding, including 64-bit and negative values', (t) => {
  const enc = (v: number | bigint) => hex(new Writer().varint(v).finish());
  t.is(enc(0), '00');
  t.is(enc(1), '01');
  t.is(enc(127), '7f');
  t.is(enc(128), '8001');
  t.is(enc(300), 'ac02');
  t.is(enc(2 ** 32), '8080808010');
  t.is(enc(Number.MAX_SAFE_INTEGER), 'ffffffffffffff0f');
  t.is(enc(2n ** 63n), '80808080808080808001');
  t.is(enc(2n ** 64n - 1n), 'ffffffffffffffffff01');
  // int64 -1 is 64-bit two's complement: ten bytes.
  t.is(enc(-1), 'ffffffffffffffffff01');
  t.is(enc(-2n), 'feffffffffffffffff01');
  t.throws(() => new Writer().varint(2n ** 64n), { instanceOf: RangeError });
  t.throws(() => new Writer().varint(1.5), { instanceOf: RangeError });
});

test('fields encode as in the protobuf documentation', (t) => {
  t.is(hex(new Writer().int(1, 150).finish()), '089601');
  t.is(hex(new Writer().string(2, 'testing').finish()), '120774657374696e67');
  t.is(hex(new Writer().float(1, 1).finish()), '0d0000803f');
  t.is(hex(new Writer().packedInts(4, [3, 270, 86942]).finish()), '2206038e029ea705');
  t.is(hex(new Writer().packedFloats(7, [1, -2]).finish()), '3a080000803f000000c0');
  t.is(hex(new Writer().message(3, new Writer().int(1, 150)).finish()), '1a03089601');
});

test('readFields returns values, byte ranges and views without copying', (t) => {
  const inner = new Writer().int(1, 150);
  const msg = new Writer().int(1, -1).string(2, 'hé').float(3, 0.5).message(4, inner).packedInts(5, [3, -1]).finish();
  const fs = fields(msg);
  t.deepEqual(
    fs.map((f) => [f.field, f.wireType, f.start, f.end]),
    [
      [1, 0, 0, 11],
      [2, 2, 11, 16],
      [3, 5, 16, 21],
      [4, 2, 21, 26],
      [5, 2, 26, 39],
    ],
  );
  t.is(fieldInt(fs[0]!), -1);
  t.is(fieldString(fs[1]!), 'hé');
  t.is(fieldFloat(fs[2]!), 0.5);
  const sub = bytesOf(fs[3]!);
  t.is(sub.buffer, msg.buffer, 'a view into the input, not a copy');
  t.is(sub.byteOffset, msg.byteOffset + 23);
  t.is(fieldInt(fields(sub)[0]!), 150);
  t.deepEqual(readPackedInts(bytesOf(fs[4]!)), [3n, -1n]);
  t.deepEqual([...readPackedFloats(new Writer().packedFloats(1, [1.5, -3]).finish().subarray(2))], [1.5, -3]);
});

test('large byte runs are kept by reference and concatenated in order', (t) => {
  const big = new Uint8Array(5000).map((_, i) => i % 251);
  const w = new Writer().int(1, 7).bytes(2, big).int(3, 9);
  t.is(w.length, 2 + 3 + 5000 + 2);
  const chunks = w.finishChunks();
  t.true(chunks.includes(big));
  const out = new Writer().message(10, w).finish();
  const [outer] = fields(out);
  const inner = fields(bytesOf(outer!));
  t.deepEqual(inner.map((f) => f.field), [1, 2, 3]);
  t.deepEqual(bytesOf(inner[1]!), big);
  t.is(fieldInt(inner[2]!), 9);
});

test('malformed input is a BAD_MODEL error saying where', (t) => {
  const truncated = new Writer().string(2, 'testing').finish().subarray(0, 5);
  const e = t.throws(() => fields(truncated));
  t.true(isDdpsError(e, 'BAD_MODEL'));
  t.regex(e!.message, /field 2 runs past the end .* at byte 0/);
  t.true(isDdpsError(t.throws(() => fields(new Uint8Array([0x08, 0x80]))), 'BAD_MODEL'));
  t.true(isDdpsError(t.throws(() => fields(new Uint8Array([0x0b]))), 'BAD_MODEL'), 'group wire type');
});

// ---------- graph builder, run with onnxruntime ----------

let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ddps-onnx-builder-'));
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function runGraph(g: GraphBuilder, file: string, feeds: Record<string, HostTensor>, opts?: ModelOptions) {
  const path = join(dir, file);
  await g.save(path, opts);
  const model = await OnnxModel.load(path);
  try {
    return { model, out: await model.run(feeds) };
  } finally {
    await model.release();
  }
}

const f32 = (dims: number[], values: number[]): HostTensor => ({ dtype: 'float32', dims, data: Float32Array.from(values) });

test('ModelProto header: ir_version, producer, opset imports', (t) => {
  const g = new GraphBuilder('g');
  g.input('x', 'float32', [1]);
  g.node('Identity', ['x'], ['y']);
  g.output('y', 'float32', [1]);
  const { model, external } = g.toModel({ opset: 18, opsets: { 'com.microsoft': 1 } });
  t.is(external, undefined);
  const top = fields(model);
  t.deepEqual(top.map((f) => f.field), [1, 2, 7, 8, 8]);
  t.is(fieldInt(top[0]!), 8);
  t.is(fieldString(top[1]!), 'ddps');
  const opsets = top.slice(3).map((f) => fields(bytesOf(f)).map((x) => (x.wireType === 0 ? fieldInt(x) : fieldString(x))));
  t.deepEqual(opsets, [[18], ['com.microsoft', 1]]);
});

test('Add with a symbolic batch dimension and an inline initializer', async (t) => {
  const g = new GraphBuilder('add');
  g.input('x', 'float32', ['batch', 3]);
  g.initializer('b', 'float32', [3], Float32Array.from([10, 20, 30]));
  g.node('Add', ['x', 'b'], ['y']);
  g.output('y', 'float32', ['batch', 3]);
  const { model, out } = await runGraph(g, 'add.onnx', { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) });
  t.deepEqual(model.inputs, [{ name: 'x', dtype: 'float32', shape: ['batch', 3] }]);
  t.deepEqual(out.y!.dims, [2, 3]);
  t.deepEqual([...out.y!.data], [11, 22, 33, 14, 25, 36]);
});

test('MatMul with weights in an external data file', async (t) => {
  const g = new GraphBuilder('matmul');
  g.input('x', 'float32', ['n', 3]);
  g.initializer('w', 'float32', [3, 2], Float32Array.from([1, 2, 3, 4, 5, 6]));
  g.initializer('c', 'float32', [2], Float32Array.from([0.5, -0.5]));
  g.initializer('tiny', 'float32', [1], Float32Array.from([2]));
  g.node('MatMul', ['x', 'w'], ['xw']);
  g.node('Add', ['xw', 'c'], ['z']);
  g.node('Mul', ['z', 'tiny'], ['y']);
  g.output('y', 'float32', ['n', 2]);
  const opts: ModelOptions = { externalData: { location: 'weights.pb', minBytes: 8 } };
  const { out } = await runGraph(g, 'matmul.onnx', { x: f32([2, 3], [1, 0, 0, 1, 1, 1]) }, opts);
  // [1,0,0]·w = [1,2]; [1,1,1]·w = [9,12]; then (+c) * 2.
  t.deepEqual([...out.y!.data], [3, 3, 19, 23]);

  // w at offset 0 (24 bytes), c aligned to 64; 'tiny' (4 bytes < minBytes) stays inline.
  const ext = await readFile(join(dir, 'weights.pb'));
  t.is(ext.length, 64 + 8);
  t.deepEqual([...new Float32Array(ext.buffer, ext.byteOffset + 64, 2)], [0.5, -0.5]);
  const graph = bytesOf(fields(await readFile(join(dir, 'matmul.onnx'))).find((f) => f.field === 7)!);
  const inits = fields(graph).filter((f) => f.field === 5).map((f) => fields(bytesOf(f)));
  const entries = (tensor: Field[]) =>
    tensor.filter((f) => f.field === 13).map((f) => fields(bytesOf(f)).map(fieldString).join('='));
  t.deepEqual(entries(inits[1]!), ['location=weights.pb', 'offset=64', 'length=8']);
  t.is(fieldInt(inits[1]!.find((f) => f.field === 14)!), 1, 'data_location EXTERNAL');
  t.deepEqual(entries(inits[2]!), []);
});

test('Gather with int64 indices, Cast to int32, Greater to bool', async (t) => {
  const g = new GraphBuilder('gather');
  g.input('idx', 'int64', ['k']);
  g.initializer('table', 'float32', [4, 2], Float32Array.from([0, 1, 10, 11, 20, 21, 30, 31]));
  g.initializer('limit', 'int32', [], Int32Array.from([15]));
  g.node('Gather', ['table', 'idx'], ['rows'], { axis: 0 });
  g.node('Cast', ['rows'], ['rows_i'], { to: 6 });
  g.node('Greater', ['rows_i', 'limit'], ['big']);
  g.output('rows_i', 'int32', ['k', 2]);
  g.output('big', 'bool', ['k', 2]);
  const { out } = await runGraph(g, 'gather.onnx', { idx: { dtype: 'int64', dims: [3], data: BigInt64Array.from([3n, 0n, 2n]) } });
  t.is(out.rows_i!.dtype, 'int32');
  t.deepEqual([...out.rows_i!.data], [30, 31, 0, 1, 20, 21]);
  t.is(out.big!.dtype, 'bool');
  t.deepEqual([...out.big!.data].map(Number), [1, 1, 0, 0, 1, 1]);
});

test('int64 I/O keeps values beyond 2^32; a negative INT attribute round-trips', async (t) => {
  const g = new GraphBuilder('int64');
  g.input('a', 'int64', [1, 2]);
  g.initializer('b', 'int64', [1, 1], BigInt64Array.from([-(2n ** 40n)]));
  g.node('Concat', ['a', 'b'], ['y'], { axis: -1 });
  g.output('y', 'int64', [1, 3]);
  const { out } = await runGraph(g, 'int64.onnx', { a: { dtype: 'int64', dims: [1, 2], data: BigInt64Array.from([2n ** 40n + 5n, -7n]) } });
  t.deepEqual([...out.y!.data], [2n ** 40n + 5n, -7n, -(2n ** 40n)]);
});

test('Conv (STRING auto_pad, INTS) and AveragePool give the known sums and means', async (t) => {
  const g = new GraphBuilder('conv');
  g.input('img', 'float32', ['batch', 1, 4, 4]);
  g.initializer('k', 'float32', [1, 1, 3, 3], new Float32Array(9).fill(1));
  g.node('Conv', ['img', 'k'], ['sums'], { auto_pad: 'SAME_UPPER', kernel_shape: [3, 3] }, { name: 'conv' });
  g.node('AveragePool', ['sums'], ['pooled'], { kernel_shape: [2, 2], strides: [2, 2] });
  g.output('sums', 'float32', ['batch', 1, 4, 4]);
  g.output('pooled', 'float32', ['batch', 1, 2, 2]);
  const img = Array.from({ length: 16 }, (_, i) => i);
  const { out } = await runGraph(g, 'conv.onnx', { img: f32([1, 1, 4, 4], img) });
  const sums = boxSums(img, 4);
  t.deepEqual([...out.sums!.data], sums);
  t.deepEqual(out.pooled!.dims, [1, 1, 2, 2]);
  const mean = (r: number, c: number) => (sums[r * 4 + c]! + sums[r * 4 + c + 1]! + sums[r * 4 + c + 4]! + sums[r * 4 + c + 5]!) / 4;
  t.deepEqual([...out.pooled!.data], [mean(0, 0), mean(0, 2), mean(2, 0), mean(2, 2)]);
  t.deepEqual(sums.slice(0, 4), [10, 18, 24, 18]);
});

/** 3x3 box sums with zero padding on an n x n image. */
function boxSums(img: number[], n: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      let s = 0;
      for (let dr = -1; dr <= 1; dr++) for (let dc = -1; dc <= 1; dc++) {
        const rr = r + dr;
        const cc = c + dc;
        if (rr >= 0 && rr < n && cc >= 0 && cc < n) s += img[rr * n + cc]!;
      }
      out.push(s);
    }
  }
  return out;
}

test('scalar input; FLOAT, FLOATS, INTS and TENSOR attributes', async (t) => {
  const g = new GraphBuilder('attrs');
  g.input('t', 'float32', []);
  g.constant('three', 'float32', [], Float32Array.from([3]));
  g.node('Constant', [], ['fl'], { value_floats: attr.floats([0.25, -4]) });
  g.node('Constant', [], ['shape'], { value_ints: [2, 1] });
  g.node('Mul', ['t', 'three'], ['t3']);
  g.node('LeakyRelu', ['fl'], ['leaky'], { alpha: attr.float(0.5) });
  g.node('Mul', ['leaky', 't3'], ['prod']);
  g.node('Reshape', ['prod', 'shape'], ['y']);
  g.output('t3', 'float32', []);
  g.output('y', 'float32', [2, 1]);
  const { model, out } = await runGraph(g, 'attrs.onnx', { t: f32([], [2]) });
  t.deepEqual(model.input('t')!.shape, []);
  t.deepEqual(out.t3!.dims, []);
  t.deepEqual([...out.t3!.data], [6]);
  t.deepEqual(out.y!.dims, [2, 1]);
  t.deepEqual([...out.y!.data], [1.5, -12]);
});

test('float16 inputs and outputs carry the exact half-precision bits', async (t) => {
  const g = new GraphBuilder('half');
  g.input('a', 'float16', [2]);
  g.initializer('b', 'float16', [2], Uint16Array.from([0x3800, 0xbe00])); // 0.5, -1.5
  g.node('Add', ['a', 'b'], ['y']);
  g.node('Cast', ['y'], ['y32'], { to: 1 });
  g.output('y', 'float16', [2]);
  g.output('y32', 'float32', [2]);
  const { out } = await runGraph(g, 'half.onnx', { a: { dtype: 'float16', dims: [2], data: Uint16Array.from([0x3c00, 0x4000]) } }); // 1, 2
  t.is(out.y!.dtype, 'float16');
  t.deepEqual([...out.y!.data], [0x3e00, 0x3800]); // 1.5, 0.5
  t.deepEqual([...out.y32!.data], [1.5, 0.5]);
});

test('builder errors name the value and what was expected', (t) => {
  const g = new GraphBuilder('bad');
  g.input('x', 'float32', [2]);
  let e = t.throws(() => g.node('LeakyRelu', ['x'], ['y'], { alpha: 0.1 }));
  t.true(isDdpsError(e, 'BAD_ARGUMENT'));
  t.regex(e!.message, /'alpha'.*0\.1 is not an integer.*attr\.float/);
  e = t.throws(() => g.initializer('w', 'float32', [2, 2], new Float32Array(3)));
  t.regex(e!.message, /'w'.*\[2,2\] need 4 values, got 3/);
  e = t.throws(() => g.initializer('w', 'int64', [1], new Int32Array(1)));
  t.regex(e!.message, /'w'.*int64 data must be a BigInt64Array, got Int32Array/);
  e = t.throws(() => g.input('x', 'float32', [2]));
  t.regex(e!.message, /'x' is defined twice/);
  t.throws(() => g.input('z', 'float32', [-1]), { message: /dimension -1/ });
});
