/**
 * Teacher classifiers (METHOD.md Stage IV): any ONNX image classifier plus the preprocessing it was
 * trained with, described by a small JSON config, so soft labels need no code per teacher.
 */
import { readFile } from 'node:fs/promises';
import { DdpsError } from '../core/errors.js';
import type { RgbImage } from '../core/geometry.js';
import { float32ToHalfArray, halfToFloat32Array } from './float16.js';
import { resampleRgb } from './resample.js';
import { OnnxModel, type HostTensor, type RuntimeOptions, type TensorInfo } from './runtime.js';

/** How to run an ONNX image classifier: its input and output names, input size, normalisation, batch size, and optionally which outputs are the dataset's classes. */
export interface TeacherConfig {
  /** The model's image input. */
  input: string;
  /** The model's logits output. */
  output: string;
  /** [h, w] the image is resized to. */
  size: [number, number];
  /** Per RGB channel, applied to pixel / 255. */
  mean: [number, number, number];
  std: [number, number, number];
  /**
   * Images per model call. A model whose batch dimension is fixed needs exactly that number; with a
   * dynamic batch dimension a number caps the call size and null sends every image in one call.
   */
  batch: number | null;
  /** teacher output index of dataset class 0, 1, ... (restricts a 1000-way teacher) */
  classes?: number[];
}

export type { RgbImage };

/** HxWx3 pixels on the 0..255 scale, whole (decoded) or not (an augmented, resampled image). */
export interface PixelImage {
  rgb: Uint8Array | Float32Array;
  width: number;
  height: number;
}

const CONFIG_FIELDS = ['input', 'output', 'size', 'mean', 'std', 'batch', 'classes'] as const;

function configError(path: string, what: string): DdpsError {
  return new DdpsError('BAD_CONFIG', `teacher config ${path}: ${what}`, { file: path });
}

function numbers(path: string, raw: Record<string, unknown>, field: string, length: number, ok: (v: number) => boolean, expected: string): number[] {
  const v = raw[field];
  if (!Array.isArray(v) || v.length !== length || !v.every((x) => typeof x === 'number' && ok(x))) {
    throw configError(path, `"${field}" is ${JSON.stringify(v)}, expected ${length} ${expected}`);
  }
  return v as number[];
}

const positiveInteger = (x: number): boolean => Number.isSafeInteger(x) && x > 0;

/** Checks a parsed config; `path` only names the source in errors. */
export function parseTeacherConfig(raw: unknown, path: string): TeacherConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw configError(path, `expected a JSON object with fields ${CONFIG_FIELDS.join(', ')}`);
  const obj = raw as Record<string, unknown>;
  // A misspelt optional field ("clases") would otherwise silently label with all 1000 outputs.
  const unknown = Object.keys(obj).filter((k) => !(CONFIG_FIELDS as readonly string[]).includes(k));
  if (unknown.length) throw configError(path, `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; the fields are ${CONFIG_FIELDS.join(', ')}`);
  for (const field of ['input', 'output'] as const) {
    if (typeof obj[field] !== 'string' || obj[field] === '') throw configError(path, `"${field}" is ${JSON.stringify(obj[field])}, expected the name of the model's ${field}`);
  }
  const size = numbers(path, obj, 'size', 2, positiveInteger, 'positive integers [h, w]');
  const mean = numbers(path, obj, 'mean', 3, Number.isFinite, 'numbers (R, G, B)');
  const std = numbers(path, obj, 'std', 3, (x) => Number.isFinite(x) && x > 0, 'positive numbers (R, G, B)');
  const batch = obj.batch ?? null;
  if (batch !== null && (typeof batch !== 'number' || !positiveInteger(batch))) {
    throw configError(path, `"batch" is ${JSON.stringify(batch)}, expected a positive integer or null (dynamic)`);
  }
  const config: TeacherConfig = {
    input: obj.input as string,
    output: obj.output as string,
    size: [size[0]!, size[1]!],
    mean: [mean[0]!, mean[1]!, mean[2]!],
    std: [std[0]!, std[1]!, std[2]!],
    batch,
  };
  if (obj.classes !== undefined) {
    const classes = obj.classes;
    if (!Array.isArray(classes) || classes.length === 0 || !classes.every((c) => Number.isSafeInteger(c) && c >= 0)) {
      throw configError(path, `"classes" is ${JSON.stringify(classes)}, expected a non-empty list of teacher output indices (one per dataset class)`);
    }
    const seen = new Set<number>();
    for (const c of classes as number[]) {
      if (seen.has(c)) throw configError(path, `"classes" lists teacher output ${c} twice; each dataset class needs its own output`);
      seen.add(c);
    }
    config.classes = [...(classes as number[])];
  }
  return config;
}

/** Reads and checks a teacher config JSON file (parseTeacherConfig). */
export async function loadTeacherConfig(path: string): Promise<TeacherConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new DdpsError('MISSING_FILE', `teacher config not found: ${path}`, { file: path, cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw configError(path, `not valid JSON (${(cause as Error).message})`);
  }
  return parseTeacherConfig(raw, path);
}

/**
 * Numerically stable softmax(logits / temperature), computed in float64. A higher temperature
 * flattens the distribution (FKD / RDED soft labels use T = 4 or so); the argmax never changes.
 */
export function softmax(logits: Float32Array, temperature = 1): Float32Array {
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new DdpsError('BAD_ARGUMENT', `softmax temperature ${temperature}: expected a positive number`);
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const exps = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    exps[i] = Math.exp((logits[i]! - max) / temperature);
    sum += exps[i]!;
  }
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = exps[i]! / sum;
  return out;
}

/** Index of the largest value (the first on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/**
 * The model input for one image: RGB / 255 resized to config.size with PIL-style antialiased
 * bilinear (the image is stretched: distilled images are already square), then (x - mean) / std,
 * as a 3 x h x w (NCHW without N) Float32Array.
 */
export function preprocess(img: PixelImage, config: TeacherConfig): Float32Array {
  const [outH, outW] = config.size;
  const hwc = resampleRgb(img.rgb, img.width, img.height, outW, outH);
  const plane = outH * outW;
  const out = new Float32Array(3 * plane);
  const scale = config.std.map((s) => 1 / (255 * s));
  const shift = config.mean.map((m, c) => m / config.std[c]!);
  for (let i = 0; i < plane; i++) {
    out[i] = hwc[3 * i]! * scale[0]! - shift[0]!;
    out[plane + i] = hwc[3 * i + 1]! * scale[1]! - shift[1]!;
    out[2 * plane + i] = hwc[3 * i + 2]! * scale[2]! - shift[2]!;
  }
  return out;
}

const FLOAT_TYPES = ['float32', 'float16'];

function describeShape(info: TensorInfo): string {
  return `${info.dtype}[${(info.shape ?? []).join(', ')}]`;
}

/** A teacher classifier (ONNX) with its preprocessing: logits for RGB images of any size (soft labels, the classifier baseline). */
export class Classifier {
  /** Outputs per image the model declares, when its shape says (undefined for a symbolic size). */
  private readonly outputs: number | undefined;

  private constructor(
    private readonly model: OnnxModel,
    readonly config: TeacherConfig,
    /** The batch the model's input fixes; short calls are padded up to it. */
    private readonly fixedBatch: number | undefined,
  ) {
    const shape = model.output(config.output)!.shape;
    const rest = shape?.slice(1);
    this.outputs = rest !== undefined && rest.every((d) => typeof d === 'number') ? rest.reduce<number>((a, d) => a * (d as number), 1) : undefined;
  }

  /**
   * Loads the model and checks the config against what the session declares: the input's name,
   * float dtype and NCHW shape (3 channels, config.size, a fixed batch matching config.batch), the
   * output's name, and that config.classes are outputs the model has.
   */
  static async load(onnxPath: string, config: TeacherConfig, opts: RuntimeOptions = {}): Promise<Classifier> {
    const model = await OnnxModel.load(onnxPath, opts);
    try {
      const classifier = new Classifier(model, config, Classifier.check(model, config));
      const bad = classifier.outputs === undefined ? undefined : config.classes?.find((c) => c >= classifier.outputs!);
      if (bad !== undefined) {
        throw new DdpsError('BAD_CONFIG', `teacher ${onnxPath}: config "classes" names output ${bad}, but output '${config.output}' has ${classifier.outputs} values per image`, { file: onnxPath });
      }
      return classifier;
    } catch (e) {
      await model.release();
      throw e;
    }
  }

  /** The checks of load(); returns the model's fixed batch size, if it has one. */
  private static check(model: OnnxModel, config: TeacherConfig): number | undefined {
    const fail = (what: string) => new DdpsError('BAD_CONFIG', `teacher ${model.path}: ${what}`, { file: model.path });
    const input = model.input(config.input);
    if (!input) throw fail(`config "input" is '${config.input}', but the model's inputs are ${model.inputs.map((i) => `'${i.name}'`).join(', ')}`);
    const output = model.output(config.output);
    if (!output) throw fail(`config "output" is '${config.output}', but the model's outputs are ${model.outputs.map((o) => `'${o.name}'`).join(', ')}`);
    if (!FLOAT_TYPES.includes(input.dtype)) throw fail(`input '${input.name}' is ${describeShape(input)}, expected float32 or float16 pixels`);
    if (!FLOAT_TYPES.includes(output.dtype)) throw fail(`output '${output.name}' is ${describeShape(output)}, expected float32 or float16 logits`);
    const shape = input.shape;
    if (shape !== undefined) {
      const [n, c, h, w] = shape;
      const expected = `[N, 3, ${config.size[0]}, ${config.size[1]}] (NCHW, config "size" [h, w])`;
      if (shape.length !== 4) throw fail(`input '${input.name}' is ${describeShape(input)}, expected ${expected}`);
      for (const [got, want] of [[c, 3], [h, config.size[0]], [w, config.size[1]]] as const) {
        if (typeof got === 'number' && got !== want) throw fail(`input '${input.name}' is ${describeShape(input)}, expected ${expected}`);
      }
      if (typeof n === 'number') {
        if (config.batch !== n) throw fail(`input '${input.name}' fixes the batch at ${n}, but config "batch" is ${JSON.stringify(config.batch)}; set it to ${n}`);
        return n;
      }
    }
    return undefined;
  }

  get path(): string {
    return this.model.path;
  }

  /** Logits per image (restricted to config.classes when given), images as decoded RGB HxWx3. */
  async logits(images: PixelImage[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const step = this.config.batch ?? Math.max(images.length, 1);
    for (let from = 0; from < images.length; from += step) {
      const chunk = images.slice(from, from + step);
      out.push(...(await this.run(chunk, this.fixedBatch ?? chunk.length)));
    }
    return out;
  }

  /** One model call on `images`, padded to `n` by repeating the last one. */
  private async run(images: PixelImage[], n: number): Promise<Float32Array[]> {
    const [h, w] = this.config.size;
    const per = 3 * h * w;
    const pixels = new Float32Array(n * per);
    for (let i = 0; i < n; i++) pixels.set(preprocess(images[Math.min(i, images.length - 1)]!, this.config), i * per);
    const dtype = this.model.input(this.config.input)!.dtype as 'float32' | 'float16';
    const feed: HostTensor = { dtype, dims: [n, 3, h, w], data: dtype === 'float16' ? float32ToHalfArray(pixels) : pixels };
    const result = (await this.model.run({ [this.config.input]: feed }, [this.config.output]))[this.config.output]!;
    const values = result.dtype === 'float16' ? halfToFloat32Array(result.data as Uint16Array) : (result.data as Float32Array);
    if (result.dims[0] !== n || values.length % n !== 0) {
      throw new DdpsError('BAD_MODEL', `teacher ${this.path}: output '${this.config.output}' has dims [${result.dims}] for a batch of ${n}; expected [${n}, classes]`, { file: this.path });
    }
    const k = values.length / n;
    const bad = this.config.classes?.find((c) => c >= k);
    if (bad !== undefined) {
      throw new DdpsError('BAD_CONFIG', `teacher ${this.path}: config "classes" names output ${bad}, but output '${this.config.output}' has ${k} values per image`, { file: this.path });
    }
    const rows: Float32Array[] = [];
    for (let i = 0; i < images.length; i++) {
      const row = values.subarray(i * k, (i + 1) * k);
      rows.push(this.config.classes ? Float32Array.from(this.config.classes, (c) => row[c]!) : Float32Array.from(row));
    }
    return rows;
  }

  /** Values per image logits() returns, when the model's output shape fixes it. */
  get classCount(): number | undefined {
    return this.config.classes?.length ?? this.outputs;
  }

  async close(): Promise<void> {
    await this.model.release();
  }
}
