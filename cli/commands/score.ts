import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import sharp from 'sharp';
import { Classifier, loadTeacherConfig } from '../../models/classifier.js';
import { DdpsError } from '../../core/errors.js';
import { PackPool } from '../../models/packPool.js';
import { parseProviders } from '../../models/runtime.js';
import type { SkipEvent } from '../../operators/skips.js';
import { runScore, type ScoreSummary } from '../../pipelines/score.js';
import { resolveScoreConfig, type ScoreConfig } from '../../core/config.js';
import { ScoreStore } from '../../storage/store/index.js';
import { expandShards, loadClassMap, type ClassMap } from '../../storage/webdataset/index.js';
import { flag, num, required, str, type Parsed } from '../args.js';
import type { Command } from '../command.js';
import { Progress } from '../progress.js';

export const SCORE_OPTIONS = {
  shards: { type: 'string', value: '<pattern>', help: "WebDataset shards: 'data/train-{000000..000004}.tar', globs, '::'-joined lists" },
  model: { type: 'string', value: '<pack>', help: 'SD 1.5 ONNX model pack folder' },
  store: { type: 'string', value: '<dir>', help: 'LMDB score store (created, or resumed if it exists)' },
  classes: { type: 'string', value: '<file>', help: 'classes.json giving class names (default: classes.json beside the shards)' },
  'image-size': { type: 'string', value: 'N', help: 'short edge after resizing (pixels)', default: '256' },
  'patch-size': { type: 'string', value: 'N', help: 'patch side (pixels); scored by average-pooling D over patch/8 latent cells', default: '224' },
  'patch-stride': { type: 'string', value: 'N', help: 'stride of the pooling window (pixels)', default: '8' },
  'patches-per-image': { type: 'string', value: 'N', help: 'candidate patches per image (greedy NMS at IoU 0.5)', default: '1' },
  timesteps: { type: 'string', value: 'K', help: 'timesteps per image, stratified over --t-range', default: '8' },
  't-range': { type: 'string', value: 'lo,hi', help: 'timestep range as fractions of 1000', default: '0.1,0.7' },
  'dift-mode': { type: 'string', value: 'crop|shared', help: 'DIFT per cropped patch (the paper) or one shared pass per image', default: 'crop' },
  'dift-timestep': { type: 'string', value: 't', help: 'timestep of the DIFT pass', default: '261' },
  'dift-ensemble': { type: 'string', value: 'N', help: 'noise draws averaged per DIFT feature', default: '1' },
  seed: { type: 'string', value: 'N', help: 'seed of the noise (keyed by sample, so results do not depend on order)', default: '0' },
  'limit-per-class': { type: 'string', value: 'N', help: 'score at most N images per class (the paper: 300 are nearly as good as all)' },
  'whole-image': { type: 'boolean', help: 'low-resolution data (CIFAR): upsample, the whole image is the one patch' },
  'batch-size': { type: 'string', value: 'N', help: 'images per model call', default: '4' },
  workers: { type: 'string', value: 'N', help: 'model worker threads (each with its own sessions)', default: '1' },
  threads: { type: 'string', value: 'N', help: 'ONNX Runtime threads per worker (default: cores / workers)' },
  providers: { type: 'string', value: 'list', help: "execution providers, e.g. 'cuda,cpu' or 'webgpu,cpu' (default: cpu)" },
  'on-error': { type: 'string', value: 'skip|fail', help: 'a bad sample is counted and skipped, or stops the run', default: 'skip' },
  'allow-mismatch': { type: 'boolean', help: 'let the store mix runs with a different configuration or pack' },
  scorer: { type: 'string', value: 'name', help: 'diffusion (the method), classifier (RDED-style teacher confidence) or random (the floor)', default: 'diffusion' },
  teacher: { type: 'string', value: '<onnx>', help: 'teacher classifier for --scorer classifier' },
  'teacher-config': { type: 'string', value: '<json>', help: 'its preprocessing (see ddps relabel --help)' },
  crops: { type: 'string', value: 'N', help: 'random crops per image for --scorer classifier', default: '8' },
  quiet: { type: 'boolean', help: 'no progress line' },
  json: { type: 'boolean', help: 'print the summary as one JSON object' },
} as const;

export function scoreConfigFrom(args: Parsed): ScoreConfig {
  const range = (str(args, 't-range') ?? '0.1,0.7').split(',').map(Number);
  if (range.length !== 2 || range.some((v) => !Number.isFinite(v))) throw new DdpsError('BAD_ARGUMENT', `--t-range must be two numbers like 0.1,0.7; got '${str(args, 't-range')}'`);
  const limit = num(args, 'limit-per-class', { integer: true, min: 1 });
  return resolveScoreConfig({
    imageSize: num(args, 'image-size', { integer: true, min: 8 })!,
    patchSize: num(args, 'patch-size', { integer: true, min: 8 })!,
    patchStride: num(args, 'patch-stride', { integer: true, min: 8 })!,
    patchesPerImage: num(args, 'patches-per-image', { integer: true, min: 1 })!,
    timesteps: num(args, 'timesteps', { integer: true, min: 1 })!,
    tRange: [range[0]!, range[1]!],
    diftMode: str(args, 'dift-mode') as ScoreConfig['diftMode'],
    diftTimestep: num(args, 'dift-timestep', { integer: true, min: 0 })!,
    diftEnsemble: num(args, 'dift-ensemble', { integer: true, min: 1 })!,
    seed: num(args, 'seed', { integer: true })!,
    wholeImage: flag(args, 'whole-image'),
    scorer: str(args, 'scorer') as ScoreConfig['scorer'],
    crops: num(args, 'crops', { integer: true, min: 1 })!,
    ...(str(args, 'teacher') ? { teacher: basename(str(args, 'teacher')!) } : {}),
    ...(limit !== undefined ? { limitPerClass: limit } : {}),
  });
}

/** --classes, else the classes.json that datasets ship beside their shards. */
export async function findClassMap(classesArg: string | undefined, shards: string[]): Promise<ClassMap> {
  if (classesArg) return loadClassMap(classesArg);
  const beside = join(dirname(shards[0]!), 'classes.json');
  if (existsSync(beside)) return loadClassMap(beside);
  throw new DdpsError('BAD_ARGUMENT', `no class names: the prompts need them. Pass --classes classes.json (none found at ${beside})`);
}

export function describeSkips(skipped: SkipEvent[]): string[] {
  const byCode = new Map<string, SkipEvent[]>();
  for (const s of skipped) byCode.set(`${s.stage}/${s.code}`, [...(byCode.get(`${s.stage}/${s.code}`) ?? []), s]);
  return [...byCode].map(([k, list]) => `  ${list.length} ${k}: e.g. ${list[0]!.reason}`);
}

export function printScoreSummary(s: ScoreSummary, stored: number): void {
  const rate = s.seconds > 0 ? s.scored / s.seconds : 0;
  console.log(`scored ${s.scored} samples in ${s.seconds.toFixed(1)} s (${rate.toFixed(2)}/s); the store now holds ${stored}`);
  console.log(`UNet passes: ${s.unetPasses} (${s.scored ? (s.unetPasses / s.scored).toFixed(2) : '0'} per image)`);
  if (s.skipped.length) {
    console.log(`skipped ${s.skipped.length}:`);
    for (const line of describeSkips(s.skipped)) console.log(line);
  }
  const total = Object.values(s.stages).reduce((a, b) => a + b.ms, 0);
  console.log('busy time per stage:');
  for (const [stage, v] of Object.entries(s.stages).sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`  ${stage.padEnd(7)} ${(v.ms / 1000).toFixed(2).padStart(8)} s  ${((100 * v.ms) / Math.max(total, 1)).toFixed(0).padStart(3)}%  ${v.calls} calls`);
  }
}

export interface ScoreCliResult {
  summary: ScoreSummary;
  storeDir: string;
  /** Samples the store holds after the run (earlier runs' included). */
  stored: number;
  classMap: ClassMap;
}

/** --on-error, --workers, --threads (default: cores / workers), --providers. */
export function executionFrom(args: Parsed): { policy: 'skip' | 'fail'; workers: number; threads: number; providers: string | undefined } {
  const policy = str(args, 'on-error') ?? 'skip';
  if (policy !== 'skip' && policy !== 'fail') throw new DdpsError('BAD_ARGUMENT', `--on-error must be skip or fail, got '${policy}'`);
  const workers = num(args, 'workers', { integer: true, min: 1 }) ?? 1;
  const threads = num(args, 'threads', { integer: true, min: 1 }) ?? Math.max(1, Math.floor(availableParallelism() / workers));
  return { policy, workers, threads, providers: str(args, 'providers') };
}

/** The pack on --workers worker threads with the command's execution options. */
export function openPool(packDir: string, args: Parsed, dift: boolean): Promise<PackPool> {
  const { workers, threads, providers } = executionFrom(args);
  return PackPool.open(packDir, { workers, intraOpThreads: threads, dift, ...(providers ? { providers: parseProviders(providers) } : {}) });
}

/**
 * Progress by bytes read: shards are streamed, so the sample total is unknown until the end. `read`
 * takes each tar member (and its 512-byte header) and returns the fraction of all shard bytes read.
 */
export function shardBytes(shards: readonly string[]): { read: (m: { size: number }) => number } {
  const total = Math.max(1, shards.reduce((a, s) => a + statSync(s).size, 0));
  let read = 0;
  return {
    read: (m) => {
      read += m.size + 512;
      return Math.min(1, read / total);
    },
  };
}

/** `ddps score` minus the printing: also the first half of `ddps distill`. */
export async function scoreFromArgs(args: Parsed, command: string): Promise<ScoreCliResult> {
  const shardsArg = required(args, 'shards', command);
  const packDir = required(args, 'model', command);
  const storeDir = required(args, 'store', command);
  const config = scoreConfigFrom(args);
  const { policy, workers, threads, providers } = executionFrom(args);
  const shards = await expandShards(shardsArg);
  const classMap = await findClassMap(str(args, 'classes'), shards);
  // Every image is seen once: libvips' operation cache would only hold memory.
  sharp.cache(false);
  const model = await openPool(packDir, args, true);
  // The worker threads keep the process alive: whatever fails from here on must close the pool.
  let store: ScoreStore;
  let classifier: Classifier | undefined;
  try {
    store = ScoreStore.open(storeDir, {
      config: { ...config, classes: classMap.names },
      pack: { name: model.identity.name, digest: model.identity.digest, deterministic: model.identity.conventions.deterministic },
      allowMismatch: flag(args, 'allow-mismatch'),
    });
  } catch (e) {
    await model.close();
    throw e;
  }
  try {
    classifier = config.scorer === 'classifier' ? await loadTeacher(args, command) : undefined;
  } catch (e) {
    await store.close();
    await model.close();
    throw e;
  }
  const progress = new Progress(command, process.stderr, flag(args, 'quiet'));
  const bytes = shardBytes(shards);
  let done = 0;
  let skippedCount = 0;
  let fraction: number | undefined;
  try {
    const summary = await runScore({
      shards,
      model,
      store,
      config,
      labels: classMap.names,
      classMap,
      batchSize: num(args, 'batch-size', { integer: true, min: 1 }) ?? 4,
      concurrency: workers,
      onError: policy,
      ...(classifier ? { classifier } : {}),
      onSkip: () => {
        skippedCount++;
        progress.update({ done, skipped: skippedCount, ...(fraction !== undefined ? { fraction } : {}) });
      },
      onMember: (m) => {
        fraction = bytes.read(m);
      },
      onSample: () => {
        done++;
        progress.update({ done, skipped: skippedCount, ...(fraction !== undefined ? { fraction } : {}) });
      },
    });
    progress.finish({ done, skipped: skippedCount, fraction: 1 });
    await store.addRun({
      ended: new Date().toISOString(),
      scored: summary.scored,
      skipped: summary.skipped.length,
      seconds: summary.seconds,
      stages: summary.stages,
      unetPasses: summary.unetPasses,
      execution: { batchSize: num(args, 'batch-size', { integer: true, min: 1 }) ?? 4, workers, threads, providers: providers ?? 'cpu' },
    });
    return { summary, storeDir, classMap, stored: store.counts().samples };
  } finally {
    await store.close();
    await model.close();
    await classifier?.close();
  }
}

async function loadTeacher(args: Parsed, command: string): Promise<Classifier> {
  const teacher = required(args, 'teacher', command);
  return Classifier.load(teacher, await loadTeacherConfig(required(args, 'teacher-config', command)));
}

export const score: Command = {
  spec: {
    name: 'score',
    summary: 'Stages I-II: score every image with the diffusion model and store maps, patches and DIFT features',
    usage: 'ddps score --shards <pattern> --model <pack> --store <dir> [options]',
    options: SCORE_OPTIONS,
    notes: 'A re-run with the same store resumes: stored samples are passed over. Same seed + data + pack => same store,\nwhatever --batch-size or --workers.',
  },
  async run(args) {
    const { summary, stored } = await scoreFromArgs(args, 'score');
    if (flag(args, 'json')) console.log(JSON.stringify({ ...summary, stored }));
    else printScoreSummary(summary, stored);
    return 0;
  },
};
