/**
 * The one module that talks to ONNX Runtime. Everything else sees `OnnxModel` and plain typed arrays,
 * so providers, thread counts and tensor conversion are decided here and nowhere else.
 *
 * Sessions are meant to be long-lived: creating and releasing them repeatedly leaks native memory in
 * onnxruntime-node (DESIGN.md), so callers load a model once per worker and keep it.
 */
import { existsSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { DdpsError } from '../core/errors.js';

export type DType = 'float32' | 'float16' | 'int32' | 'int64' | 'bool' | 'uint8' | 'int8';
export type TensorData = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

export interface HostTensor {
  dtype: DType;
  dims: number[];
  data: TensorData;
}

/** An input or output as the session declares it; shape entries are numbers or symbolic names, [] = scalar. */
export interface TensorInfo {
  name: string;
  dtype: string;
  shape: (number | string)[] | undefined;
}

/** An ONNX Runtime execution provider ddps knows how to ask for. */
export type Provider = 'cpu' | 'cuda' | 'webgpu';

/** How ONNX Runtime runs a model: execution providers in order of preference, and threads. */
export interface RuntimeOptions {
  /** Execution providers in order of preference; 'cpu' is always the last fallback. */
  providers?: Provider[];
  /** Threads inside one operator; set so that workers x threads = cores. */
  intraOpThreads?: number;
  interOpThreads?: number;
}

const PROVIDERS: readonly Provider[] = ['cpu', 'cuda', 'webgpu'];

/** `DDPS_PROVIDERS=cuda,cpu` lets a user opt into a GPU without touching code. */
export function providersFromEnv(env: NodeJS.ProcessEnv = process.env): Provider[] | undefined {
  const raw = env.DDPS_PROVIDERS?.trim();
  if (!raw) return undefined;
  return parseProviders(raw);
}

/** Parses a comma-separated provider list (`cuda,cpu`); DdpsError('BAD_ARGUMENT') names an unknown one. */
export function parseProviders(raw: string): Provider[] {
  const list = raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const p of list) {
    if (!PROVIDERS.includes(p as Provider)) {
      throw new DdpsError('BAD_ARGUMENT', `unknown execution provider '${p}': expected one of ${PROVIDERS.join(', ')}`);
    }
  }
  return list as Provider[];
}

function sessionOptions(opts: RuntimeOptions): ort.InferenceSession.SessionOptions {
  const providers = opts.providers ?? providersFromEnv() ?? ['cpu'];
  const list = providers.includes('cpu') ? providers : [...providers, 'cpu'];
  return {
    executionProviders: list,
    graphOptimizationLevel: 'all',
    ...(opts.intraOpThreads ? { intraOpNumThreads: opts.intraOpThreads } : {}),
    ...(opts.interOpThreads ? { interOpNumThreads: opts.interOpThreads } : {}),
  };
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return meta.map((m) =>
    m.isTensor
      ? { name: m.name, dtype: String(m.type), shape: m.shape.map((d) => (typeof d === 'number' ? d : String(d))) }
      : { name: m.name, dtype: 'non-tensor', shape: undefined },
  );
}

export function tensorSize(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

let sessions = 0;

/** Sessions created in this process: lets tests prove that a step ran no model. */
export function sessionsCreated(): number {
  return sessions;
}

export class OnnxModel {
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];

  private constructor(
    readonly path: string,
    private readonly session: ort.InferenceSession,
  ) {
    this.inputs = describe(session.inputMetadata);
    this.outputs = describe(session.outputMetadata);
  }

  static async load(path: string, opts: RuntimeOptions = {}): Promise<OnnxModel> {
    if (!existsSync(path)) throw new DdpsError('MISSING_FILE', `model file not found: ${path}`, { file: path });
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, sessionOptions(opts));
      sessions++;
    } catch (cause) {
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new DdpsError('BAD_MODEL', `cannot load ONNX model ${path}: ${why}`, { file: path, cause });
    }
    return new OnnxModel(path, session);
  }

  input(name: string): TensorInfo | undefined {
    return this.inputs.find((i) => i.name === name);
  }

  output(name: string): TensorInfo | undefined {
    return this.outputs.find((o) => o.name === name);
  }

  /** Runs the model; feeds must already have the dtypes the session declares (checked, named on error). */
  async run(feeds: Record<string, HostTensor>, outputNames?: string[]): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      const info = this.input(name);
      if (!info) {
        throw new DdpsError('UNSUPPORTED_INPUT', `${this.path} has no input '${name}' (inputs: ${this.inputs.map((i) => i.name).join(', ')})`, { file: this.path });
      }
      if (info.dtype !== t.dtype) {
        throw new DdpsError('UNSUPPORTED_INPUT', `${this.path}: input '${name}' expects ${info.dtype}, was given ${t.dtype}`, { file: this.path });
      }
      if (tensorSize(t.dims) !== t.data.length) {
        throw new DdpsError('UNSUPPORTED_INPUT', `${this.path}: input '${name}' has dims [${t.dims}] but ${t.data.length} values`, { file: this.path });
      }
      ortFeeds[name] = new ort.Tensor(t.dtype, t.data, t.dims);
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      results = outputNames ? await this.session.run(ortFeeds, outputNames) : await this.session.run(ortFeeds);
    } catch (cause) {
      const why = cause instanceof Error ? cause.message : String(cause);
      const shapes = Object.entries(feeds).map(([n, t]) => `${n}:${t.dtype}[${t.dims}]`).join(' ');
      throw new DdpsError('UNSUPPORTED_INPUT', `${this.path} failed to run with ${shapes}: ${why}`, { file: this.path, cause });
    }
    const out: Record<string, HostTensor> = {};
    for (const [name, value] of Object.entries(results)) {
      const t = value as ort.Tensor;
      out[name] = { dtype: t.type as DType, dims: [...t.dims], data: t.data as TensorData };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
