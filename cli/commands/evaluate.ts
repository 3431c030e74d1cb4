import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { DdpsError } from '../../core/errors.js';
import { Classifier, loadTeacherConfig } from '../../models/classifier.js';
import { parseProviders } from '../../models/runtime.js';
import { formatEvaluation } from '../../pipelines/evalReport.js';
import { loadProfiles, PROFILES_FILE } from '../../pipelines/evalProfiles.js';
import { type EvaluateEvent, LABEL_MODES, type LabelMode, RESULTS_NAME, resultsJson, runEvaluate } from '../../pipelines/evaluate.js';
import { loadClassMap } from '../../storage/webdataset/index.js';
import { flag, num, required, str, type Parsed } from '../args.js';
import type { Command } from '../command.js';
import { Progress } from '../progress.js';

/** One progress line per stage (random subset, each replay, training), each replaced by the next. */
function progressReporter(quiet: boolean): { onEvent: (e: EvaluateEvent) => void; finish: () => void } {
  let current: { key: string; progress: Progress; state: Parameters<Progress['finish']>[0] } | undefined;
  const show = (key: string, label: string, state: Parameters<Progress['finish']>[0]): void => {
    if (current?.key !== key) {
      if (current) current.progress.finish(current.state);
      current = { key, progress: new Progress(label, process.stderr, quiet), state };
    }
    current.state = state;
    current.progress.update(state);
  };
  const finish = (): void => {
    if (current) current.progress.finish(current.state);
    current = undefined;
  };
  return {
    finish,
    onEvent: (e) => {
      switch (e.kind) {
        case 'note':
          finish();
          // Notes carry the development profile's warning: printed even with --quiet.
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
        case 'run': {
          const note = e.kind === 'epoch' ? `${e.name} seed ${e.seed} epoch ${e.epoch}/${e.epochs} loss ${e.loss.toFixed(4)}${e.top1 !== undefined ? ` top-1 ${e.top1.toFixed(1)} %` : ''}` : `${e.name} seed ${e.seed}: top-1 ${e.top1.toFixed(1)} %${e.cached ? ' (kept from an earlier run)' : ''}`;
          show('train', 'train (epochs)', { done: e.done, skipped: 0, fraction: e.done / e.total, note });
          break;
        }
      }
    },
  };
}

async function classNames(args: Parsed): Promise<string[] | undefined> {
  const file = str(args, 'classes');
  return file ? [...(await loadClassMap(file)).names] : undefined;
}

function profileNotes(): string {
  const lines = [...loadProfiles()].map(([name, p]) => `  ${name.padEnd(26)}${p.summary}${p.devOnly ? ' (relative comparisons only)' : ''}`);
  return `Profiles (every hyperparameter in ${PROFILES_FILE}):\n${lines.join('\n')}`;
}

export const evaluate: Command = {
  spec: {
    name: 'evaluate',
    summary: 'train students on a distilled set (RDED\'s protocol, replayed teacher labels) and compare with random real images',
    usage:
      'ddps evaluate --distilled <dir> --val <shards> --profile cifar10-conv3 [--teacher <onnx> --teacher-config <json>]\n' +
      '       [--labels replay|static|hard] [--compare random[,full][,<dir>...]] [--source <shards>] [--epochs N] [--seeds N] [--device cpu|cuda] [--json]',
    options: {
      distilled: { type: 'string', value: '<dir>', help: 'distilled folder (shards + manifest.json, as ddps select / distill write it)' },
      val: { type: 'string', value: '<shards>', help: 'the real held-out split the students are tested on' },
      profile: { type: 'string', value: 'name', help: 'evaluation protocol (see Profiles below)' },
      teacher: { type: 'string', value: '<onnx>', help: 'teacher classifier: makes the replayed labels (needed unless they are cached)' },
      'teacher-config': { type: 'string', value: '<json>', help: 'its preprocessing (see ddps relabel --help)' },
      labels: { type: 'string', value: 'mode', help: 'replay (teacher logits on every augmented batch, SRe2L-style), static (.soft.json) or hard', default: 'replay' },
      compare: { type: 'string', value: 'list', help: "also train on: 'random' (random real images, same IPC and pipeline), 'full' (the whole --source split, hard labels), other distilled folders" },
      source: { type: 'string', value: '<shards>', help: 'the split random and full draw from' },
      epochs: { type: 'string', value: 'N', help: 'training epochs (default: the profile\'s, 300)' },
      'batch-size': { type: 'string', value: 'N', help: 'default: RDED\'s 10 / 50 / 100 for IPC <= 1 / <= 10 / above' },
      lr: { type: 'string', value: 'X', help: 'AdamW learning rate (default: the profile\'s, 0.001)' },
      seeds: { type: 'string', value: 'N', help: 'students per set (default: the profile\'s, 5)' },
      seed: { type: 'string', value: 'N', help: 'first student seed (students use seed .. seed + N - 1) and the random subset\'s seed', default: '0' },
      'full-epochs': { type: 'string', value: 'N', help: 'epochs of --compare full (default: capped so that at most the profile\'s full.maxImagesSeen images are seen)' },
      device: { type: 'string', value: 'cpu|cuda', help: 'where students train', default: 'cpu' },
      threads: { type: 'string', value: 'N', help: 'torch and ONNX Runtime CPU threads (default: all cores)' },
      out: { type: 'string', value: '<dir>', help: `where runs, the random subset and ${RESULTS_NAME} go (default: <distilled>/eval-<profile>)` },
      replay: { type: 'string', value: '<dir>', help: 'folder of replayed labels (default: <distilled>/replay, or the cache for a read-only set)' },
      classes: { type: 'string', value: '<file>', help: 'classes.json (default: the one beside --val, else beside --distilled)' },
      providers: { type: 'string', value: 'list', help: "the teacher's execution providers, e.g. 'cuda,cpu' (default: cpu)" },
      quiet: { type: 'boolean', help: 'no progress lines' },
      json: { type: 'boolean', help: 'print {"profile", "runs": [{"name", "ipc", "top1", "bestLast20", "seconds"}]}' },
    },
    notes:
      `${profileNotes()}\n\n` +
      'top-1 is the final epoch\'s accuracy, mean ± std over the seeds; "best of last 20 %" is the best of the evaluations\n' +
      'every 10 epochs in the last 20 % of training (the number RDED reports). IOR = top-1(distilled) - top-1(random).\n' +
      `${RESULTS_NAME} is written when every student has finished; finished students are kept, so a re-run resumes.\n` +
      'Needs Python 3 with torch >= 1.13 and torchvision (DDPS_PYTHON picks the interpreter).',
  },
  async run(args) {
    const distilled = required(args, 'distilled', 'evaluate');
    const profile = required(args, 'profile', 'evaluate');
    const labels = str(args, 'labels') as LabelMode;
    if (!LABEL_MODES.includes(labels)) throw new DdpsError('BAD_ARGUMENT', `--labels must be ${LABEL_MODES.join(', ')}; got '${labels}'`);
    const device = str(args, 'device');
    if (device !== 'cpu' && device !== 'cuda') throw new DdpsError('BAD_ARGUMENT', `--device must be cpu or cuda; got '${device}'`);
    const teacherPath = str(args, 'teacher');
    const teacherConfig = str(args, 'teacher-config');
    if ((teacherPath === undefined) !== (teacherConfig === undefined)) throw new DdpsError('BAD_ARGUMENT', '--teacher and --teacher-config go together');
    const threads = num(args, 'threads', { integer: true, min: 1 }) ?? availableParallelism();
    const providers = str(args, 'providers');
    sharp.cache(false);
    const teacher = teacherPath
      ? await Classifier.load(resolve(teacherPath), await loadTeacherConfig(teacherConfig!), { intraOpThreads: threads, ...(providers ? { providers: parseProviders(providers) } : {}) })
      : undefined;
    const epochs = num(args, 'epochs', { integer: true, min: 1 });
    const seeds = num(args, 'seeds', { integer: true, min: 1 });
    const lr = num(args, 'lr');
    const batchSize = num(args, 'batch-size', { integer: true, min: 1 });
    const fullEpochs = num(args, 'full-epochs', { integer: true, min: 1 });
    const replay = str(args, 'replay');
    const source = str(args, 'source');
    const names = await classNames(args);
    const compare = (str(args, 'compare') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const reporter = progressReporter(flag(args, 'quiet'));
    try {
      const report = await runEvaluate({
        distilled,
        val: required(args, 'val', 'evaluate'),
        profile,
        overrides: { ...(epochs !== undefined ? { epochs } : {}), ...(seeds !== undefined ? { seeds } : {}), ...(lr !== undefined ? { lr } : {}) },
        labels,
        compare,
        seed: num(args, 'seed', { integer: true })!,
        device,
        threads,
        out: str(args, 'out') ?? join(distilled, `eval-${profile}`),
        onEvent: reporter.onEvent,
        ...(batchSize !== undefined ? { batchSize } : {}),
        ...(fullEpochs !== undefined ? { fullEpochs } : {}),
        ...(teacher ? { teacher } : {}),
        ...(source ? { source } : {}),
        ...(replay ? { replayDir: replay } : {}),
        ...(names ? { classNames: names } : {}),
      });
      reporter.finish();
      if (flag(args, 'json')) {
        if (report.note) process.stderr.write(`NOTE: ${report.note}\n`);
        console.log(JSON.stringify(resultsJson(report)));
        return 0;
      }
      for (const line of formatEvaluation(report)) console.log(line);
      console.log(`-> ${join(str(args, 'out') ?? join(distilled, `eval-${profile}`), RESULTS_NAME)}`);
      return 0;
    } finally {
      reporter.finish();
      await teacher?.close();
    }
  },
};
