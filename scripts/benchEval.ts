/**
 * `npm run bench:eval`: does a selection train a better student than random real images? Not part of
 * `npm test` (it takes hours on 2 cores). Runs the commands a user runs and prints a table, the wall
 * time of each step, and one final JSON line:
 *
 *   ddps score    CIFAR-10 train (the 50 000 images of ../shared/data/cifar10-50k, or BENCH_SOURCE),
 *                 --scorer classifier (RDED-style: the ResNet-20 teacher's confidence in the true class),
 *                 --whole-image at 64 px, DIFT features from the tiny-sd fixture (random weights)
 *   ddps select   IPC 10, images stored at 32 px as RDED does (no mosaics for whole-image stores)
 *   ddps evaluate cifar10-conv3 (300 epochs, replayed labels), 3 seeds, --compare random,
 *                 tested on the 2000 images of ../shared/data/cifar10/test-000000.tar
 *
 * Everything goes to BENCH_DIR (default <repo>/bench-eval/); a re-run resumes every step.
 * BENCH_EPOCHS, BENCH_SEEDS and BENCH_THREADS override the defaults (for a quick look, not the number).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatEvaluation } from '../pipelines/evalReport.js';
import type { EvaluationReport } from '../pipelines/evaluate.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env.DDPS_SHARED ?? resolve(REPO, '../shared');
const SOURCE = process.env.BENCH_SOURCE ?? join(SHARED, 'data/cifar10-50k/train-{000000..000009}.tgz');
const CLASSES = join(SHARED, 'data/cifar10/classes.json');
const VAL = join(SHARED, 'data/cifar10/test-000000.tar');
const TEACHER = join(SHARED, 'models/cifar10-resnet20.onnx');
const TEACHER_CONFIG = join(SHARED, 'models/cifar10-resnet20.json');
const PACK = join(SHARED, 'fixtures/tiny-sd');
const DIR = process.env.BENCH_DIR ?? join(REPO, 'bench-eval');
const EPOCHS = process.env.BENCH_EPOCHS ?? '300';
const SEEDS = process.env.BENCH_SEEDS ?? '3';
const THREADS = process.env.BENCH_THREADS ?? String(availableParallelism());

for (const f of [CLASSES, VAL, TEACHER, PACK]) {
  if (!existsSync(f)) {
    console.error(`bench:eval needs ${f} (set DDPS_SHARED)`);
    process.exit(2);
  }
}
mkdirSync(DIR, { recursive: true });

/** Runs `ddps <args>`: progress on stderr as it comes, stdout returned; exits on failure. */
function ddps(args: string[]): { stdout: string; seconds: number } {
  console.error(`\n$ ddps ${args.map((a) => (/[\s{}*']/.test(a) ? `'${a}'` : a)).join(' ')}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(REPO, 'dist/cli/ddps.js'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    console.error(r.stdout);
    process.exit(r.status ?? 1);
  }
  return { stdout: r.stdout, seconds: (performance.now() - t0) / 1000 };
}

const teacher = ['--teacher', TEACHER, '--teacher-config', TEACHER_CONFIG];
const score = ddps(['score', '--shards', SOURCE, '--class-map', CLASSES, '--model', PACK, '--store', join(DIR, 'store'), '--whole-image', '--image-size', '64', '--patch-size', '64', '--scorer', 'classifier', ...teacher, '--batch-size', '16', '--threads', THREADS, '--json']);
const stored = (JSON.parse(score.stdout.trim().split('\n').pop()!) as { stored: number }).stored;
const select = ddps(['select', '--store', join(DIR, 'store'), '--ipc', '10', '--output-size', '32', '--out', join(DIR, 'ipc10'), '--json']);
const evaluation = ddps([
  'evaluate', '--distilled', join(DIR, 'ipc10'), '--val', VAL, '--profile', 'cifar10-conv3', ...teacher,
  '--compare', 'random', '--source', SOURCE, '--epochs', EPOCHS, '--seeds', SEEDS, '--threads', THREADS, '--out', join(DIR, 'eval'), '--json',
]);
const report = JSON.parse(readFileSync(join(DIR, 'eval', 'results.json'), 'utf8')) as EvaluationReport;

console.log(`\nCIFAR-10, selection from ${stored} scored images (${SOURCE}); tested on ${report.val.images} images of ${VAL}`);
for (const line of formatEvaluation(report)) console.log(line);
console.log(`wall time: score ${(score.seconds / 60).toFixed(1)} min, select ${select.seconds.toFixed(1)} s, evaluate ${(evaluation.seconds / 60).toFixed(1)} min (replay labels and ${report.sets.length * Number(SEEDS)} students)`);
console.log(JSON.stringify({ source: SOURCE, scored: stored, val: report.val, runs: report.runs, ior: report.ior, seconds: { score: score.seconds, select: select.seconds, evaluate: evaluation.seconds } }));
