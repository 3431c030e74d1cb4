/**
 * The toy model pack: exactly the SD 1.5 ONNX layout and input/output names, tiny and exact, with a
 * planted signal. The VAE encoder is an 8x8 average pool (latent = RGB + luminance of each cell); the
 * text encoder maps each class word to that class colour's latent and the start token to mid-grey; the
 * UNet predicts the noise of a world whose clean latent is the prompt's latent:
 *   eps_hat = (z_t - sqrt(ab_t) * p) / sqrt(1 - ab_t).
 * So the conditional loss is zero exactly where the image shows the prompt's object, and Stage I of
 * the method must find the objects. Every convention real exports disagree on is a build option, so
 * the loader's tests run each variant on the same world.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphBuilder } from '../models/onnx/builder.js';
import { alphasCumprod, type SchedulerConfig } from '../models/schedule.js';
import { ClipTokenizer } from '../models/tokenizer.js';
import { TOY_CLASSES, TOY_NEUTRAL_RGB, toUnit, type ToyClass } from './classes.js';
import { writeVocabulary } from '../models/vocabulary.js';

export interface ToyPackOptions {
  classes?: readonly ToyClass[];
  /** Hidden size of the text encoder (the first 4 channels carry the prototype latent). */
  hidden?: number;
  idsDtype?: 'int32' | 'int64';
  timestep?: { dtype: 'int64' | 'int32' | 'float32' | 'float16'; scalar: boolean };
  /** 'float16' makes every float input and output half precision, as some exports do. */
  io?: 'float32' | 'float16';
  vaeOutput?: 'latent_parameters' | 'latent_sample';
  /** Store the UNet's weights in an external file, as large exports must. */
  unetWeights?: 'inline' | 'model.onnx_data' | 'weights.pb';
  scalingFactor?: number;
}

export const TOY_SCHEDULER: SchedulerConfig = {
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  num_train_timesteps: 1000,
};

const LATENT = 4;

/** The latent a flat colour encodes to: RGB in [-1, 1] and their mean (the luminance channel). */
export function colourLatent(rgb: readonly [number, number, number]): [number, number, number, number] {
  const [r, g, b] = rgb.map(toUnit) as [number, number, number];
  return [r, g, b, (r + g + b) / 3];
}

/** Casts a graph input to float32 when the pack's I/O is float16, so the arithmetic stays in float32. */
function floatIn(g: GraphBuilder, name: string, io: 'float32' | 'float16', shape: (number | string)[]): string {
  g.input(name, io, shape);
  return io === 'float16' ? g.node('Cast', [name], [g.fresh(`${name}_f32`)], { to: 1 }) : name;
}

function floatOut(g: GraphBuilder, value: string, name: string, io: 'float32' | 'float16', shape: (number | string)[]): void {
  g.node(io === 'float16' ? 'Cast' : 'Identity', [value], [name], io === 'float16' ? { to: 10 } : {});
  g.output(name, io, shape);
}

function vaeEncoder(opts: Required<ToyPackOptions>): GraphBuilder {
  const g = new GraphBuilder('toy_vae_encoder');
  const x = floatIn(g, 'sample', opts.io, ['batch_size', 3, 'height', 'width']);
  // Conv weights divide by the scaling factor so that the pack's latent (mean x factor) is the colour itself.
  const outCh = opts.vaeOutput === 'latent_parameters' ? 2 * LATENT : LATENT;
  const w = new Float32Array(outCh * 3 * 64);
  const k = 1 / (64 * opts.scalingFactor);
  for (let c = 0; c < 3; c++) for (let i = 0; i < 64; i++) w[(c * 3 + c) * 64 + i] = k;
  for (let c = 0; c < 3; c++) for (let i = 0; i < 64; i++) w[(3 * 3 + c) * 64 + i] = k / 3;
  g.initializer('encoder.conv.weight', 'float32', [outCh, 3, 8, 8], w);
  const z = g.node('Conv', [x, 'encoder.conv.weight'], ['/encoder/conv/Conv_output_0'], { kernel_shape: [8, 8], strides: [8, 8] }, { name: '/encoder/conv/Conv' });
  floatOut(g, z, opts.vaeOutput, opts.io, ['batch_size', outCh, 'height_latent', 'width_latent']);
  return g;
}

function textEncoder(opts: Required<ToyPackOptions>, tok: ClipTokenizer): GraphBuilder {
  const g = new GraphBuilder('toy_text_encoder');
  g.input('input_ids', opts.idsDtype, ['batch_size', 'sequence_length']);
  const table = new Float32Array(tok.vocabSize * opts.hidden);
  const neutral = colourLatent(TOY_NEUTRAL_RGB);
  // Summing a prompt's rows gives grey for "An image of ." and the class colour once its word is in.
  table.set(neutral, tok.bosId * opts.hidden);
  for (const c of opts.classes) {
    const ids = tok.encode(c.name).filter((id) => id !== tok.bosId && id !== tok.eosId);
    const proto = colourLatent(c.rgb);
    for (const id of ids) {
      for (let j = 0; j < LATENT; j++) table[id * opts.hidden + j] = (proto[j]! - neutral[j]!) / ids.length;
    }
  }
  g.initializer('embeddings.token_embedding.weight', 'float32', [tok.vocabSize, opts.hidden], table);
  const h = g.node('Gather', ['embeddings.token_embedding.weight', 'input_ids'], [g.fresh('hidden')], { axis: 0 });
  floatOut(g, h, 'last_hidden_state', opts.io, ['batch_size', 'sequence_length', opts.hidden]);
  return g;
}

function unet(opts: Required<ToyPackOptions>, alphabar: Float64Array): GraphBuilder {
  const g = new GraphBuilder('toy_unet');
  const z = floatIn(g, 'sample', opts.io, ['batch_size', LATENT, 'height', 'width']);
  const ts = opts.timestep;
  g.input('timestep', ts.dtype, ts.scalar ? [] : ['batch_size']);
  const ctx = floatIn(g, 'encoder_hidden_states', opts.io, ['batch_size', 'sequence_length', opts.hidden]);

  g.initializer('sqrt_alphabar', 'float32', [alphabar.length], Float32Array.from(alphabar, Math.sqrt));
  g.initializer('inv_sqrt_one_minus_alphabar', 'float32', [alphabar.length], Float32Array.from(alphabar, (a) => 1 / Math.sqrt(1 - a)));
  g.initializer('axis1', 'int64', [1], BigInt64Array.from([1n]));
  g.initializer('latent_start', 'int64', [1], BigInt64Array.from([0n]));
  g.initializer('latent_end', 'int64', [1], BigInt64Array.from([BigInt(LATENT)]));
  g.initializer('axis_hw', 'int64', [2], BigInt64Array.from([2n, 3n]));
  g.initializer('per_item', 'int64', [4], BigInt64Array.from([-1n, 1n, 1n, 1n]));

  // p: the prompt's latent, the sum of its token rows; its first 4 channels, as [B, 4, 1, 1].
  const sum = g.node('ReduceSum', [ctx, 'axis1'], [g.fresh('ctx_sum')], { keepdims: 0 });
  const p4 = g.node('Slice', [sum, 'latent_start', 'latent_end', 'axis1'], [g.fresh('proto')]);
  const p = g.node('Unsqueeze', [p4, 'axis_hw'], [g.fresh('proto_map')]);

  const t = g.node('Cast', ['timestep'], [g.fresh('t_index')], { to: 7 });
  const a = g.node('Reshape', [g.node('Gather', ['sqrt_alphabar', t], [g.fresh('a')], { axis: 0 }), 'per_item'], [g.fresh('a4')]);
  const invB = g.node('Reshape', [g.node('Gather', ['inv_sqrt_one_minus_alphabar', t], [g.fresh('ib')], { axis: 0 }), 'per_item'], [g.fresh('ib4')]);
  const residual = g.node('Sub', [z, g.node('Mul', [p, a], [g.fresh('ap')])], [g.fresh('residual')]);
  const eps = g.node('Mul', [residual, invB], [g.fresh('eps')]);
  floatOut(g, eps, 'out_sample', opts.io, ['batch_size', LATENT, 'height', 'width']);

  // DIFT stand-in at 1/2 of the latent side (1/16 of the image, as SD's up_blocks.1): pooled z_t and z_t^2.
  const sq = g.node('Mul', [z, z], [g.fresh('z_sq')]);
  const cat = g.node('Concat', [z, sq], ['/up_blocks.1/resnets.0/Concat_output_0'], { axis: 1 }, { name: '/up_blocks.1/resnets.0/Concat' });
  g.node('AveragePool', [cat], ['/up_blocks.1/upsamplers.0/conv/Conv_output_0'], { kernel_shape: [2, 2], strides: [2, 2] }, { name: '/up_blocks.1/upsamplers.0/conv/Conv' });
  return g;
}

/** Builds the toy pack into `dir` (any existing files of the same names are overwritten). */
export async function buildToyPack(dir: string, options: ToyPackOptions = {}): Promise<string> {
  const opts: Required<ToyPackOptions> = {
    classes: TOY_CLASSES,
    hidden: 8,
    idsDtype: 'int64',
    timestep: { dtype: 'float32', scalar: true },
    io: 'float32',
    vaeOutput: 'latent_parameters',
    unetWeights: 'model.onnx_data',
    scalingFactor: 0.18215,
    ...options,
  };
  const json = (path: string, value: unknown) => writeFile(path, JSON.stringify(value, null, 2) + '\n');
  for (const sub of ['tokenizer', 'scheduler', 'text_encoder', 'unet', 'vae_encoder']) await mkdir(join(dir, sub), { recursive: true });

  await writeVocabulary(join(dir, 'tokenizer'), ['an', 'image', 'of', '.', ...opts.classes.map((c) => c.name)]);
  const tok = await ClipTokenizer.fromDir(join(dir, 'tokenizer'));
  await json(join(dir, 'scheduler', 'scheduler_config.json'), TOY_SCHEDULER);
  await json(join(dir, 'vae_encoder', 'config.json'), { latent_channels: LATENT, scaling_factor: opts.scalingFactor, _ddps: 'toy 8x8 average-pool encoder' });
  await json(join(dir, 'model_index.json'), {
    _class_name: 'OnnxStableDiffusionPipeline',
    _ddps_toy: { classes: opts.classes.map((c) => c.name), io: opts.io, timestep: opts.timestep, idsDtype: opts.idsDtype, vaeOutput: opts.vaeOutput },
    text_encoder: ['diffusers', 'OnnxRuntimeModel'],
    unet: ['diffusers', 'OnnxRuntimeModel'],
    vae_encoder: ['diffusers', 'OnnxRuntimeModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    scheduler: ['diffusers', 'PNDMScheduler'],
  });
  await vaeEncoder(opts).save(join(dir, 'vae_encoder', 'model.onnx'));
  await textEncoder(opts, tok).save(join(dir, 'text_encoder', 'model.onnx'));
  const alphabar = alphasCumprod(TOY_SCHEDULER);
  await unet(opts, alphabar).save(
    join(dir, 'unet', 'model.onnx'),
    opts.unetWeights === 'inline' ? {} : { externalData: { location: opts.unetWeights, minBytes: 1024 } },
  );
  return dir;
}
