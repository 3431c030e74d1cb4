/**
 * Trains a small text-conditional latent diffusion pack on labelled shards and exports it in the SD 1.5
 * ONNX layout, so the unchanged pipeline can score with a model whose conditional signal is real.
 *
 * ddps builds the tokenizer (a CLIP BPE vocabulary of the prompts' words, as for the toy pack) and the
 * prompts' token ids; PyTorch (python/ddps_eval/pack) trains the autoencoder, the UNet and the text
 * encoder and exports them. The folder then passes `ddps model check`; its training/record.json holds
 * the settings, the data and the loss curves.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { conditionalPrompt, DEFAULT_SCORE_CONFIG } from '../core/config.js';
import { DdpsError } from '../core/errors.js';
import { Pack } from '../models/pack.js';
import { runPython } from '../models/python.js';
import { ClipTokenizer } from '../models/tokenizer.js';
import { wordsOf, writeVocabulary } from '../models/vocabulary.js';

/** Widths, depths and step counts; every field maps to an option of `python -m ddps_eval.pack.train`. */
export interface PackTrainingSizes {
  vaeSteps: number;
  vaeBatch: number;
  vaeLr: number;
  unetSteps: number;
  batch: number;
  lr: number;
  warmup: number;
  unetChannels: readonly number[];
  layersPerBlock: number;
  attentionHeadDim: number;
  normGroups: number;
  textHidden: number;
  textLayers: number;
  textHeads: number;
  vaeChannels: readonly number[];
  vaeGroups: number;
  pUncond: number;
  ema: number;
  checkpointEvery: number;
  /** Steps averaged into one point of the recorded loss curves. */
  logEvery: number;
}

/** What to train on, where to write the pack, and how (device, threads, seed, sizes). */
export interface TrainPackOptions {
  /** Shard files (already expanded). */
  shards: readonly string[];
  /** Class index -> the label put in the prompt. */
  labels: readonly string[];
  /** The pack folder to write (created; a killed run in it resumes). */
  out: string;
  /** Images are stretched to this square side, as `--whole-image --image-size` does (default 64). */
  imageSize?: number;
  limitPerClass?: number;
  seed?: number;
  /** 'cpu' (default) or 'cuda'. */
  device?: string;
  /** Torch CPU threads. */
  threads?: number;
  condTemplate?: string;
  uncondTemplate?: string;
  sizes?: Partial<PackTrainingSizes>;
  onEvent?: (event: Record<string, unknown>) => void;
  signal?: AbortSignal;
}

export interface LossPoint {
  step: number;
  loss?: number;
  mse?: number;
  kl?: number;
}

/** training/record.json, as the trainer writes it (the fields ddps reads). */
export interface PackTrainingRecord {
  settings: Record<string, unknown>;
  config: Record<string, unknown>;
  data: { images: number; perClass: Record<string, number>; skipped: Record<string, number>; shards: { path: string; bytes: number }[] };
  vae: { steps: number; curve: LossPoint[]; seconds: number; parameters: number };
  latents: { items: number; std: number; scalingFactor: number; seconds: number };
  unet: { steps: number; curve: LossPoint[]; seconds: number; parameters: number; textParameters: number; trainingLosses: { cond: number; uncond: number; items: number } };
  torch: string;
  device: string;
  threads: number;
  seconds: number;
}

/** The trained pack's folder, its training record and the digest ddps gives it. */
export interface TrainPackResult {
  dir: string;
  record: PackTrainingRecord;
  /** The pack's digest once loaded by ddps (it passed `ddps model check`). */
  digest: string;
}

/** Option name of the Python trainer for each size field. */
const FLAG: Record<keyof PackTrainingSizes, string> = {
  vaeSteps: '--vae-steps',
  vaeBatch: '--vae-batch',
  vaeLr: '--vae-lr',
  unetSteps: '--unet-steps',
  batch: '--batch',
  lr: '--lr',
  warmup: '--warmup',
  unetChannels: '--unet-channels',
  layersPerBlock: '--layers-per-block',
  attentionHeadDim: '--attention-head-dim',
  normGroups: '--norm-groups',
  textHidden: '--text-hidden',
  textLayers: '--text-layers',
  textHeads: '--text-heads',
  vaeChannels: '--vae-channels',
  vaeGroups: '--vae-groups',
  pUncond: '--p-uncond',
  ema: '--ema',
  checkpointEvery: '--checkpoint-every',
  logEvery: '--log-every',
};

/** Where a trained pack keeps its training record. */
export const PACK_RECORD = join('training', 'record.json');

/** Writes tokenizer/ and training/prompts.json: the vocabulary of the prompts' words and their ids. */
async function writePrompts(out: string, labels: readonly string[], condTemplate: string, uncondTemplate: string): Promise<string> {
  const cond = labels.map((l) => conditionalPrompt({ condTemplate }, l));
  await writeVocabulary(join(out, 'tokenizer'), wordsOf([...cond, uncondTemplate]));
  const tok = await ClipTokenizer.fromDir(join(out, 'tokenizer'));
  const file = join(out, 'training', 'prompts.json');
  await mkdir(join(out, 'training'), { recursive: true });
  await writeFile(
    file,
    JSON.stringify({ labels, condTemplate, uncondTemplate, cond: cond.map((p) => tok.encode(p)), uncond: tok.encode(uncondTemplate), vocab_size: tok.vocabSize }) + '\n',
  );
  return file;
}

/**
 * Writes the tokenizer and the prompts' ids, trains the pack in PyTorch (`python -m ddps_eval.pack.train`,
 * events to `onEvent`), then loads it as `ddps model check` does. Re-running into a folder that holds a
 * checkpoint of the same settings resumes it.
 */
export async function trainPack(opts: TrainPackOptions): Promise<TrainPackResult> {
  if (opts.shards.length === 0) throw new DdpsError('BAD_ARGUMENT', 'train pack: no shards given');
  if (opts.labels.length < 2) throw new DdpsError('BAD_ARGUMENT', `train pack: a text-conditional model needs at least 2 classes, got ${opts.labels.length}`);
  const imageSize = opts.imageSize ?? 64;
  if (!Number.isInteger(imageSize) || imageSize % 64 !== 0) throw new DdpsError('BAD_ARGUMENT', `train pack: image size must be a multiple of 64, got ${imageSize}`);
  await mkdir(opts.out, { recursive: true });
  const prompts = await writePrompts(opts.out, opts.labels, opts.condTemplate ?? DEFAULT_SCORE_CONFIG.condTemplate, opts.uncondTemplate ?? DEFAULT_SCORE_CONFIG.uncondTemplate);
  const args = ['--shards', ...opts.shards, '--prompts', prompts, '--out', opts.out, '--image-size', String(imageSize), '--seed', String(opts.seed ?? 0), '--device', opts.device ?? 'cpu'];
  if (opts.limitPerClass !== undefined) args.push('--limit-per-class', String(opts.limitPerClass));
  for (const [k, v] of Object.entries(opts.sizes ?? {}) as [keyof PackTrainingSizes, PackTrainingSizes[keyof PackTrainingSizes] | undefined][]) {
    if (v !== undefined) args.push(FLAG[k], Array.isArray(v) ? v.join(',') : String(v));
  }
  await runPython('ddps_eval.pack.train', args, {
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const record = JSON.parse(await readFile(join(opts.out, PACK_RECORD), 'utf8')) as PackTrainingRecord;
  // What `ddps model check` does: every model loads and the conventions are ones ddps reads.
  const pack = await Pack.load(opts.out, { intraOpThreads: 1 });
  const digest = pack.digest;
  await pack.close();
  return { dir: opts.out, record, digest };
}
