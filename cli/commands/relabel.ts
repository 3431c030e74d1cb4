import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import sharp from 'sharp';
import { Classifier, loadTeacherConfig } from '../../models/classifier.js';
import { DdpsError } from '../../core/errors.js';
import { parseProviders } from '../../models/runtime.js';
import { relabel as runRelabel } from '../../pipelines/relabel.js';
import { loadClassMap } from '../../storage/webdataset/index.js';
import { defineCommand, renamed } from '../define.js';
import { classMapSpelledClasses, opt } from '../options.js';
import { Progress } from '../progress.js';

/** --class-map, else classes.json in the input folder, else however many classes the teacher gives. */
async function classCount(classMapPath: string | undefined, inDir: string, teacher: Classifier): Promise<number> {
  if (classMapPath) return (await loadClassMap(classMapPath)).names.length;
  const beside = join(inDir, 'classes.json');
  if (existsSync(beside)) return (await loadClassMap(beside)).names.length;
  if (teacher.classCount !== undefined) return teacher.classCount;
  throw new DdpsError('BAD_ARGUMENT', `the number of classes is unknown: pass --class-map classes.json (none at ${beside}), or give the teacher config "classes"`);
}

export const relabelCommand = (): Command =>
  defineCommand({
    name: 'relabel',
    summary: "Stage IV: add a teacher classifier's soft labels (and FKD crop labels) to distilled shards",
    description:
      "Stage IV: add a teacher classifier's soft labels (and FKD crop labels) to distilled shards.\n\n" +
      'Each sample keeps every member and gains <key>.soft.json: {"temperature", "probs": [one per class]}, plus ' +
      '"fkd": [{"epoch", "crop": [x, y, w, h], "flip", "probs"}] with --fkd-epochs. A teacher with more outputs than ' +
      'the dataset has classes (ImageNet) needs "classes" in its config: the output index of each dataset class.',
    options: {
      teacher: opt.teacher.required(),
      teacherConfig: opt.teacherConfig.required(),
      in: opt.in.required(),
      out: opt.out.required(),
      classMap: opt.classMap.defaultShownAs("classes.json in --in, else the teacher's class count"),
      temperature: opt.temperature,
      fkdEpochs: opt.fkdEpochs,
      fkdSeed: opt.fkdSeed,
      threads: opt.threads,
      providers: opt.providers,
      quiet: opt.quiet,
      json: opt.json,
    },
    adjust: [renamed('--seed <n>', ['fkdSeed']), classMapSpelledClasses],
    async action(o) {
      const config = await loadTeacherConfig(o.teacherConfig);
      sharp.cache(false);
      const teacher = await Classifier.load(resolve(o.teacher), config, {
        ...(o.threads ? { intraOpThreads: o.threads } : {}),
        ...(o.providers ? { providers: parseProviders(o.providers) } : {}),
      });
      const progress = new Progress('relabel', process.stderr, o.quiet === true);
      let done = 0;
      try {
        const summary = await runRelabel({
          inDir: o.in,
          outDir: o.out,
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
        console.log(`relabelled ${summary.images} images in ${summary.shards.length} shards in ${summary.seconds.toFixed(1)} s -> ${o.out}`);
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
