/**
 * A small ONNX graph builder: typed inputs/outputs (symbolic dims, scalars), initializers (inline or
 * in one external data file), nodes with explicitly typed attributes. Output is a serialized
 * ModelProto that onnxruntime loads directly. Used for the toy pack and for test models.
 *
 * Attributes: a plain number is an INT and a number[] is INTS (ONNX's integer attributes — axis,
 * kernel_shape, pads, to — are the common case); floats must be asked for with `attr.float` /
 * `attr.floats` or a Float32Array, so `alpha: 1` can never silently become an INT where a FLOAT
 * was meant: a non-integer plain number is an error.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DdpsError } from '../../core/errors.js';
import { Writer } from './proto.js';

export type ElemType = 'float32' | 'float16' | 'int32' | 'int64' | 'bool' | 'uint8' | 'int8';
/** A dimension: a size, or a symbolic name such as 'batch'. */
export type Dim = number | string;
/** float16 data is the raw half-precision bits; bool, uint8 and int8 are one byte per element. */
export type TensorData = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

/** TensorProto.DataType codes. */
export const DATA_TYPE: Record<ElemType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
};

const ARRAY_FOR: Record<ElemType, new (n: number) => TensorData> = {
  float32: Float32Array,
  float16: Uint16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  bool: Uint8Array,
  uint8: Uint8Array,
  int8: Int8Array,
};

export function elemTypeOf(code: number): ElemType | undefined {
  return (Object.keys(DATA_TYPE) as ElemType[]).find((k) => DATA_TYPE[k] === code);
}

export interface TensorValue {
  elemType: ElemType;
  dims: readonly number[];
  data: TensorData;
}

export type AttrValue =
  | { kind: 'int'; value: number | bigint }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: TensorValue }
  | { kind: 'ints'; value: readonly (number | bigint)[] }
  | { kind: 'floats'; value: readonly number[] | Float32Array }
  | { kind: 'strings'; value: readonly string[] };

export type AttrInput = AttrValue | number | bigint | readonly number[] | Float32Array | string | readonly string[];

export const attr = {
  int: (value: number | bigint): AttrValue => ({ kind: 'int', value }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
  ints: (value: readonly (number | bigint)[]): AttrValue => ({ kind: 'ints', value }),
  floats: (value: readonly number[] | Float32Array): AttrValue => ({ kind: 'floats', value }),
  strings: (value: readonly string[]): AttrValue => ({ kind: 'strings', value }),
  tensor: (elemType: ElemType, dims: readonly number[], data: TensorData): AttrValue => ({
    kind: 'tensor',
    value: { elemType, dims, data },
  }),
};

/** AttributeProto.AttributeType codes. */
const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7, strings: 8 } as const;

function badArg(message: string): DdpsError {
  return new DdpsError('BAD_ARGUMENT', message);
}

function checkInteger(where: string, v: number | bigint): void {
  if (typeof v === 'number' && !Number.isInteger(v)) {
    throw badArg(`${where}: ${v} is not an integer (use attr.float / attr.floats for FLOAT attributes)`);
  }
}

function normalizeAttr(name: string, v: AttrInput): AttrValue {
  let a: AttrValue;
  if (typeof v === 'number' || typeof v === 'bigint') a = { kind: 'int', value: v };
  else if (typeof v === 'string') a = { kind: 'string', value: v };
  else if (v instanceof Float32Array) a = { kind: 'floats', value: v };
  else if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) a = { kind: 'strings', value: v as string[] };
    else if (v.every((x) => typeof x === 'number')) a = { kind: 'ints', value: v as number[] };
    else throw badArg(`attribute '${name}': a list must be all numbers (INTS) or all strings (STRINGS)`);
  } else a = v as AttrValue;
  if (a.kind === 'int') checkInteger(`attribute '${name}'`, a.value);
  if (a.kind === 'ints') for (const x of a.value) checkInteger(`attribute '${name}'`, x);
  if (a.kind === 'tensor') tensorBytes(name, a.value);
  return a;
}

function tensorBytes(name: string, t: TensorValue): Uint8Array {
  const count = t.dims.reduce((a, b) => a * b, 1);
  for (const d of t.dims) {
    if (!Number.isInteger(d) || d < 0) throw badArg(`tensor '${name}': dims [${t.dims}] must be non-negative integers`);
  }
  if (!(t.data instanceof ARRAY_FOR[t.elemType])) {
    throw badArg(`tensor '${name}': ${t.elemType} data must be a ${ARRAY_FOR[t.elemType].name}, got ${t.data.constructor.name}`);
  }
  if (t.data.length !== count) {
    throw badArg(`tensor '${name}': dims [${t.dims}] need ${count} values, got ${t.data.length}`);
  }
  // ONNX raw_data is little-endian, which is the byte order of typed arrays on every host ORT runs on.
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

interface ExternalRef {
  location: string;
  offset: number;
}

function tensorProto(name: string, t: TensorValue, raw: Uint8Array, external?: ExternalRef): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  w.int(2, DATA_TYPE[t.elemType]);
  if (name) w.string(8, name);
  if (!external) return w.bytes(9, raw);
  const entry = (key: string, value: string) => new Writer().string(1, key).string(2, value);
  w.message(13, entry('location', external.location));
  w.message(13, entry('offset', String(external.offset)));
  w.message(13, entry('length', String(raw.length)));
  return w.int(14, 1);
}

function attributeProto(name: string, a: AttrValue): Writer {
  const w = new Writer().string(1, name);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value);
      break;
    case 'int':
      w.int(3, a.value);
      break;
    case 'string':
      w.string(4, a.value);
      break;
    case 'tensor':
      w.message(5, tensorProto('', a.value, tensorBytes(name, a.value)));
      break;
    case 'floats':
      w.packedFloats(7, a.value);
      break;
    case 'ints':
      w.packedInts(8, a.value);
      break;
    case 'strings':
      for (const s of a.value) w.string(9, s);
      break;
  }
  return w.int(20, ATTR_TYPE[a.kind]);
}

interface ValueSpec {
  name: string;
  elemType: ElemType;
  shape?: Dim[];
}

function valueInfo({ name, elemType, shape }: ValueSpec): Writer {
  const tensorType = new Writer().int(1, DATA_TYPE[elemType]);
  if (shape) {
    const shapeProto = new Writer();
    for (const d of shape) {
      shapeProto.message(1, typeof d === 'string' ? new Writer().string(2, d) : new Writer().int(1, d));
    }
    // Written even when empty: an empty shape is what makes a value a scalar rather than of unknown rank.
    tensorType.message(2, shapeProto);
  }
  const type = new Writer().message(1, tensorType);
  return new Writer().string(1, name).message(2, type);
}

interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attrs: [string, AttrValue][];
  name?: string;
  domain?: string;
}

export interface NodeOptions {
  name?: string;
  /** Operator domain, e.g. 'com.microsoft'; import its opset with ModelOptions.opsets. */
  domain?: string;
}

export interface ExternalDataOptions {
  /** File name relative to the model file, e.g. 'model.onnx_data' or 'weights.pb'. */
  location: string;
  /** Initializers smaller than this stay inline (default 0: all go to the external file). */
  minBytes?: number;
}

export interface ModelOptions {
  /** Default-domain opset (default 17). */
  opset?: number;
  /** Extra operator sets by domain, e.g. { 'com.microsoft': 1 }. */
  opsets?: Record<string, number>;
  irVersion?: number;
  producerName?: string;
  externalData?: ExternalDataOptions;
}

export interface BuiltModel {
  model: Uint8Array;
  /** Contents of the external data file, when ModelOptions.externalData was given. */
  external?: Uint8Array;
}

/** External tensors start on 64-byte boundaries so the file can be mapped and viewed as any typed array. */
const EXTERNAL_ALIGN = 64;

export class GraphBuilder {
  private readonly inputs: ValueSpec[] = [];
  private readonly outputs: ValueSpec[] = [];
  private readonly initializers: { name: string; tensor: TensorValue; raw: Uint8Array }[] = [];
  private readonly nodes: NodeSpec[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  private checkShape(name: string, shape: readonly Dim[] | undefined): void {
    for (const d of shape ?? []) {
      if (typeof d === 'number' && !(Number.isInteger(d) && d >= 0)) {
        throw badArg(`graph '${this.name}', value '${name}': dimension ${d} must be a non-negative integer or a symbolic name`);
      }
    }
  }

  private define(name: string, what: string): void {
    if (!name) throw badArg(`graph '${this.name}': ${what} needs a name`);
    if (this.names.has(name)) throw badArg(`graph '${this.name}': '${name}' is defined twice (${what})`);
    this.names.add(name);
  }

  /** A graph input; shape [] is a scalar, a string entry a symbolic dimension. */
  input(name: string, elemType: ElemType, shape: readonly Dim[]): string {
    this.checkShape(name, shape);
    this.define(name, 'input');
    this.inputs.push({ name, elemType, shape: [...shape] });
    return name;
  }

  /** A graph output; without a shape its rank is left to the runtime's inference. */
  output(name: string, elemType: ElemType, shape?: readonly Dim[]): string {
    this.checkShape(name, shape);
    this.outputs.push({ name, elemType, shape: shape && [...shape] });
    return name;
  }

  /** A weight; `data` is referenced, not copied, until toModel serializes it. */
  initializer(name: string, elemType: ElemType, dims: readonly number[], data: TensorData): string {
    const tensor = { elemType, dims: [...dims], data };
    const raw = tensorBytes(name, tensor);
    this.define(name, 'initializer');
    this.initializers.push({ name, tensor, raw });
    return name;
  }

  /** A Constant node producing `name` (kept in the graph, never moved to external data). */
  constant(name: string, elemType: ElemType, dims: readonly number[], data: TensorData): string {
    return this.node('Constant', [], [name], { value: attr.tensor(elemType, dims, data) });
  }

  /** Appends a node (nodes must be added in topological order); returns its first output. */
  node(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attrs: Record<string, AttrInput> = {},
    opts: NodeOptions = {},
  ): string {
    if (outputs.length === 0) throw badArg(`graph '${this.name}': ${opType} node needs at least one output`);
    const normalized = Object.entries(attrs).map(([k, v]): [string, AttrValue] => [k, normalizeAttr(k, v)]);
    for (const o of outputs) this.define(o, `output of ${opType}`);
    this.nodes.push({ opType, inputs: [...inputs], outputs: [...outputs], attrs: normalized, ...opts });
    return outputs[0]!;
  }

  /** A fresh tensor name with the given prefix, for intermediate values. */
  fresh(prefix = 't'): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }

  toModel(opts: ModelOptions = {}): BuiltModel {
    const graph = new Writer();
    for (const n of this.nodes) graph.message(1, nodeProto(n));
    graph.string(2, this.name);

    const ext = opts.externalData;
    const externalChunks: Uint8Array[] = [];
    let externalLength = 0;
    for (const init of this.initializers) {
      if (!ext || init.raw.length < (ext.minBytes ?? 0)) {
        graph.message(5, tensorProto(init.name, init.tensor, init.raw));
        continue;
      }
      const offset = Math.ceil(externalLength / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
      if (offset > externalLength) externalChunks.push(new Uint8Array(offset - externalLength));
      externalChunks.push(init.raw);
      externalLength = offset + init.raw.length;
      graph.message(5, tensorProto(init.name, init.tensor, init.raw, { location: ext.location, offset }));
    }
    for (const i of this.inputs) graph.message(11, valueInfo(i));
    for (const o of this.outputs) graph.message(12, valueInfo(o));

    const model = new Writer()
      .int(1, opts.irVersion ?? 8)
      .string(2, opts.producerName ?? 'ddps')
      .message(7, graph);
    const opsets: [string, number][] = [['', opts.opset ?? 17], ...Object.entries(opts.opsets ?? {})];
    for (const [domain, version] of opsets) {
      const id = new Writer();
      if (domain) id.string(1, domain);
      model.message(8, id.int(2, version));
    }
    const built: BuiltModel = { model: model.finish() };
    if (ext) built.external = concat(externalChunks, externalLength);
    return built;
  }

  /** Writes the model to `modelPath` and, with external data, its data file beside it. */
  async save(modelPath: string, opts: ModelOptions = {}): Promise<BuiltModel> {
    const built = this.toModel(opts);
    await mkdir(dirname(modelPath), { recursive: true });
    if (built.external && opts.externalData) await writeFile(join(dirname(modelPath), opts.externalData.location), built.external);
    await writeFile(modelPath, built.model);
    return built;
  }
}

function nodeProto(n: NodeSpec): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of n.attrs) w.message(5, attributeProto(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
