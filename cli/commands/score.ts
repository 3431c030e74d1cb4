import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import sharp from 'sharp';
import type { Command } from 'commander';
import { Classifier, loadTeacherConfig } from '../../models/classifier.js';
import { DdpsError } from '../../core/errors.js';
import { PackPool } from '../../models/packPool.js';
import { parseProviders } from '../../models/runtime.js';
import type { SkipEvent } from '../../operators/skips.js';
import { runScore, scoreStoreConfig, scoreStorePack, type ScoreSummary } from '../../pipelines/score.js';
import { resolveScoreConfig, type ScoreConfig } from '../../core/config.js';
import { parseQueueUrl, submitRun } from '../../queue/index.js';
import { ScoreStore } from '../../storage/store/index.js';
import { expandShards, loadClassMap, type ClassMap } from '../../storage/webdataset/index.js';
import { defineCommand, renamed, type Adjust, type Values } from '../define.js';
import { classMapSpelledClasses, opt } from '../options.js';
import { Progress, shardProgress } from '../progress.js';
import { queueProgressLine, submitSummaryLines } from '../queueOutput.js';
import { handlingInterrupts } from '../signals.js';

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
      config: scoreStoreConfig(config, classMap.names),
      pack: scoreStorePack(model.identity),
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
  const reading = shardProgress(shards, config.limitPerClass === undefined ? undefined : slotsNeeded(store, classMap.names.length, config.limitPerClass));
  let done = 0;
  let skippedCount = 0;
  const show = (): void => progress.update({ done, skipped: skippedCount, fraction: reading.fraction(done + skippedCount) });
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
      onMember: reading.onMember,
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

/** --teacher and --teacher-config, which --scorer classifier needs. */
function teacherFiles(o: { teacher?: string; teacherConfig?: string }): { model: string; config: string } {
  if (!o.teacher || !o.teacherConfig) throw new DdpsError('BAD_ARGUMENT', '--scorer classifier needs --teacher and --teacher-config');
  return { model: o.teacher, config: o.teacherConfig };
}

async function loadTeacher(o: { teacher?: string; teacherConfig?: string }): Promise<Classifier> {
  const files = teacherFiles(o);
  return Classifier.load(files.model, await loadTeacherConfig(files.config));
}

/** The options `ddps score` takes to run through a queue instead of scoring here. */
const SUBMIT_OPTIONS = {
  queue: opt.queue,
  results: opt.results,
  queueName: opt.queueName,
  attempts: opt.attempts,
  backoff: opt.backoff,
  poll: opt.poll,
  lostAfter: opt.lostAfter,
};

/** Options that say how this machine scores: with --queue the workers score, so they belong to ddps worker. */
const LOCAL_ONLY = ['workers', 'threads', 'providers', 'batchSize'] as const;

/**
 * With --queue, the options that only a local run uses are refused (named, with where they go); without
 * it, the options that only a queued run uses are.
 */
const queueOrLocal: Adjust = (cmd) => {
  cmd.hook('preAction', () => {
    const given = (key: string): boolean => cmd.getOptionValueSource(key) === 'cli';
    const flagOf = (key: string): string => cmd.options.find((o) => o.attributeName() === key)!.long!;
    const fail = (message: string): never => cmd.error(message, { exitCode: 2, code: 'ddps.queueOptions' });
    if (cmd.getOptionValue('queue') === undefined) {
      const queued = Object.keys(SUBMIT_OPTIONS).filter((k) => k !== 'queue' && given(k));
      if (queued.length) fail(`${queued.map(flagOf).join(', ')} only go with --queue`);
      return;
    }
    const local = LOCAL_ONLY.filter(given);
    if (local.length) fail(`${local.map(flagOf).join(', ')} set how this machine scores; with --queue the workers score: give them to ddps worker`);
    if (given('allowMismatch')) fail('--allow-mismatch is not for queued runs: submit into a store of the same run, or into another store and ddps merge');
    if (cmd.getOptionValue('results') === undefined) fail('--queue needs --results <dir>: a folder every worker machine writes and this one reads, at the same path');
  });
};

type SubmitCliOptions = ScoreOptions & Values<typeof SUBMIT_OPTIONS> & { store: string; queue: string; results: string };

/** `ddps score --queue URL ...`: enqueue, follow with one progress line, import into --store, summarise. */
async function submitFromOptions(o: SubmitCliOptions): Promise<number> {
  const config = scoreConfigFrom(o);
  const shards = await expandShards(o.shards);
  const classMap = await findClassMap(o.classMap, shards);
  const teacher = config.scorer === 'classifier' ? teacherFiles(o) : undefined;
  const display = parseQueueUrl(o.queue).display;
  const quiet = o.quiet === true || o.json === true;
  const progress = new Progress('score', process.stderr, o.quiet === true);
  const log = (line: string): void => {
    if (!quiet) process.stderr.write(line);
  };
  const stop = new AbortController();
  const summary = await handlingInterrupts(() => stop.abort(), () =>
    submitRun({
      queue: o.queue,
      queueName: o.queueName,
      shards,
      pack: o.model,
      config,
      classMap,
      onError: o.onError,
      ...(teacher ? { teacher } : {}),
      store: o.store,
      results: o.results,
      attempts: { attempts: o.attempts, backoff: o.backoff * 1000 },
      pollMs: o.poll * 1000,
      lostAfterMs: o.lostAfter * 1000,
      signal: stop.signal,
      onProgress: (p) => progress.draw(() => queueProgressLine(p, progress.elapsed()), p.fraction === 1),
      onEvent: (e) => {
        if (e.type === 'queued') log(`run ${e.digest}: ${e.added} of ${e.total} shards queued (${e.total - e.added} were already there) at ${display}\n`);
        if (e.type === 'failed') log(`\nshard failed: ${e.shard}: ${e.reason}\n`);
        if (e.type === 'rerun') log(`\nscoring ${e.shard} again: ${e.reason}\n`);
        if (e.type === 'rejected') log(`\nresult file set aside: ${e.file}: ${e.reason}\n`);
        if (e.type === 'error') log(`\nqueue: ${e.message} (retrying)\n`);
      },
    }),
  );
  progress.end();
  if (o.json) console.log(JSON.stringify(summary));
  else for (const line of submitSummaryLines(summary, display)) console.log(line);
  return summary.failed.length || summary.removed.length || summary.stopped ? 1 : 0;
}

export const scoreCommand = (): Command =>
  defineCommand({
    name: 'score',
    summary: 'Stages I-II: score every image with the diffusion model and store maps, patches and DIFT features',
    description:
      'Stages I-II: score every image with the diffusion model and store its score map, candidate patches and ' +
      'their DIFT features in the store.\n\n' +
      'A re-run with the same store resumes: stored samples are passed over. Same seed + data + pack => same ' +
      'store, whatever --batch-size or --workers.\n\n' +
      'With --queue and --results, one job per shard goes to the workers (ddps worker, on any machine) and this ' +
      'command follows them on one progress line, importing each finished shard into --store. Stopped or ' +
      'killed, it carries on when run again.',
    options: { ...SCORE_OPTIONS, store: opt.store.required(), ...SUBMIT_OPTIONS },
    adjust: [renamed('--seed <n>', ['noiseSeed']), classMapSpelledClasses, queueOrLocal],
    async action(o) {
      if (o.queue !== undefined) return submitFromOptions({ ...o, queue: o.queue, results: o.results! });
      const { summary, stored } = await scoreFromOptions(o, 'score');
      if (o.json) console.log(JSON.stringify({ ...summary, stored }));
      else printScoreSummary(summary, stored);
      return 0;
    },
  });
