import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import sharp from 'sharp';
import { Classifier, loadTeacherConfig } from '../../models/classifier.js';
import { DdpsError } from '../../core/errors.js';
import { parseProviders } from '../../models/runtime.js';
import { loadDistilledSet, setIpc } from '../../pipelines/distilledSet.js';
import { batchSizeFor, resolveProfile } from '../../pipelines/evalProfiles.js';
import { relabel as runRelabel } from '../../pipelines/relabel.js';
import { defaultReplayDir, replaysFor } from '../../pipelines/replay.js';
import { loadClassMap } from '../../storage/webdataset/index.js';
import { defineCommand, renamed, type Values } from '../define.js';
import { classMapSpelledClasses, opt } from '../options.js';
import { Progress, type ProgressState } from '../progress.js';

/** --class-map, else classes.json in the input folder, else however many classes the teacher gives. */
async function classCount(classMapPath: string | undefined, inDir: string, teacher: Classifier): Promise<number> {
  if (classMapPath) return (await loadClassMap(classMapPath)).names.length;
  const beside = join(inDir, 'classes.json');
  if (existsSync(beside)) return (await loadClassMap(beside)).names.length;
  if (teacher.classCount !== undefined) return teacher.classCount;
  throw new DdpsError('BAD_ARGUMENT', `the number of classes is unknown: pass --class-map classes.json (none at ${beside}), or give the teacher config "classes"`);
}

const RELABEL_OPTIONS = {
  teacher: opt.teacher.required(),
  teacherConfig: opt.teacherConfig.required(),
  in: opt.in.required(),
  out: opt.out.defaultShownAs('required, except with --replay'),
  classMap: opt.classMap.defaultShownAs("classes.json in --in, else the teacher's class count"),
  temperature: opt.temperature,
  fkdEpochs: opt.fkdEpochs,
  fkdSeed: opt.fkdSeed,
  replay: opt.replay,
  profile: opt.profile,
  epochs: opt.epochs,
  studentBatchSize: opt.studentBatchSize,
  seeds: opt.seeds,
  studentSeed: opt.studentSeed,
  replayDir: opt.replayDir,
  threads: opt.threads,
  providers: opt.providers,
  quiet: opt.quiet,
  json: opt.json,
};

async function loadTeacher(o: Values<typeof RELABEL_OPTIONS>): Promise<Classifier> {
  const config = await loadTeacherConfig(o.teacherConfig);
  sharp.cache(false);
  return Classifier.load(resolve(o.teacher), config, {
    ...(o.threads ? { intraOpThreads: o.threads } : {}),
    ...(o.providers ? { providers: parseProviders(o.providers) } : {}),
  });
}

/** `ddps relabel --replay`: one replay per student seed, where ddps evaluate looks for them. */
async function replayLabels(o: Values<typeof RELABEL_OPTIONS>): Promise<void> {
  if (o.profile === undefined) throw new DdpsError('BAD_ARGUMENT', '--replay needs --profile (the evaluation protocol the replay serves)');
  const profile = resolveProfile(o.profile, { ...(o.epochs !== undefined ? { epochs: o.epochs } : {}), ...(o.seeds !== undefined ? { seeds: o.seeds } : {}) });
  if (profile.note) process.stderr.write(`NOTE: ${profile.note}\n`);
  const set = await loadDistilledSet(o.in);
  const teacher = await loadTeacher(o);
  try {
    const seeds = Array.from({ length: profile.seeds }, (_, i) => o.studentSeed + i);
    const batchSize = o.studentBatchSize ?? batchSizeFor(profile, setIpc(set), set.perClass.size);
    let progress: Progress | undefined;
    let shown: number | undefined;
    let last: ProgressState = { done: 0, skipped: 0 };
    const dirs = await replaysFor({
      set,
      profile,
      epochs: profile.epochs,
      batchSize,
      seeds,
      classCount: await classCount(o.classMap, o.in, teacher),
      teacher,
      cacheDir: o.replayDir ?? defaultReplayDir(set),
      onBatch: (seed, done, total) => {
        if (seed !== shown) {
          progress?.finish(last);
          progress = new Progress(`replay seed ${seed}`, process.stderr, o.quiet === true);
          shown = seed;
        }
        last = { done, skipped: 0, fraction: done / total };
        progress!.update(last);
      },
    });
    progress?.finish(last);
    if (o.json) console.log(JSON.stringify({ profile: profile.name, epochs: profile.epochs, batchSize, replays: dirs }));
    else for (const [seed, dir] of Object.entries(dirs)) console.log(`seed ${seed}: ${profile.epochs} epochs at batch size ${batchSize} -> ${dir}`);
  } finally {
    await teacher.close();
  }
}

export const relabelCommand = (): Command =>
  defineCommand({
    name: 'relabel',
    summary: "Stage IV: add a teacher classifier's soft labels (and FKD crop labels) to distilled shards, or write replayed labels",
    description:
      "Stage IV: add a teacher classifier's soft labels (and FKD crop labels) to distilled shards.\n\n" +
      'Each sample keeps every member and gains <key>.soft.json: {"temperature", "probs": [one per class]}, plus ' +
      '"fkd": [{"epoch", "crop": [x, y, w, h], "flip", "probs"}] with --fkd-epochs. A teacher with more outputs than ' +
      'the dataset has classes (ImageNet) needs "classes" in its config: the output index of each dataset class.\n\n' +
      'With --replay (and --profile), it writes instead the replayed labels `ddps evaluate` trains on: for every epoch and ' +
      "batch of each student's run, the augmentation and the teacher's logits on that augmented batch (docs/REPLAY.md). " +
      'ddps evaluate finds them by their content digest.',
    options: RELABEL_OPTIONS,
    adjust: [renamed('--seed <n>', ['fkdSeed']), classMapSpelledClasses],
    async action(o) {
      if (o.replay) return replayLabels(o);
      if (o.out === undefined) throw new DdpsError('BAD_ARGUMENT', "required option '--out <dir>' not specified");
      const out = o.out;
      const teacher = await loadTeacher(o);
      const progress = new Progress('relabel', process.stderr, o.quiet === true);
      let done = 0;
      try {
        const summary = await runRelabel({
          inDir: o.in,
          outDir: out,
          teacher,
          temperature: o.temperature,
          fkdEpochs: o.fkdEpochs,
          seed: o.fkdSeed,
          classCount: await classCount(o.classMap, o.in, teacher),
          onSample: () => progress.update({ done: ++done, skipped: 0 }),
        });
        progress.finish({ done, skipped: 0 });
        if (o.json) {
          console.log(JSON.stringify(summary));
          return;
        }
        console.log(`relabelled ${summary.images} images in ${summary.shards.length} shards in ${summary.seconds.toFixed(1)} s -> ${out}`);
        console.log(
          summary.agreement === undefined
            ? 'agreement: no image carries a hard label'
            : `agreement of the soft-label argmax with the hard label: ${summary.agreement.toFixed(1)} % (${summary.agree}/${summary.labelled})`,
        );
      } finally {
        await teacher.close();
      }
    },
  });
