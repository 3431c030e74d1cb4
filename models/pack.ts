/**
 * A Stable Diffusion 1.5 model pack in the diffusers/Optimum ONNX layout, whatever exporter made it.
 * Conventions (id dtype, timestep rank and dtype, latent output, float16 I/O, hidden size) are read
 * from the sessions' metadata, never assumed, and every mismatch is reported with the file and input.
 */
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { DdpsError } from '../core/errors.js';
import { float32ToHalfArray, halfToFloat32Array } from './float16.js';
import { addDiftOutput } from './onnx/diftTap.js';
import { OnnxModel, type DType, type HostTensor, type RuntimeOptions, type TensorInfo } from './runtime.js';
import { loadSchedule } from './schedule.js';
import { StageTimer, type StageTime } from './stageTimer.js';
import { ClipTokenizer } from './tokenizer.js';
import { LATENT_CHANNELS } from '../core/geometry.js';

/** SD 1.5's VAE latent scaling factor, used when the pack's vae config gives none. */
export const DEFAULT_SCALING_FACTOR = 0.18215;

/** Where a pack's models and files are (the diffusers / Optimum ONNX layout). */
export interface PackLayout {
  dir: string;
  textEncoder: string;
  unet: string;
  vaeEncoder: string;
  tokenizer: string;
  scheduler: string;
}

/** How the UNet takes its timestep: dtype, and whether it is a scalar (one t per call) or one per item. */
export type TimestepConvention = { dtype: 'int64' | 'int32' | 'float32' | 'float16'; scalar: boolean };

/** Input and output names, dtypes and shapes read from the pack's own model metadata. */
export interface PackConventions {
  inputIds: { name: string; dtype: 'int32' | 'int64'; length: number };
  textHidden: { name: string; size: number | undefined; dtype: 'float32' | 'float16' };
  vae: { input: string; inputDtype: 'float32' | 'float16'; output: string; kind: 'latent_parameters' | 'latent_sample'; outputDtype: 'float32' | 'float16' };
  unet: {
    sample: string;
    sampleDtype: 'float32' | 'float16';
    timestep: string;
    timestepType: TimestepConvention;
    context: string;
    contextDtype: 'float32' | 'float16';
    output: string;
    outputDtype: 'float32' | 'float16';
  };
  scalingFactor: number;
  /** latent_sample packs draw a random latent: stored scores are then not reproducible. */
  deterministic: boolean;
}


/** Finds the pack's files; a missing piece is named with the path that was looked at. */
export function resolveLayout(dir: string): PackLayout {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new DdpsError('MISSING_FILE', `model pack folder not found: ${dir}`, { file: dir });
  }
  const need = (rel: string, what: string): string => {
    const p = join(dir, rel);
    if (!existsSync(p)) throw new DdpsError('MISSING_FILE', `model pack ${dir} has no ${what}: expected ${p}`, { file: p });
    return p;
  };
  return {
    dir,
    textEncoder: need('text_encoder/model.onnx', 'text encoder'),
    unet: need('unet/model.onnx', 'UNet'),
    vaeEncoder: need('vae_encoder/model.onnx', 'VAE encoder'),
    tokenizer: need('tokenizer', 'tokenizer folder'),
    scheduler: need('scheduler/scheduler_config.json', 'scheduler config'),
  };
}

function pick(model: OnnxModel, kind: 'input' | 'output', names: string[], what: string): TensorInfo {
  const list = kind === 'input' ? model.inputs : model.outputs;
  const found = names.map((n) => list.find((t) => t.name === n)).find((t) => t !== undefined);
  if (!found) {
    throw new DdpsError('UNSUPPORTED_INPUT', `${model.path}: no ${kind} for ${what}: looked for ${names.join(' or ')}, found ${list.map((t) => `${t.name}:${t.dtype}`).join(', ')}`, { file: model.path });
  }
  return found;
}

function floatType(model: OnnxModel, t: TensorInfo): 'float32' | 'float16' {
  if (t.dtype === 'float32' || t.dtype === 'float16') return t.dtype;
  throw new DdpsError('UNSUPPORTED_INPUT', `${model.path}: '${t.name}' is ${t.dtype}; expected float32 or float16`, { file: model.path });
}

function staticDim(t: TensorInfo, axis: number): number | undefined {
  const d = t.shape?.[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

export function detectConventions(text: OnnxModel, unet: OnnxModel, vae: OnnxModel, scalingFactor: number): PackConventions {
  const ids = pick(text, 'input', ['input_ids'], 'token ids');
  if (ids.dtype !== 'int32' && ids.dtype !== 'int64') {
    throw new DdpsError('UNSUPPORTED_INPUT', `${text.path}: input 'input_ids' is ${ids.dtype}; expected int32 or int64`, { file: text.path });
  }
  const hidden = pick(text, 'output', ['last_hidden_state'], 'text hidden states');

  const vIn = pick(vae, 'input', ['sample'], 'pixels');
  const vOut = pick(vae, 'output', ['latent_parameters', 'latent_sample', 'latent_dist'], 'latent');
  const kind = vOut.name === 'latent_sample' ? 'latent_sample' : 'latent_parameters';
  const vChannels = staticDim(vOut, 1);
  const expectChannels = kind === 'latent_parameters' ? 2 * LATENT_CHANNELS : LATENT_CHANNELS;
  if (vChannels !== undefined && vChannels !== expectChannels) {
    throw new DdpsError('UNSUPPORTED_INPUT', `${vae.path}: output '${vOut.name}' has ${vChannels} channels; expected ${expectChannels}`, { file: vae.path });
  }

  const sample = pick(unet, 'input', ['sample'], 'noisy latent');
  const ts = pick(unet, 'input', ['timestep'], 'timestep');
  const ctx = pick(unet, 'input', ['encoder_hidden_states'], 'text conditioning');
  const out = pick(unet, 'output', ['out_sample', 'sample_out', 'noise_pred'], 'predicted noise');
  if (!['int64', 'int32', 'float32', 'float16'].includes(ts.dtype)) {
    throw new DdpsError('UNSUPPORTED_INPUT', `${unet.path}: input 'timestep' is ${ts.dtype}; expected int64, int32, float32 or float16`, { file: unet.path });
  }
  if (ts.shape !== undefined && ts.shape.length > 1) {
    throw new DdpsError('UNSUPPORTED_INPUT', `${unet.path}: input 'timestep' has rank ${ts.shape.length} [${ts.shape}]; expected a scalar [] or [batch]`, { file: unet.path });
  }
  const unetHidden = staticDim(ctx, 2);
  const textHidden = staticDim(hidden, 2);
  if (unetHidden !== undefined && textHidden !== undefined && unetHidden !== textHidden) {
    throw new DdpsError('UNSUPPORTED_INPUT', `${unet.path}: encoder_hidden_states expects hidden size ${unetHidden}, but ${text.path} produces ${textHidden}`, { file: unet.path });
  }
  return {
    inputIds: { name: ids.name, dtype: ids.dtype, length: staticDim(ids, 1) ?? 77 },
    textHidden: { name: hidden.name, size: textHidden ?? unetHidden, dtype: floatType(text, hidden) },
    vae: { input: vIn.name, inputDtype: floatType(vae, vIn), output: vOut.name, kind, outputDtype: floatType(vae, vOut) },
    unet: {
      sample: sample.name,
      sampleDtype: floatType(unet, sample),
      timestep: ts.name,
      // A timestep of unknown rank is fed per batch: the common case in older exports.
      timestepType: { dtype: ts.dtype as TimestepConvention['dtype'], scalar: ts.shape !== undefined && ts.shape.length === 0 },
      context: ctx.name,
      contextDtype: floatType(unet, ctx),
      output: out.name,
      outputDtype: floatType(unet, out),
    },
    scalingFactor,
    deterministic: kind === 'latent_parameters',
  };
}

/** Float data in the dtype an input wants; float16 packs take Uint16Array bit patterns. */
export function floatTensor(data: Float32Array, dims: number[], dtype: 'float32' | 'float16'): HostTensor {
  return dtype === 'float16' ? { dtype, dims, data: float32ToHalfArray(data) } : { dtype, dims, data };
}

export function asFloat32(t: HostTensor, where: string): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.dtype === 'float16' && t.data instanceof Uint16Array) return halfToFloat32Array(t.data);
  throw new DdpsError('UNSUPPORTED_INPUT', `${where} returned ${t.dtype}; expected float32 or float16`);
}

export function timestepTensor(ts: readonly number[], conv: TimestepConvention): HostTensor {
  const dims = conv.scalar ? [] : [ts.length];
  const values = conv.scalar ? [ts[0]!] : ts;
  switch (conv.dtype) {
    case 'int64':
      return { dtype: 'int64', dims, data: BigInt64Array.from(values, (v) => BigInt(Math.round(v))) };
    case 'int32':
      return { dtype: 'int32', dims, data: Int32Array.from(values, (v) => Math.round(v)) };
    case 'float16':
      return { dtype: 'float16', dims, data: float32ToHalfArray(values) };
    default:
      return { dtype: 'float32', dims, data: Float32Array.from(values) };
  }
}

export function idsTensor(batch: readonly number[][], dtype: 'int32' | 'int64'): HostTensor {
  const len = batch[0]?.length ?? 0;
  const dims = [batch.length, len];
  const flat = batch.flat();
  return dtype === 'int64'
    ? { dtype, dims, data: BigInt64Array.from(flat, (v) => BigInt(v)) }
    : { dtype, dims, data: Int32Array.from(flat) };
}

function readScalingFactor(dir: string): number {
  const cfg = join(dir, 'vae_encoder', 'config.json');
  if (!existsSync(cfg)) return DEFAULT_SCALING_FACTOR;
  try {
    const v = (JSON.parse(readFileSync(cfg, 'utf8')) as { scaling_factor?: unknown }).scaling_factor;
    return typeof v === 'number' && v > 0 ? v : DEFAULT_SCALING_FACTOR;
  } catch (cause) {
    throw new DdpsError('BAD_CONFIG', `cannot parse ${cfg}: ${(cause as Error).message}`, { file: cfg, cause });
  }
}

/**
 * A stable identity for a pack without hashing gigabytes: each file's relative path, size, and its
 * first and last MiB. Enough to tell packs apart and to notice a swapped weights file.
 */
export function packDigest(dir: string): string {
  const h = createHash('sha256');
  const walk = (rel: string): void => {
    const abs = join(dir, rel);
    for (const name of readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = statSync(join(dir, r));
      if (st.isDirectory()) walk(r);
      else if (!name.endsWith('.dift.onnx')) {
        h.update(`${r}\0${st.size}\0`);
        const fd = openSync(join(dir, r), 'r');
        try {
          const chunk = Buffer.alloc(Math.min(st.size, 1 << 20));
          readSync(fd, chunk, 0, chunk.length, 0);
          h.update(chunk);
          if (st.size > chunk.length) {
            readSync(fd, chunk, 0, chunk.length, st.size - chunk.length);
            h.update(chunk);
          }
        } finally {
          closeSync(fd);
        }
      }
    }
  };
  walk('');
  return h.digest('hex').slice(0, 16);
}

/** Options of Pack.load: the DIFT tap, and ONNX Runtime's providers and threads. */
export interface LoadPackOptions extends RuntimeOptions {
  /** Use the UNet with the extra `dift` output (creating it if needed). */
  dift?: boolean;
  /** Path of the DIFT-tapped UNet when it should not live beside the original. */
  diftUnet?: string;
}

export type { DType };

/** The DIFT tensor of a UNet call, [n, channels, h, w]. */
export interface DiftMap {
  data: Float32Array;
  dims: [number, number, number, number];
}

/** A UNet call's predicted noise, [n, 4, h, w], and its DIFT maps when asked for. */
export interface NoisePrediction {
  eps: Float32Array;
  dift?: DiftMap;
}

/** Where the DIFT-tapped UNet lives: beside the original when the pack is writable, else in the cache. */
export function diftUnetPath(layout: PackLayout, digest: string, cacheDir = defaultCacheDir()): string {
  const beside = join(dirname(layout.unet), 'model.dift.onnx');
  if (existsSync(beside) || isWritable(dirname(layout.unet))) return beside;
  return join(cacheDir, 'dift', digest, 'model.dift.onnx');
}

/** Where ddps caches what it derives (tapped UNets, the toy world): $DDPS_CACHE, else $XDG_CACHE_HOME/ddps or ~/.cache/ddps. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DDPS_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ddps');
}

/** Honours the mode bits even for root, who may write anywhere but should not write into a read-only pack. */
export function isWritable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return (statSync(dir).mode & 0o222) !== 0;
  } catch {
    return false;
  }
}

/**
 * onnxruntime refuses external data reached through a symlink that leaves the model's folder, so the
 * weights are hard-linked (free) or, across file systems, copied.
 */
function shareFile(src: string, dst: string): void {
  try {
    linkSync(src, dst);
  } catch {
    copyFileSync(src, dst);
  }
}

/**
 * Writes the tapped UNet at `target` (kept if it exists, unless a tensor is named), linking the external
 * weight files beside it when it is elsewhere.
 */
export async function ensureDiftUnet(layout: PackLayout, target: string, tensor?: string): Promise<string> {
  if (existsSync(target) && tensor === undefined) return target;
  const unetDir = dirname(layout.unet);
  const targetDir = dirname(target);
  mkdirSync(targetDir, { recursive: true });
  if (resolve(targetDir) !== resolve(unetDir)) {
    for (const f of readdirSync(unetDir)) {
      if (f.endsWith('.onnx')) continue;
      const link = join(targetDir, f);
      if (!existsSync(link)) shareFile(resolve(unetDir, f), link);
    }
  }
  await addDiftOutput(layout.unet, { outPath: target, ...(tensor !== undefined ? { tensor } : {}) });
  return target;
}

/** An SD 1.5-style ONNX pack loaded in this thread (Pack.load): the DiffusionModel the operators call. */
export class Pack {
  private readonly textCache = new Map<string, Float32Array>();
  private readonly timer = new StageTimer();

  private constructor(
    readonly layout: PackLayout,
    readonly conventions: PackConventions,
    readonly digest: string,
    readonly tokenizer: ClipTokenizer,
    readonly alphabar: Float64Array,
    private readonly text: OnnxModel,
    private readonly unet: OnnxModel,
    private readonly vae: OnnxModel,
    readonly hasDift: boolean,
  ) {}

  static async load(dir: string, opts: LoadPackOptions = {}): Promise<Pack> {
    const layout = resolveLayout(dir);
    const digest = packDigest(dir);
    const tokenizer = await ClipTokenizer.fromDir(layout.tokenizer);
    const alphabar = await loadSchedule(layout.dir);
    const unetPath = opts.dift ? await ensureDiftUnet(layout, opts.diftUnet ?? diftUnetPath(layout, digest)) : layout.unet;
    const [text, unet, vae] = await Promise.all([
      OnnxModel.load(layout.textEncoder, opts),
      OnnxModel.load(unetPath, opts),
      OnnxModel.load(layout.vaeEncoder, opts),
    ]);
    const conventions = detectConventions(text, unet, vae, readScalingFactor(dir));
    const hasDift = unet.output('dift') !== undefined;
    if (opts.dift && !hasDift) {
      throw new DdpsError('BAD_MODEL', `${unetPath} has no 'dift' output: delete it and let ddps write it again (ddps model dift ${dir})`, { file: unetPath });
    }
    return new Pack(layout, conventions, digest, tokenizer, alphabar, text, unet, vae, hasDift);
  }

  /** Each model's file and declared inputs and outputs, as its session reports them. */
  get models(): Record<'text_encoder' | 'unet' | 'vae_encoder', { path: string; inputs: TensorInfo[]; outputs: TensorInfo[] }> {
    const describe = (m: OnnxModel) => ({ path: m.path, inputs: m.inputs, outputs: m.outputs });
    return { text_encoder: describe(this.text), unet: describe(this.unet), vae_encoder: describe(this.vae) };
  }

  get identity(): { name: string; digest: string; conventions: PackConventions } {
    return { name: basename(resolve(this.layout.dir)), digest: this.digest, conventions: this.conventions };
  }

  /** The UNet's conditioning for a prompt, [tokens x hidden], computed once per distinct prompt. */
  async textEmbedding(prompt: string): Promise<Float32Array> {
    const cached = this.textCache.get(prompt);
    if (cached) return cached;
    const c = this.conventions;
    const ids = this.tokenizer.encode(prompt);
    const out = await this.timer.time('text', () => this.text.run({ [c.inputIds.name]: idsTensor([ids], c.inputIds.dtype) }, [c.textHidden.name]));
    const emb = asFloat32(out[c.textHidden.name]!, this.layout.textEncoder);
    this.textCache.set(prompt, emb);
    return emb;
  }

  /** Pixels [n,3,H,W] in [-1,1] -> scaled latents z0 [n,4,H/8,W/8] (the posterior mean where the pack gives it). */
  async encodeImages(pixels: Float32Array, n: number, height: number, width: number): Promise<Float32Array> {
    const v = this.conventions.vae;
    const out = await this.timer.time('encode', () => this.vae.run({ [v.input]: floatTensor(pixels, [n, 3, height, width], v.inputDtype) }, [v.output]), n);
    const t = out[v.output]!;
    const raw = asFloat32(t, this.layout.vaeEncoder);
    const [, ch, h, w] = t.dims as [number, number, number, number];
    const plane = h * w;
    const z = new Float32Array(n * LATENT_CHANNELS * plane);
    const s = this.conventions.scalingFactor;
    // latent_parameters = concat(mean, logvar) on channels: keep the first four (the mean).
    for (let i = 0; i < n; i++) {
      const src = i * ch * plane;
      const dst = i * LATENT_CHANNELS * plane;
      for (let j = 0; j < LATENT_CHANNELS * plane; j++) z[dst + j] = raw[src + j]! * s;
    }
    return z;
  }

  /**
   * eps predictions for n noisy latents [n,4,h,w] at timesteps ts (one per item) with contexts (one
   * [tokens x hidden] embedding per item). A pack with a scalar timestep runs one call per distinct t.
   */
  async predictNoise(zt: Float32Array, n: number, h: number, w: number, ts: readonly number[], contexts: readonly Float32Array[], withDift = false): Promise<NoisePrediction> {
    const u = this.conventions.unet;
    if (u.timestepType.scalar && new Set(ts).size > 1) {
      return this.predictGrouped(zt, n, h, w, ts, contexts, withDift);
    }
    const ctxLen = contexts[0]!.length;
    const ctx = new Float32Array(n * ctxLen);
    contexts.forEach((c, i) => ctx.set(c, i * ctxLen));
    const hidden = this.conventions.textHidden.size ?? ctxLen / this.conventions.inputIds.length;
    const names = withDift ? [u.output, 'dift'] : [u.output];
    if (withDift && !this.hasDift) throw new DdpsError('BAD_MODEL', `${this.layout.unet}: DIFT features asked for, but the pack was loaded without the dift tap`, { file: this.layout.unet });
    const feeds = {
      [u.sample]: floatTensor(zt, [n, LATENT_CHANNELS, h, w], u.sampleDtype),
      [u.timestep]: timestepTensor(ts, u.timestepType),
      [u.context]: floatTensor(ctx, [n, ctxLen / hidden, hidden], u.contextDtype),
    };
    const out = await this.timer.time(withDift ? 'dift' : 'unet', () => this.unet.run(feeds, names), n);
    const eps = asFloat32(out[u.output]!, this.layout.unet);
    if (!withDift) return { eps };
    const d = out.dift!;
    return { eps, dift: { data: asFloat32(d, this.layout.unet), dims: d.dims as DiftMap['dims'] } };
  }

  private async predictGrouped(zt: Float32Array, n: number, h: number, w: number, ts: readonly number[], contexts: readonly Float32Array[], withDift: boolean): Promise<NoisePrediction> {
    const per = LATENT_CHANNELS * h * w;
    const eps = new Float32Array(n * per);
    let dift: DiftMap | undefined;
    for (const t of [...new Set(ts)]) {
      const idx = ts.flatMap((v, i) => (v === t ? [i] : []));
      const sub = new Float32Array(idx.length * per);
      idx.forEach((i, j) => sub.set(zt.subarray(i * per, (i + 1) * per), j * per));
      const r = await this.predictNoise(sub, idx.length, h, w, idx.map(() => t), idx.map((i) => contexts[i]!), withDift);
      idx.forEach((i, j) => eps.set(r.eps.subarray(j * per, (j + 1) * per), i * per));
      if (r.dift) {
        const [, c, dh, dw] = r.dift.dims;
        const dper = c * dh * dw;
        dift ??= { data: new Float32Array(n * dper), dims: [n, c, dh, dw] };
        idx.forEach((i, j) => dift!.data.set(r.dift!.data.subarray(j * dper, (j + 1) * dper), i * dper));
      }
    }
    return dift ? { eps, dift } : { eps };
  }

  async stats(): Promise<Record<string, StageTime>> {
    return this.timer.report();
  }

  async close(): Promise<void> {
    await Promise.all([this.text.release(), this.unet.release(), this.vae.release()]);
  }
}
