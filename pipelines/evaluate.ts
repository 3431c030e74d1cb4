/**
 * `ddps evaluate` as a library function: does the distilled set train a good student?
 *
 *   profile -> sets (distilled, random real subset, full split, other folders) -> labels (replay |
 *   static | hard, made with the teacher where needed) -> students in PyTorch (python -m
 *   ddps_eval.train, one child per set, all its seeds) -> results.json
 *
 * RDED's protocol (docs/EVAL.md): a replay per student seed, so students differ in their
 * augmentation as they do when RDED labels online. Finished students are kept under <out>/runs/ and a
 * re-run trains only the missing ones; results.json is removed when a run starts and written (atomically)
 * only when every student has finished, so a killed evaluation never leaves one that looks complete.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { type Classifier, argmax } from '../models/classifier.js';
import { DdpsError } from '../core/errors.js';
import { findPython, runPython } from '../models/python.js';
import { writeJsonAtomic } from '../storage/json.js';
import { expandShards, loadClassMap, readSamples, sampleClass, type ShardSpec } from '../storage/webdataset/index.js';
import { type DistilledSet, loadDistilledSet, setIpc } from './distilledSet.js';
import { batchSizeFor, type EvalProfile, fullEpochs, type ProfileOverrides, resolveProfile } from './evalProfiles.js';
import { buildRandomSubset, countSamples } from './randomSubset.js';
import { relabel } from './relabel.js';
import { canonicalJson, replaysFor } from './replay.js';

/** How students get their targets; the first is the default. */
export const LABEL_MODES = ['replay', 'static', 'hard'] as const;
/** replay (replayed teacher logits), static (.soft.json) or hard (classes). */
export type LabelMode = (typeof LABEL_MODES)[number];

/** Where students train. */
export const DEVICES = ['cpu', 'cuda'] as const;

/** What runEvaluate uses for options not given. */
export const DEFAULT_EVALUATION = { labels: LABEL_MODES[0] as LabelMode, seed: 0, device: DEVICES[0] as (typeof DEVICES)[number] };

/** What to evaluate, against what, and how (runEvaluate). */
export interface EvaluateOptions {
  /** The distilled folder (shards, manifest.json). */
  distilled: string;
  /** Validation shards (the real held-out split). */
  val: ShardSpec;
  /** A profile of python/ddps_eval/profiles.json. */
  profile: string;
  overrides?: ProfileOverrides;
  /** Instead of the profile's rule (RDED's 10 / 50 / 100 by IPC). */
  batchSize?: number;
  /** Default replay. */
  labels?: LabelMode;
  /** Makes replay labels (and static labels of the random subset), and is checked against the true labels. */
  teacher?: Classifier;
  /** 'random', 'full' and other distilled folders, in the order given. */
  compare?: readonly string[];
  /** The split random and full draw from. */
  source?: ShardSpec;
  /** The random subset's seed and the first student's (students use seed .. seed + seeds - 1). */
  seed?: number;
  /** Epochs of `full` instead of the profile's cap. */
  fullEpochs?: number;
  device?: (typeof DEVICES)[number];
  /** Torch CPU threads. */
  threads?: number;
  /** Where runs, jobs, the random subset and results.json go. */
  out: string;
  /** Class index -> name (default: classes.json beside the validation shards, else beside the set). */
  classNames?: readonly string[];
  /** Folder of replays (default: <set>/replay, or the cache when the set's folder is read-only). */
  replayDir?: string;
  onEvent?: (e: EvaluateEvent) => void;
  signal?: AbortSignal;
}

/** What runEvaluate reports as it goes: notes, source reading, replay batches, epochs, finished students. */
export type EvaluateEvent =
  | { kind: 'note'; message: string }
  | { kind: 'source'; read: number }
  | { kind: 'replay'; name: string; seed: number; done: number; total: number }
  | { kind: 'training'; name: string; done: number; total: number }
  | { kind: 'epoch'; name: string; seed: number; epoch: number; epochs: number; loss: number; trainTop1: number; top1?: number; done: number; total: number }
  | { kind: 'run'; name: string; seed: number; top1: number; bestLast20: number; cached: boolean; done: number; total: number };

/** Mean and standard deviation of a top-1 over the students, with each student's value. */
export interface Stat {
  mean: number;
  /** Population standard deviation over the seeds (numpy's default, as papers report it). */
  std: number;
  seeds: number[];
}

/** One row of the table: the shape `ddps evaluate --json` prints. */
export interface RunSummary {
  name: string;
  ipc: number;
  /** Final-epoch top-1 (%) over the seeds. */
  top1: Stat;
  /** Best top-1 of the evaluations in the last 20 % of epochs (RDED's reported number). */
  bestLast20: Stat;
  /** Training time of all its students. */
  seconds: number;
}

export interface SeedRun {
  seed: number;
  top1: number;
  bestLast20: number;
  evals: [number, number][];
  loss: number[];
  seconds: number;
}

/** One trained set in results.json: what it was, how it was trained, each student. */
export interface SetReport {
  name: string;
  dir: string;
  images: number;
  ipc: number;
  labels: LabelMode;
  epochs: number;
  batchSize: number;
  /** % of the set's images the teacher labels with their own class (checked above chance). */
  teacherAgreement?: number;
  seeds: SeedRun[];
}

/** results.json: the table, with everything needed to read it. */
export interface EvaluationReport {
  profile: string;
  runs: RunSummary[];
  format: 'ddps-evaluation';
  version: 1;
  /** Set for development profiles: results are for relative comparisons only. */
  note?: string;
  labels: LabelMode;
  device: string;
  /** DD-Ranking's IOR = top1(distilled) - top1(random), final epoch and best of the last 20 %. */
  ior?: { top1: number; bestLast20: number };
  sets: SetReport[];
  val: { shards: string[]; images: number };
  teacher?: { file: string; config: unknown };
  seconds: number;
}

/** The file runEvaluate writes in its output folder once every student has finished. */
export const RESULTS_NAME = 'results.json';

function stat(values: number[]): Stat {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std, seeds: values };
}

/** classes.json beside the first validation shard, else beside the set's shards. */
async function findClassNames(val: string[], setDir: string): Promise<string[] | undefined> {
  for (const dir of [dirname(val[0]!), setDir]) {
    const path = join(dir, 'classes.json');
    if (existsSync(path)) return [...(await loadClassMap(path)).names];
  }
  return undefined;
}

/** Classes of the validation split, each with the shard where it first appears; streams the shards. */
async function valClasses(val: string[]): Promise<{ classes: Map<number, string>; images: number }> {
  const classes = new Map<number, string>();
  let images = 0;
  for (const url of val) {
    for await (const s of readSamples(url)) {
      const cls = sampleClass(s);
      if (cls === undefined) throw new DdpsError('BAD_SAMPLE', `validation sample "${s.__key__}" in ${url} has no class (.cls, or label/class/cls in .json)`, { sample: s.__key__, file: url });
      if (!classes.has(cls)) classes.set(cls, url);
      images++;
    }
  }
  if (images === 0) throw new DdpsError('BAD_SHARD', `the validation shards (${val[0]}...) hold no samples`, { file: val[0]! });
  return { classes, images };
}

/** Each validation class must be one the set trains on (a student cannot learn a class it never sees). */
function checkValClasses(set: DistilledSet, val: Map<number, string>, names?: readonly string[]): void {
  for (const [cls, url] of [...val].sort(([a], [b]) => a - b)) {
    if (set.perClass.has(cls)) continue;
    const have = [...set.perClass.keys()].sort((a, b) => a - b);
    throw new DdpsError(
      'UNKNOWN_CLASS',
      `validation shard ${url} has class ${cls}${names?.[cls] ? ` (${names[cls]})` : ''}, which ${set.dir} does not have (it has classes ${have.join(', ')}); evaluate on a validation split of its classes`,
      { file: url },
    );
  }
}

/** The manifest's class names must be the class map's: the same index, the same class. */
function checkManifestNames(set: DistilledSet, names: readonly string[]): void {
  for (const [idx, c] of Object.entries(set.manifest?.classes ?? {})) {
    const expected = names[Number(idx)];
    if (expected !== undefined && c.name.toLowerCase() !== expected.toLowerCase()) {
      const file = join(set.dir, 'manifest.json');
      throw new DdpsError('BAD_CONFIG', `${file} calls class ${idx} "${c.name}", but the class map calls it "${expected}": the set and the validation split order their classes differently`, { file });
    }
  }
}

/**
 * The class-order pitfall (EVAL.md; RDED issues #3, #4): a teacher whose outputs are in another class
 * order agrees with the true labels below chance. Returns the agreement in %.
 */
export async function checkTeacherAgreement(teacher: Pick<Classifier, 'logits' | 'path'>, set: DistilledSet, classCount: number): Promise<number> {
  let agree = 0;
  for (const img of set.images) {
    const [logits] = await teacher.logits([img]);
    if (argmax(logits!) === img.cls) agree++;
  }
  const pct = (100 * agree) / set.images.length;
  const chance = 100 / classCount;
  if (pct < chance) {
    throw new DdpsError(
      'BAD_CONFIG',
      `teacher ${teacher.path} agrees with the true labels of ${set.dir} on ${pct.toFixed(1)} % of its ${set.images.length} images, below chance (${chance.toFixed(1)} %): ` +
        'its class order most likely differs from the dataset\'s (give the teacher config "classes": the teacher output of each dataset class)',
      { file: teacher.path },
    );
  }
  return pct;
}

/** A set for --labels static: every sample carries .soft.json. */
function checkStaticLabels(set: DistilledSet): void {
  const missing = set.images.find((im) => !im.soft);
  if (missing) {
    throw new DdpsError('MISSING_FILE', `${set.dir} has no static labels: sample "${missing.key}" in ${missing.shard} has no .soft.json (run ddps relabel, or use --labels replay | hard)`, { file: missing.shard });
  }
}

/**
 * What a student is: the digest of the one-student job that trains it (the profile's seed count 1, its
 * own seed's replay), so that asking for more seeds keeps the students already trained. `job` is the
 * digest of the whole job, which run files written before per-seed digests carry: for the same seeds,
 * the same students.
 */
interface JobDigests {
  job: string;
  seeds: Record<string, string>;
}

function jobDigests(body: { profile: EvalProfile; replays?: Record<string, string> }, seeds: readonly number[]): JobDigests {
  const digestOf = (b: object) => createHash('sha256').update(canonicalJson(b)).digest('hex');
  const one = (s: number) => ({ ...body, profile: { ...body.profile, seeds: 1 }, ...(body.replays === undefined ? {} : { replays: { [s]: body.replays[s] } }) });
  return { job: digestOf(body), seeds: Object.fromEntries(seeds.map((s) => [String(s), digestOf(one(s))])) };
}

/** The students of a job already trained (their run files carry their digest). */
async function finishedRuns(runsDir: string, seeds: readonly number[], digests: JobDigests): Promise<SeedRun[]> {
  const runs: SeedRun[] = [];
  for (const seed of seeds) {
    const file = join(runsDir, `seed-${seed}.json`);
    if (!existsSync(file)) continue;
    const r = JSON.parse(await readFile(file, 'utf8')) as SeedRun & { digest: string };
    if (r.digest === digests.seeds[seed] || r.digest === digests.job) runs.push({ seed, top1: r.top1, bestLast20: r.bestLast20, evals: r.evals, loss: r.loss, seconds: r.seconds });
  }
  return runs;
}

interface Trained {
  name: string;
  /** The folder, or the first source shard for `full`. */
  dir: string;
  /** What the job trains on: a distilled-like folder, or the source split. */
  set?: DistilledSet;
  shards: string[];
  images: number;
  ipc: number;
  labels: LabelMode;
  epochs: number;
  batchSize: number;
  replays?: Record<string, string>;
  teacherAgreement?: number;
}

function slug(name: string): string {
  if (['distilled', 'random', 'full'].includes(name)) return name;
  return `compare-${basename(resolve(name)).replace(/[^A-Za-z0-9._-]/g, '_')}-${createHash('sha256').update(resolve(name)).digest('hex').slice(0, 8)}`;
}

/** Trains and tests students on the distilled set and the compared sets; writes and returns results.json. */
export async function runEvaluate(opts: EvaluateOptions): Promise<EvaluationReport> {
  const started = performance.now();
  const emit = (e: EvaluateEvent): void => opts.onEvent?.(e);
  // Before any work: no Python with torch is an error with install advice, not a failure an hour in.
  findPython();
  const profile = resolveProfile(opts.profile, opts.overrides);
  if (profile.note) emit({ kind: 'note', message: profile.note });
  const labels = opts.labels ?? DEFAULT_EVALUATION.labels;
  if (!LABEL_MODES.includes(labels)) throw new DdpsError('BAD_ARGUMENT', `labels "${labels}": expected ${LABEL_MODES.join(', ')}`);
  const seed = opts.seed ?? DEFAULT_EVALUATION.seed;
  const seeds = Array.from({ length: profile.seeds }, (_, i) => seed + i);
  const compare = opts.compare ?? [];
  if ((compare.includes('random') || compare.includes('full')) && opts.source === undefined) {
    throw new DdpsError('BAD_ARGUMENT', '--compare random and full draw from the source split: give --source <shards>');
  }
  await mkdir(opts.out, { recursive: true });
  const resultsPath = join(opts.out, RESULTS_NAME);
  await rm(resultsPath, { force: true });

  const distilled = await loadDistilledSet(opts.distilled);
  const val = await expandShards(opts.val);
  const names = opts.classNames ?? (await findClassNames(val, distilled.dir));
  const teacherCount = opts.teacher?.classCount;
  const valInfo = await valClasses(val);
  const classCount = teacherCount ?? names?.length ?? Math.max(...distilled.perClass.keys(), ...valInfo.classes.keys()) + 1;
  if (names && names.length !== classCount) {
    throw new DdpsError('BAD_CONFIG', `teacher ${opts.teacher!.path} gives ${teacherCount} classes per image, but the class map has ${names.length}; give the teacher config "classes"`, { file: opts.teacher!.path });
  }
  if (names) checkManifestNames(distilled, names);
  const ipc = setIpc(distilled);

  // The sets to train, distilled first.
  const trained: Trained[] = [];
  const setEntry = (name: string, set: DistilledSet): Trained => {
    checkValClasses(set, valInfo.classes, names);
    if (labels === 'static') checkStaticLabels(set);
    const setIpcValue = setIpc(set);
    return { name, dir: set.dir, set, shards: set.shards, images: set.images.length, ipc: setIpcValue, labels, epochs: profile.epochs, batchSize: opts.batchSize ?? batchSizeFor(profile, setIpcValue, set.perClass.size) };
  };
  trained.push(setEntry('distilled', distilled));
  let sourceImages: number | undefined;
  for (const c of compare) {
    if (c === 'random') {
      const first = distilled.images[0]!;
      const built = await buildRandomSubset({
        source: opts.source!,
        classes: [...distilled.perClass.keys()],
        ipc,
        mosaic: distilled.manifest?.mosaic ?? false,
        outputSize: distilled.manifest?.outputSize ?? first.width,
        classNames: names ?? Array.from({ length: classCount }, (_, i) => String(i)),
        seed,
        outDir: join(opts.out, `random-s${seed}`),
        // The first sample opens the progress line, so a reused subset (nothing read) shows none.
        onSample: () => {
          sourceImages = (sourceImages ?? 0) + 1;
          if (sourceImages === 1 || sourceImages % 1000 === 0) emit({ kind: 'source', read: sourceImages });
        },
      });
      sourceImages = built.sourceImages;
      emit({ kind: 'note', message: `random: ${built.manifest.images} real images drawn from ${built.sourceImages} (seed ${seed})${built.reused ? ', reused' : ''} -> ${built.dir}` });
      let set = await loadDistilledSet(built.dir);
      if (labels === 'static') {
        if (!opts.teacher) throw new DdpsError('BAD_ARGUMENT', 'static labels for the random subset need --teacher and --teacher-config');
        const staticDir = `${built.dir}-static`;
        await relabel({ inDir: built.dir, outDir: staticDir, teacher: opts.teacher, classCount, temperature: distilled.softTemperature ?? profile.temperature });
        set = await loadDistilledSet(staticDir);
      }
      trained.push(setEntry('random', set));
    } else if (c === 'full') {
      const shards = await expandShards(opts.source!);
      sourceImages ??= await countSamples(shards);
      const cap = opts.fullEpochs !== undefined ? { epochs: opts.fullEpochs, capped: false } : fullEpochs(profile, sourceImages);
      emit({
        kind: 'note',
        message: `full: ${sourceImages} images, hard labels, ${cap.epochs} epoch${cap.epochs === 1 ? '' : 's'}${cap.capped ? ` (capped: at most ${profile.full.maxImagesSeen} images seen, profile "full.maxImagesSeen"; --full-epochs overrides)` : ''}, batch size ${profile.full.batchSize}`,
      });
      trained.push({ name: 'full', dir: shards[0]!, shards, images: sourceImages, ipc: Math.round(sourceImages / classCount), labels: 'hard', epochs: cap.epochs, batchSize: profile.full.batchSize });
    } else {
      trained.push(setEntry(c, await loadDistilledSet(c)));
    }
  }

  // Labels: check what each set carries, make what is missing.
  for (const t of trained) {
    if (!t.set) continue;
    if (opts.teacher) {
      t.teacherAgreement = await checkTeacherAgreement(opts.teacher, t.set, classCount);
      emit({ kind: 'note', message: `${t.name}: the teacher agrees with the true labels on ${t.teacherAgreement.toFixed(1)} % of ${t.images} images` });
    }
    if (t.labels === 'replay') {
      t.replays = await replaysFor({
        set: t.set,
        profile,
        epochs: t.epochs,
        batchSize: t.batchSize,
        seeds,
        classCount,
        ...(opts.teacher ? { teacher: opts.teacher } : {}),
        ...(opts.replayDir ? { cacheDir: opts.replayDir } : {}),
        onBatch: (seed, done, total) => emit({ kind: 'replay', name: t.name, seed, done, total }),
      });
    }
  }

  // Students.
  const total = trained.reduce((a, t) => a + t.epochs * seeds.length, 0);
  let done = 0;
  const sets: SetReport[] = [];
  for (const t of trained) {
    const jobBody = {
      name: t.name,
      profile,
      labels: t.labels,
      train: { shards: t.shards.map((s) => resolve(s)), digest: t.set?.digest ?? null },
      ...(t.replays ? { replays: Object.fromEntries(Object.entries(t.replays).map(([k, v]) => [k, resolve(v)])) } : {}),
      val: { shards: val.map((s) => resolve(s)) },
      classCount,
      epochs: t.epochs,
      batchSize: t.batchSize,
      lr: profile.optimizer.lr,
      device: opts.device ?? DEFAULT_EVALUATION.device,
    };
    const digests = jobDigests(jobBody, seeds);
    const runsDir = join(opts.out, 'runs', slug(t.name));
    const jobPath = join(opts.out, 'jobs', `${slug(t.name)}.json`);
    await mkdir(dirname(jobPath), { recursive: true });
    await writeJsonAtomic(jobPath, { ...jobBody, digest: digests.job, digests: digests.seeds, seeds, runsDir: resolve(runsDir) });
    const finished = await finishedRuns(runsDir, seeds, digests);
    if (finished.length === seeds.length) {
      for (const r of finished) {
        done += t.epochs;
        emit({ kind: 'run', name: t.name, seed: r.seed, top1: r.top1, bestLast20: r.bestLast20, cached: true, done, total });
      }
    } else {
      emit({ kind: 'training', name: t.name, done, total });
      await runPython('ddps_eval.train', [resolve(jobPath)], {
        ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        onEvent: (e) => {
          if (e.event === 'epoch') {
            emit({ kind: 'epoch', name: t.name, seed: e.seed as number, epoch: e.epoch as number, epochs: e.epochs as number, loss: e.loss as number, trainTop1: e.trainTop1 as number, ...(typeof e.top1 === 'number' ? { top1: e.top1 } : {}), done: ++done, total });
          } else if (e.event === 'run') {
            if (e.cached) done += t.epochs;
            emit({ kind: 'run', name: t.name, seed: e.seed as number, top1: e.top1 as number, bestLast20: e.bestLast20 as number, cached: e.cached === true, done, total });
          }
        },
      });
    }
    const runs = await finishedRuns(runsDir, seeds, digests);
    if (runs.length !== seeds.length) throw new DdpsError('CHILD_FAILED', `the trainer of ${t.name} finished without writing every seed's run under ${runsDir}`, { file: runsDir });
    sets.push({
      name: t.name,
      dir: t.dir,
      images: t.images,
      ipc: t.ipc,
      labels: t.labels,
      epochs: t.epochs,
      batchSize: t.batchSize,
      ...(t.teacherAgreement !== undefined ? { teacherAgreement: t.teacherAgreement } : {}),
      seeds: runs,
    });
  }

  const runs: RunSummary[] = sets.map((s) => ({
    name: s.name,
    ipc: s.ipc,
    top1: stat(s.seeds.map((r) => r.top1)),
    bestLast20: stat(s.seeds.map((r) => r.bestLast20)),
    seconds: s.seeds.reduce((a, r) => a + r.seconds, 0),
  }));
  const d = runs.find((r) => r.name === 'distilled')!;
  const rnd = runs.find((r) => r.name === 'random');
  const report: EvaluationReport = {
    profile: profile.name,
    runs,
    format: 'ddps-evaluation',
    version: 1,
    ...(profile.note ? { note: profile.note } : {}),
    labels,
    device: opts.device ?? DEFAULT_EVALUATION.device,
    ...(rnd ? { ior: { top1: d.top1.mean - rnd.top1.mean, bestLast20: d.bestLast20.mean - rnd.bestLast20.mean } } : {}),
    sets,
    val: { shards: val, images: valInfo.images },
    ...(opts.teacher ? { teacher: { file: opts.teacher.path, config: opts.teacher.config } } : {}),
    seconds: (performance.now() - started) / 1000,
  };
  await writeJsonAtomic(resultsPath, report);
  return report;
}

/** What `--json` prints: exactly {"profile", "runs": [{"name", "ipc", "top1", "bestLast20", "seconds"}]}. */
export function resultsJson(report: Pick<EvaluationReport, 'profile' | 'runs'>): { profile: string; runs: RunSummary[] } {
  return { profile: report.profile, runs: report.runs.map(({ name, ipc, top1, bestLast20, seconds }) => ({ name, ipc, top1, bestLast20, seconds })) };
}
