import { join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import sharp from 'sharp';
import { DdpsError } from '../../core/errors.js';
import { Classifier, loadTeacherConfig } from '../../models/classifier.js';
import { parseProviders } from '../../models/runtime.js';
import { formatEvaluation } from '../../pipelines/evalReport.js';
import { loadProfiles, PROFILES_FILE } from '../../pipelines/evalProfiles.js';
import { type EvaluateEvent, RESULTS_NAME, resultsJson, runEvaluate } from '../../pipelines/evaluate.js';
import { loadClassMap } from '../../storage/webdataset/index.js';
import { defineCommand } from '../define.js';
import { opt } from '../options.js';
import { Progress, type ProgressState } from '../progress.js';

/** One progress line per stage (reading the source, each replay, training), each finished when the next starts. */
function progressReporter(quiet: boolean): { onEvent: (e: EvaluateEvent) => void; finish: () => void } {
  let current: { key: string; progress: Progress; state: ProgressState } | undefined;
  const show = (key: string, label: string, state: ProgressState): void => {
    if (current?.key !== key) {
      current?.progress.finish(current.state);
      current = { key, progress: new Progress(label, process.stderr, quiet), state };
    }
    current.state = state;
    current.progress.update(state);
  };
  const finish = (): void => {
    current?.progress.finish(current.state);
    current = undefined;
  };
  const onEvent = (e: EvaluateEvent): void => {
    switch (e.kind) {
      case 'note':
        finish();
        // Notes carry a development profile's warning: printed even with --quiet.
        process.stderr.write(`${e.message}\n`);
        break;
      case 'source':
        show('source', 'random subset: reading the source', { done: e.read, skipped: 0 });
        break;
      case 'replay':
        show(`replay/${e.name}/${e.seed}`, `replay labels ${e.name} seed ${e.seed}`, { done: e.done, skipped: 0, fraction: e.done / e.total });
        break;
      case 'training':
        show('train', 'train (epochs)', { done: e.done, skipped: 0, fraction: e.done / e.total, note: `${e.name}: starting PyTorch` });
        break;
      case 'epoch':
        show('train', 'train (epochs)', {
          done: e.done,
          skipped: 0,
          fraction: e.done / e.total,
          note: `${e.name} seed ${e.seed} epoch ${e.epoch}/${e.epochs} loss ${e.loss.toFixed(4)}${e.top1 !== undefined ? ` top-1 ${e.top1.toFixed(1)} %` : ''}`,
        });
        break;
      case 'run':
        show('train', 'train (epochs)', { done: e.done, skipped: 0, fraction: e.done / e.total, note: `${e.name} seed ${e.seed}: top-1 ${e.top1.toFixed(1)} %${e.cached ? ' (kept from an earlier run)' : ''}` });
        break;
    }
  };
  return { onEvent, finish };
}

function profileList(): string {
  return [...loadProfiles()].map(([name, p]) => `${name}: ${p.summary}${p.devOnly ? ' (results valid for relative comparisons only)' : ''}.`).join(' ');
}

export const evaluateCommand = (): Command =>
  defineCommand({
    name: 'evaluate',
    summary: "train students on a distilled set (RDED's protocol, replayed teacher labels) and compare with random real images",
    description:
      "Train students on a distilled set with RDED's protocol, in PyTorch, and test them on a real held-out split.\n\n" +
      `Profiles (every hyperparameter in ${PROFILES_FILE}): ${profileList()}\n\n` +
      "top-1 is the final epoch's accuracy, mean ± std over the seeds; \"best of last 20 %\" is the best of the evaluations " +
      'every 10 epochs in the last 20 % of training (the number RDED reports). IOR = top-1(distilled) - top-1(random). ' +
      `${RESULTS_NAME} is written when every student has finished; finished students are kept, so a re-run resumes. ` +
      'The replayed labels are made with the teacher (ONNX Runtime, --threads and --providers) and cached beside the set; ' +
      'students use --threads torch threads. Needs Python 3 with torch >= 1.13 and torchvision (DDPS_PYTHON picks the interpreter).',
    options: {
      distilled: opt.distilled.required(),
      val: opt.val.required(),
      profile: opt.profile.required(),
      teacher: opt.teacher,
      teacherConfig: opt.teacherConfig,
      labels: opt.labels,
      compare: opt.compare,
      source: opt.source,
      epochs: opt.epochs,
      studentBatchSize: opt.studentBatchSize,
      lr: opt.lr,
      seeds: opt.seeds,
      studentSeed: opt.studentSeed,
      fullEpochs: opt.fullEpochs,
      device: opt.device,
      replayDir: opt.replayDir,
      classMap: opt.classMap.defaultShownAs('classes.json beside --val, else beside --distilled'),
      threads: opt.threads,
      providers: opt.providers,
      out: opt.out.defaultShownAs('<distilled>/eval-<profile>'),
      quiet: opt.quiet,
      json: opt.json,
    },
    async action(o) {
      if ((o.teacher === undefined) !== (o.teacherConfig === undefined)) throw new DdpsError('BAD_ARGUMENT', '--teacher and --teacher-config go together');
      const threads = o.threads ?? availableParallelism();
      sharp.cache(false);
      const teacher = o.teacher
        ? await Classifier.load(resolve(o.teacher), await loadTeacherConfig(o.teacherConfig!), { intraOpThreads: threads, ...(o.providers ? { providers: parseProviders(o.providers) } : {}) })
        : undefined;
      const out = o.out ?? join(o.distilled, `eval-${o.profile}`);
      const reporter = progressReporter(o.quiet === true);
      try {
        const report = await runEvaluate({
          distilled: o.distilled,
          val: o.val,
          profile: o.profile,
          overrides: { ...(o.epochs !== undefined ? { epochs: o.epochs } : {}), ...(o.seeds !== undefined ? { seeds: o.seeds } : {}), ...(o.lr !== undefined ? { lr: o.lr } : {}) },
          labels: o.labels,
          compare: o.compare ?? [],
          seed: o.studentSeed,
          device: o.device,
          threads,
          out,
          onEvent: reporter.onEvent,
          ...(o.studentBatchSize !== undefined ? { batchSize: o.studentBatchSize } : {}),
          ...(o.fullEpochs !== undefined ? { fullEpochs: o.fullEpochs } : {}),
          ...(teacher ? { teacher } : {}),
          ...(o.source ? { source: o.source } : {}),
          ...(o.replayDir ? { replayDir: o.replayDir } : {}),
          ...(o.classMap ? { classNames: [...(await loadClassMap(o.classMap)).names] } : {}),
        });
        reporter.finish();
        if (o.json) {
          if (report.note) process.stderr.write(`NOTE: ${report.note}\n`);
          console.log(JSON.stringify(resultsJson(report)));
          return;
        }
        for (const line of formatEvaluation(report)) console.log(line);
        console.log(`-> ${join(out, RESULTS_NAME)}`);
      } finally {
        reporter.finish();
        await teacher?.close();
      }
    },
  });
