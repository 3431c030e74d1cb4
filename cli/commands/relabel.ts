import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { Classifier, loadTeacherConfig } from '../../models/classifier.js';
import { DdpsError } from '../../core/errors.js';
import { parseProviders } from '../../models/runtime.js';
import { relabel as runRelabel } from '../../pipelines/relabel.js';
import { loadClassMap } from '../../storage/webdataset/index.js';
import { flag, num, required, str } from '../args.js';
import type { Command } from '../command.js';
import { Progress } from '../progress.js';

/** --classes, else classes.json in the input folder, else however many classes the teacher gives. */
async function classCount(classesArg: string | undefined, inDir: string, teacher: Classifier): Promise<number> {
  if (classesArg) return (await loadClassMap(classesArg)).names.length;
  const beside = join(inDir, 'classes.json');
  if (existsSync(beside)) return (await loadClassMap(beside)).names.length;
  if (teacher.classCount !== undefined) return teacher.classCount;
  throw new DdpsError('BAD_ARGUMENT', `ddps relabel: the number of classes is unknown: pass --classes classes.json (none at ${beside}), or give the teacher config "classes"`);
}

export const relabel: Command = {
  spec: {
    name: 'relabel',
    summary: 'Stage IV: add a teacher classifier\'s soft labels (and FKD crop labels) to distilled shards',
    usage: 'ddps relabel --teacher <onnx> --teacher-config <json> --in <dir> --out <dir> [--temperature 4] [--fkd-epochs E] [--seed 0]',
    options: {
      teacher: { type: 'string', value: '<onnx>', help: 'ONNX image classifier' },
      'teacher-config': { type: 'string', value: '<json>', help: 'its preprocessing: {"input", "output", "size": [h, w], "mean", "std", "batch", "classes"?}' },
      in: { type: 'string', value: '<dir>', help: 'folder of distilled shards (*.tar) and manifest.json' },
      out: { type: 'string', value: '<dir>', help: 'where the relabelled shards go (same names)' },
      temperature: { type: 'string', value: 'T', help: 'softmax temperature of the soft labels', default: '4' },
      'fkd-epochs': { type: 'string', value: 'E', help: 'per-epoch random-resized-crop soft labels (FKD); 0 for none', default: '0' },
      seed: { type: 'string', value: 'N', help: 'seed of the FKD crops (keyed by sample and epoch)', default: '0' },
      classes: { type: 'string', value: '<file>', help: 'classes.json of the dataset (default: the one in --in, else the teacher\'s class count)' },
      threads: { type: 'string', value: 'N', help: 'ONNX Runtime threads (default: all cores)' },
      providers: { type: 'string', value: 'list', help: "execution providers, e.g. 'cuda,cpu' (default: cpu)" },
      quiet: { type: 'boolean', help: 'no progress line' },
      json: { type: 'boolean', help: 'print the summary as one JSON object' },
    },
    notes:
      'Each sample keeps every member and gains <key>.soft.json: {"temperature", "probs": [one per class]}, plus\n' +
      '"fkd": [{"epoch", "crop": [x, y, w, h], "flip", "probs"}] with --fkd-epochs. A teacher with more outputs than\n' +
      'the dataset has classes (ImageNet) needs "classes" in its config: the output index of each dataset class.',
  },
  async run(args) {
    const inDir = required(args, 'in', 'relabel');
    const outDir = required(args, 'out', 'relabel');
    const teacherPath = resolve(required(args, 'teacher', 'relabel'));
    const config = await loadTeacherConfig(required(args, 'teacher-config', 'relabel'));
    const threads = num(args, 'threads', { integer: true, min: 1 });
    const providers = str(args, 'providers');
    sharp.cache(false);
    const teacher = await Classifier.load(teacherPath, config, {
      ...(threads ? { intraOpThreads: threads } : {}),
      ...(providers ? { providers: parseProviders(providers) } : {}),
    });
    const progress = new Progress('relabel', process.stderr, flag(args, 'quiet'));
    let done = 0;
    try {
      const summary = await runRelabel({
        inDir,
        outDir,
        teacher,
        temperature: num(args, 'temperature')!,
        fkdEpochs: num(args, 'fkd-epochs', { integer: true, min: 0 })!,
        seed: num(args, 'seed', { integer: true })!,
        classCount: await classCount(str(args, 'classes'), inDir, teacher),
        onSample: () => progress.update({ done: ++done, skipped: 0 }),
      });
      progress.finish({ done, skipped: 0 });
      if (flag(args, 'json')) {
        console.log(JSON.stringify(summary));
        return 0;
      }
      console.log(`relabelled ${summary.images} images in ${summary.shards.length} shards in ${summary.seconds.toFixed(1)} s -> ${outDir}`);
      console.log(
        summary.agreement === undefined
          ? 'agreement: no image carries a hard label'
          : `agreement of the soft-label argmax with the hard label: ${summary.agreement.toFixed(1)} % (${summary.agree}/${summary.labelled})`,
      );
      return 0;
    } finally {
      await teacher.close();
    }
  },
};
