import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import sharp from 'sharp';
import type { Command } from 'commander';
import { Classifier, loadTeacherConfig } from '../../models/classifier.js';
import { DdpsError } from '../../core/errors.js';
import { PackPool } from '../../models/packPool.js';
import { parseProviders } from '../../models/runtime.js';
import type { SkipEvent } from '../../operators/skips.js';
import { runScore, type ScoreSummary } from '../../pipelines/score.js';
import { resolveScoreConfig, type ScoreConfig } from '../../core/config.js';
import { ScoreStore } from '../../storage/store/index.js';
import { expandShards, loadClassMap, type ClassMap } from '../../storage/webdataset/index.js';
import { defineCommand, renamed, type Values } from '../define.js';
import { classMapSpelledClasses, opt } from '../options.js';
import { Progress, scoreFraction } from '../progress.js';

/** The options `ddps score` and `ddps distill` share: data, Stages I-II, baselines, execution. */
export const SCORE_OPTIONS = {
  shards: opt.shards.required(),
  model: opt.model.required(),
  classMap: opt.classMap,
  imageSize: opt.imageSize,
  patchSize: opt.patchSize,
  patchStride: opt.patchStride,
  patchesPerImage: opt.patchesPerImage,
  timesteps: opt.timesteps,
  tRange: opt.tRange,
  diftMode: opt.diftMode,
  diftTimestep: opt.diftTimestep,
  diftEnsemble: opt.diftEnsemble,
  noiseSeed: opt.noiseSeed,
  limitPerClass: opt.limitPerClass,
  wholeImage: opt.wholeImage,
  scorer: opt.scorer,
  teacher: opt.teacher,
  teacherConfig: opt.teacherConfig,
  crops: opt.crops,
  batchSize: opt.batchSize,
  workers: opt.workers,
  threads: opt.threads,
  providers: opt.providers,
  onError: opt.onError,
  allowMismatch: opt.allowMismatch,
  quiet: opt.quiet,
  json: opt.json,
};

export type ScoreOptions = Values<typeof SCORE_OPTIONS>;

export function scoreConfigFrom(o: ScoreOptions): ScoreConfig {
  return resolveScoreConfig({
    imageSize: o.imageSize,
    patchSize: o.patchSize,
    patchStride: o.patchStride,
    patchesPerImage: o.patchesPerImage,
    timesteps: o.timesteps,
    tRange: o.tRange,
    diftMode: o.diftMode,
    diftTimestep: o.diftTimestep,
    diftEnsemble: o.diftEnsemble,
    seed: o.noiseSeed,
    wholeImage: o.wholeImage === true,
    scorer: o.scorer,
    crops: o.crops,
    ...(o.teacher ? { teacher: basename(o.teacher) } : {}),
    ...(o.limitPerClass !== undefined ? { limitPerClass: o.limitPerClass } : {}),
  });
}

/** --class-map, else the classes.json that datasets ship beside their shards. */
export async function findClassMap(classMapPath: string | undefined, shards: string[]): Promise<ClassMap> {
  if (classMapPath) return loadClassMap(classMapPath);
  const beside = join(dirname(shards[0]!), 'classes.json');
  if (existsSync(beside)) return loadClassMap(beside);
  throw new DdpsError('BAD_ARGUMENT', `no class names: the prompts need them. Pass --class-map classes.json (none found at ${beside})`);
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

/** Samples per class a limited run still has to score: the limit, less what the store already holds. */
function slotsNeeded(store: ScoreStore, classes: number, limit: number): number {
  const stored = store.counts().perClass;
  let needed = 0;
  for (let c = 0; c < classes; c++) needed += Math.max(0, limit - (stored.get(c)?.samples ?? 0));
  return needed;
}

/** `ddps score` minus the printing: also the first half of `ddps distill`. */
export async function scoreFromOptions(o: ScoreOptions & { store: string }, command: string): Promise<ScoreCliResult> {
  const config = scoreConfigFrom(o);
  const shards = await expandShards(o.shards);
  const classMap = await findClassMap(o.classMap, shards);
  const threads = o.threads ?? Math.max(1, Math.floor(availableParallelism() / o.workers));
  // Every image is seen once: libvips' operation cache would only hold memory.
  sharp.cache(false);
  const model = await PackPool.open(o.model, { workers: o.workers, intraOpThreads: threads, dift: true, ...(o.providers ? { providers: parseProviders(o.providers) } : {}) });
  // The worker threads keep the process alive: whatever fails from here on must close the pool.
  let store: ScoreStore;
  let classifier: Classifier | undefined;
  try {
    store = ScoreStore.open(o.store, {
      config: { ...config, classes: classMap.names },
      pack: { name: model.identity.name, digest: model.identity.digest, deterministic: model.identity.conventions.deterministic },
      allowMismatch: o.allowMismatch === true,
    });
  } catch (e) {
    await model.close();
    throw e;
  }
  try {
    classifier = config.scorer === 'classifier' ? await loadTeacher(o) : undefined;
  } catch (e) {
    await store.close();
    await model.close();
    throw e;
  }
  const progress = new Progress(command, process.stderr, o.quiet === true);
  const totalBytes = shards.reduce((a, s) => a + statSync(s).size, 0);
  const needed = config.limitPerClass === undefined ? undefined : slotsNeeded(store, classMap.names.length, config.limitPerClass);
  let bytesRead = 0;
  let done = 0;
  let skippedCount = 0;
  const show = (): void => progress.update({ done, skipped: skippedCount, fraction: scoreFraction({ bytesRead, totalBytes, done: done + skippedCount, needed }) });
  try {
    const summary = await runScore({
      shards,
      model,
      store,
      config,
      labels: classMap.names,
      classMap,
      batchSize: o.batchSize,
      concurrency: o.workers,
      onError: o.onError,
      ...(classifier ? { classifier } : {}),
      onSkip: () => {
        skippedCount++;
        show();
      },
      onMember: (m) => {
        bytesRead += m.size + 512;
      },
      onSample: () => {
        done++;
        show();
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
      execution: { batchSize: o.batchSize, workers: o.workers, threads, providers: o.providers ?? 'cpu' },
    });
    return { summary, storeDir: o.store, classMap, stored: store.counts().samples };
  } finally {
    await store.close();
    await model.close();
    await classifier?.close();
  }
}

async function loadTeacher(o: { teacher?: string; teacherConfig?: string }): Promise<Classifier> {
  if (!o.teacher || !o.teacherConfig) throw new DdpsError('BAD_ARGUMENT', '--scorer classifier needs --teacher and --teacher-config');
  return Classifier.load(o.teacher, await loadTeacherConfig(o.teacherConfig));
}

export const scoreCommand = (): Command =>
  defineCommand({
    name: 'score',
    summary: 'Stages I-II: score every image with the diffusion model and store maps, patches and DIFT features',
    description:
      'Stages I-II: score every image with the diffusion model and store its score map, candidate patches and ' +
      'their DIFT features in the store.\n\n' +
      'A re-run with the same store resumes: stored samples are passed over. Same seed + data + pack => same ' +
      'store, whatever --batch-size or --workers.',
    options: { ...SCORE_OPTIONS, store: opt.store.required() },
    adjust: [renamed('--seed <n>', ['noiseSeed']), classMapSpelledClasses],
    async action(o) {
      const { summary, stored } = await scoreFromOptions(o, 'score');
      if (o.json) console.log(JSON.stringify({ ...summary, stored }));
      else printScoreSummary(summary, stored);
    },
  });
