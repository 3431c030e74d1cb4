/**
 * Makes a UNet's `up_blocks.1` output (the DIFT feature map) a graph output named `dift`.
 *
 * The model is edited at the byte level: the new Identity node and graph output are appended to the
 * GraphProto's bytes (repeated protobuf fields concatenate, so they land at the end of the node and
 * output lists) and only the ModelProto's graph field header is rewritten. Weights, inline or
 * external, are never decoded, and external data stays shared through its relative location when
 * the tapped model is written beside the original.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DdpsError } from '../../core/errors.js';
import { DATA_TYPE, elemTypeOf, type ElemType } from './builder.js';
import { fieldBytes, fieldInt, fieldString, readFields, Writer, type Field } from './proto.js';

export const DIFT_OUTPUT = 'dift';
const DIFT_PREFIX = '/up_blocks.1/';

export interface DiftTensor {
  /** The tapped tensor. */
  tensor: string;
  /** The node producing it. */
  node: string;
  /** Element type given to the `dift` output. */
  elemType: ElemType;
}

interface GraphSummary {
  /** The ModelProto's graph field. */
  graph: Field & { bytes: Uint8Array };
  producers: Map<string, string>;
  lastDiftNode?: { name: string; output: string };
  outputs: Set<string>;
  inputTypes: Map<string, number>;
  valueTypes: Map<string, number>;
}

function badModel(file: string, message: string, cause?: unknown): DdpsError {
  return new DdpsError('BAD_MODEL', `${file}: ${message}`, { file, cause });
}

/** elem_type of a ValueInfoProto (0 when absent). */
function valueInfoType(bytes: Uint8Array): [string, number] {
  let name = '';
  let elemType = 0;
  for (const f of readFields(bytes)) {
    if (f.field === 1) name = fieldString(f);
    else if (f.field === 2) {
      for (const t of readFields(fieldBytes(f))) {
        if (t.field !== 1) continue; // tensor_type
        for (const tt of readFields(fieldBytes(t))) if (tt.field === 1) elemType = fieldInt(tt);
      }
    }
  }
  return [name, elemType];
}

function summarize(model: Uint8Array, file: string): GraphSummary {
  const graphs = [...readFields(model)].filter((f) => f.field === 7);
  if (graphs.length !== 1) throw badModel(file, `expected one graph in the ModelProto, found ${graphs.length}`);
  const graph = graphs[0]!;
  const s: GraphSummary = {
    graph: { ...graph, bytes: fieldBytes(graph) },
    producers: new Map(),
    outputs: new Set(),
    inputTypes: new Map(),
    valueTypes: new Map(),
  };
  for (const f of readFields(s.graph.bytes)) {
    if (f.field === 1) {
      let name = '';
      const outputs: string[] = [];
      for (const n of readFields(fieldBytes(f))) {
        if (n.field === 3) name = fieldString(n);
        else if (n.field === 2) outputs.push(fieldString(n));
      }
      for (const o of outputs) s.producers.set(o, name);
      if (name.startsWith(DIFT_PREFIX) && outputs[0]) s.lastDiftNode = { name, output: outputs[0] };
    } else if (f.field === 11 || f.field === 13) {
      const [name, type] = valueInfoType(fieldBytes(f));
      if (type) (f.field === 11 ? s.inputTypes : s.valueTypes).set(name, type);
    } else if (f.field === 12) {
      s.outputs.add(valueInfoType(fieldBytes(f))[0]);
    }
  }
  return s;
}

function choose(s: GraphSummary, file: string, tensor?: string): DiftTensor {
  let node: string;
  if (tensor !== undefined) {
    const producer = s.producers.get(tensor);
    if (producer === undefined) throw badModel(file, `no node produces tensor '${tensor}'`);
    node = producer;
  } else {
    if (!s.lastDiftNode) throw badModel(file, `no node whose name starts with '${DIFT_PREFIX}'; is this a diffusers UNet export? (pass the tensor to tap explicitly)`);
    ({ name: node, output: tensor } = s.lastDiftNode);
  }
  // The tensor's own declared type is the truth; the latent input's type is the next best guess
  // (fp16 exports compute in fp16 throughout).
  const code = s.valueTypes.get(tensor) ?? s.inputTypes.get('sample') ?? DATA_TYPE.float32;
  const elemType = elemTypeOf(code);
  if (!elemType) throw badModel(file, `tensor '${tensor}' has ONNX element type ${code}; expected a float type`);
  return { tensor, node, elemType };
}

function parse(model: Uint8Array, file: string): GraphSummary {
  try {
    return summarize(model, file);
  } catch (cause) {
    if (cause instanceof DdpsError && cause.file) throw cause;
    throw badModel(file, `not a readable ONNX model (${cause instanceof Error ? cause.message : String(cause)})`, cause);
  }
}

/** The tensor `addDiftOutput` would tap: the first output of the last node named '/up_blocks.1/…'. */
export function findDiftTensor(model: Uint8Array, file = 'model'): DiftTensor {
  return choose(parse(model, file), file);
}

/** The bytes appended to the GraphProto: an Identity node `tensor -> dift` and the graph output `dift`. */
function tapFields(t: DiftTensor): Uint8Array {
  const node = new Writer().string(1, t.tensor).string(2, DIFT_OUTPUT).string(3, '/dift/Identity').string(4, 'Identity');
  const tensorType = new Writer().int(1, DATA_TYPE[t.elemType]);
  const type = new Writer().message(1, tensorType);
  const output = new Writer().string(1, DIFT_OUTPUT).message(2, type);
  return new Writer().message(1, node).message(12, output).finish();
}

export interface DiftTapOptions {
  /** Tap this tensor instead of the last '/up_blocks.1/' node's output. */
  tensor?: string;
  /** Where to write; default `model.dift.onnx` beside the original. */
  outPath?: string;
}

export interface DiftTapResult {
  outPath: string;
  tensor: string;
  node: string;
}

async function resolveModelFile(unetPath: string): Promise<string> {
  try {
    return (await stat(unetPath)).isDirectory() ? join(unetPath, 'model.onnx') : unetPath;
  } catch (cause) {
    throw new DdpsError('MISSING_FILE', `UNet model not found: ${unetPath}`, { file: unetPath, cause });
  }
}

/**
 * Writes a copy of the UNet (`unetPath`: its model.onnx or the folder holding it) whose graph has the
 * extra output `dift`. The original file is not touched; the copy is written to a temporary name and
 * renamed, so a concurrent reader never sees half a model.
 */
export async function addDiftOutput(unetPath: string, opts: DiftTapOptions = {}): Promise<DiftTapResult> {
  const file = await resolveModelFile(unetPath);
  const outPath = opts.outPath ?? join(dirname(file), 'model.dift.onnx');
  if (resolve(outPath) === resolve(file)) {
    throw new DdpsError('BAD_ARGUMENT', `${file}: the DIFT UNet must be written to another file, not over the original`, { file });
  }
  let model: Uint8Array;
  try {
    model = await readFile(file);
  } catch (cause) {
    throw new DdpsError('MISSING_FILE', `cannot read UNet model ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { file, cause });
  }
  const summary = parse(model, file);
  if (summary.outputs.has(DIFT_OUTPUT) || summary.producers.has(DIFT_OUTPUT)) {
    throw badModel(file, `the graph already has a value named '${DIFT_OUTPUT}' (is it already tapped?)`);
  }
  const target = choose(summary, file, opts.tensor);
  const extra = tapFields(target);
  const { graph } = summary;
  const header = new Writer().tag(7, 2).varint(graph.bytes.length + extra.length).finish();
  const parts = [model.subarray(0, graph.start), header, graph.bytes, extra, model.subarray(graph.end)];

  const tmp = `${outPath}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'w');
    try {
      // One write per part, looping because a single write may be short (Linux caps it near 2 GiB).
      for (const part of parts) {
        for (let at = 0; at < part.length; ) at += (await fh.write(part, at, part.length - at)).bytesWritten;
      }
    } finally {
      await fh.close();
    }
    await rename(tmp, outPath);
  } catch (cause) {
    await rm(tmp, { force: true });
    throw new DdpsError('MISSING_FILE', `cannot write the DIFT UNet ${outPath}: ${cause instanceof Error ? cause.message : String(cause)}`, { file: outPath, cause });
  }
  return { outPath, tensor: target.tensor, node: target.node };
}
