/**
 * `npm run bench:method`: the method itself, measured on CIFAR-10 with a diffusion pack the project
 * trains (SD 1.5 weights cannot be fetched here). Not part of `npm test`; needs ../shared (or
 * DDPS_SHARED). Every step is a `ddps` command, run as a user would, and every step resumes:
 *
 *   1. the pack: `ddps model train` on the 50 000-image train split, unless $DDPS_PACK already holds one
 *   2. its conditional signal: `ddps model classify` on the 2000 test images (diffusion classifier)
 *   3. selections: `ddps distill --whole-image --image-size 64 --ipc 10,50 --output-size 32` on the
 *      5000-image train subset (DDPS_BENCH_SOURCE: another split, e.g. the 50 000 images), scored by
 *      the pack (DDPS) and by the teacher (`--scorer classifier`, RDED's scorer)
 *   4. students: `ddps evaluate --profile cifar10-conv3 --compare random,<classifier selection>`, 3 seeds
 *
 * Prints a table next to the paper's numbers and, last, one JSON line.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCacheDir } from '../models/pack.js';
import { PACK_RECORD } from '../pipelines/trainPack.js';
import { readManifest } from '../pipelines/manifest.js';
import { parseProvenance } from '../pipelines/report/selection.js';
import { patchKey } from '../operators/math/ranking.js';
import { readSamples, sampleClass, ScoreStore } from '../storage/index.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(REPO, 'dist/cli/ddps.js');
const SHARED = process.env.DDPS_SHARED ?? resolve(REPO, '../shared');
const CIFAR = join(SHARED, 'data/cifar10');
const CIFAR_50K = join(SHARED, 'data/cifar10-50k/train-{000000..000009}.tgz');
/** What is scored and selected from: the 5000-image subset by default (the paper: all 50 000, 10x the scoring time). */
const SOURCE = process.env.DDPS_BENCH_SOURCE ?? join(CIFAR, 'train-000000.tar');
const TEST = join(CIFAR, 'test-000000.tar');
const TEACHER = join(SHARED, 'models/cifar10-resnet20.onnx');
const TEACHER_CONFIG = join(SHARED, 'models/cifar10-resnet20.json');
const PACK = process.env.DDPS_PACK ?? join(defaultCacheDir(), 'packs', 'cifar10-64');
const OUT = process.env.DDPS_BENCH_OUT ?? join(defaultCacheDir(), 'bench-method');
const SEEDS = process.env.DDPS_SEEDS ?? '3';
/** The budgets evaluated (10 and 50 as in the paper's table; DDPS_BENCH_IPCS=10 for a shorter run). */
const IPCS = (process.env.DDPS_BENCH_IPCS ?? '10,50').split(',').map(Number);
/** The paper's Table 1 (CIFAR-10, ConvNet-3) and random real images + soft labels (EVAL.md). */
const PAPER: Record<string, Record<number, string | undefined>> = {
  'DDPS (paper)': { 10: '48.8 ± 0.4', 50: '66.2 ± 0.3' },
  'RDED (paper)': { 10: '50.2', 50: '68.4' },
  'random + soft labels (no-distillation)': { 10: '46.3', 50: '62.1' },
};

for (const p of [join(CIFAR, 'classes.json'), TEST, TEACHER, TEACHER_CONFIG]) {
  if (!existsSync(p)) {
    console.error(`bench:method needs ${p} (set DDPS_SHARED)`);
    process.exit(2);
  }
}

/** Runs `ddps <args>`; progress goes to the terminal, stdout is returned (the --json result). */
function ddps(args: string[]): Promise<{ stdout: string; seconds: number }> {
  const t0 = performance.now();
  console.error(`\n$ ddps ${args.join(' ')}`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise({ stdout, seconds: (performance.now() - t0) / 1000 }) : reject(new Error(`ddps ${args[0]} exited with code ${code}`))));
  });
}

const lastJson = (stdout: string): Record<string, unknown> => JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;

interface Top1 {
  mean: number;
  std: number;
  seeds: number[];
}
interface EvalRun {
  name: string;
  ipc: number;
  top1: Top1;
  bestLast20?: Top1;
  seconds?: number;
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const timings: Record<string, number> = {};

  // 1. The pack.
  const record = join(PACK, PACK_RECORD);
  if (!existsSync(record)) {
    const r = await ddps(['model', 'train', '--shards', CIFAR_50K, '--out', PACK, '--json']);
    timings.train = r.seconds;
  }
  const training = JSON.parse(readFileSync(record, 'utf8')) as { seconds: number; device: string; threads: number; data: { images: number } };
  timings.trainRecorded = training.seconds;

  // 2. The diffusion classifier on the held-out test images, with the scoring timesteps and noise.
  const classifyFile = join(OUT, 'classify.json');
  if (!existsSync(classifyFile)) {
    const r = await ddps(['model', 'classify', '--model', PACK, '--shards', TEST, '--whole-image', '--image-size', '64', '--json']);
    writeFileSync(classifyFile, JSON.stringify({ ...lastJson(r.stdout), wallSeconds: r.seconds }) + '\n');
  }
  const classify = JSON.parse(readFileSync(classifyFile, 'utf8')) as { top1: number; images: number; timesteps: number; unetPasses: number; seconds: number; signal: { meanGap: number; positive: number } };

  // 3. Selections: the same pack's DIFT features cluster both; only the scorer differs.
  const common = ['--shards', SOURCE, '--class-map', join(CIFAR, 'classes.json'), '--model', PACK, '--whole-image', '--image-size', '64', '--ipc', IPCS.join(','), '--output-size', '32', '--json', '--quiet'];
  const ddpsSel = await ddps(['distill', ...common, '--out', join(OUT, 'ddps')]);
  timings.distillDdps = ddpsSel.seconds;
  const clsSel = await ddps(['distill', ...common, '--out', join(OUT, 'classifier'), '--scorer', 'classifier', '--teacher', TEACHER, '--teacher-config', TEACHER_CONFIG]);
  timings.distillClassifier = clsSel.seconds;

  // 4. Students: the DDPS selection against random real images and the classifier-scored selection.
  const runs: EvalRun[] = [];
  for (const ipc of IPCS) {
    const r = await ddps([
      'evaluate', '--distilled', join(OUT, 'ddps', `ipc${ipc}`), '--val', TEST, '--source', SOURCE,
      '--teacher', TEACHER, '--teacher-config', TEACHER_CONFIG, '--profile', 'cifar10-conv3',
      '--compare', `random,${join(OUT, 'classifier', `ipc${ipc}`)}`, '--seeds', SEEDS, '--json',
    ]);
    timings[`evaluateIpc${ipc}`] = r.seconds;
    for (const run of (lastJson(r.stdout) as { runs: EvalRun[] }).runs) {
      runs.push({ ...run, ipc, name: run.name === join(OUT, 'classifier', `ipc${ipc}`) || run.name.endsWith(`classifier/ipc${ipc}`) ? 'classifier' : run.name });
    }
  }

  // evaluate reports top-1 in percent already.
  const pct = (t: Top1 | undefined) => (t ? `${t.mean.toFixed(1)} ± ${t.std.toFixed(1)}` : '–');
  const rows: string[][] = [];
  for (const name of ['distilled', 'classifier', 'random']) {
    const label = { distilled: 'DDPS, trained pack (ours)', classifier: 'classifier-scored (RDED scorer, ours)', random: 'random real (ours)' }[name]!;
    const run = (ipc: number) => runs.find((r) => r.name === name && r.ipc === ipc);
    rows.push([label, ...IPCS.flatMap((ipc) => [pct(run(ipc)?.top1), pct(run(ipc)?.bestLast20)])]);
  }
  for (const [label, v] of Object.entries(PAPER)) rows.push([label, ...IPCS.flatMap((ipc) => [v[ipc] ?? '–', ''])]);
  const draws = await describeDraws();
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  console.log(`\ndiffusion classifier: top-1 ${(100 * classify.top1).toFixed(1)} % of ${classify.images} test images (chance 10 %), ${classify.timesteps} timesteps, ${classify.unetPasses} UNet passes in ${Math.round(classify.seconds)} s`);
  console.log(`pack: ${PACK}, trained on ${training.data.images} images in ${Math.round(training.seconds)} s (${training.device}, ${training.threads} threads)`);
  console.log(`\nCIFAR-10 ConvNet-3, top-1 % on 2000 test images (final epoch, mean ± std over ${SEEDS} seeds); selected from ${SOURCE}`);
  console.log(`${''.padEnd(w)}${IPCS.map((ipc) => `IPC ${ipc}`.padEnd(16) + 'best last 20 %'.padEnd(16)).join('')}`);
  for (const [label, ...cells] of rows) console.log(`${label!.padEnd(w)}${cells.map((c) => c.padEnd(16)).join('')}`);
  console.log('(the paper selects from all 50 000 train images and tests on 10 000)');
  console.log(`\nWhat each selection draws from, per class (mean): the clusters its images come from, the share of the class's images those clusters hold, and the teacher's log p(true class) of its images (all ${draws.allLogP.toFixed(2)})`);
  for (const d of draws.rows) console.log(`IPC ${d.ipc} ${d.name.padEnd(11)} ${d.clusters.toFixed(1)} of ${d.k.toFixed(0)} clusters, ${(100 * d.share).toFixed(0)} % of the images, log p ${d.logP.toFixed(2)}${d.shared === undefined ? '' : `, ${d.shared} of ${d.images} images also in the classifier-scored set`}`);
  console.log(`Within a class, the Spearman correlation of the pack's score with the teacher's log p(true class): ${draws.scoreVsTeacher.toFixed(2)}`);
  console.log(JSON.stringify({ pack: PACK, classify, runs, draws, timings }));
}

interface Draw {
  ipc: number;
  name: string;
  images: number;
  clusters: number;
  k: number;
  share: number;
  logP: number;
  shared?: number;
}

/**
 * Why a selection trains students as it does: both scored selections share the pack's clusters (only
 * the scorer's ranking of them differs) and take the images nearest each top cluster's centroid; a
 * random draw spreads over all of them. The teacher's log p(true class) says how easy the picks are.
 */
async function describeDraws(): Promise<{ allLogP: number; scoreVsTeacher: number; rows: Draw[] }> {
  const logP = new Map<string, number>();
  const teacherStore = ScoreStore.open(join(OUT, 'classifier', 'store'), { readOnly: true });
  for (const s of teacherStore.samples()) logP.set(s.key, Math.max(...s.patches.map((p) => p.score)));
  await teacherStore.close();
  const store = ScoreStore.open(join(OUT, 'ddps', 'store'), { readOnly: true });
  // Each patch's cluster comes from the store's ranking, so a random draw (whose cells name none) is placed too.
  const clusterOf = new Map<string, number>();
  const classes = new Map<number, { k: number; images: number; size: Map<number, number> }>();
  const scored = new Map<number, Array<{ score: number; logP: number }>>();
  for (const s of store.samples()) {
    const teacher = logP.get(s.key);
    if (teacher === undefined || s.patches.length === 0) continue;
    if (!scored.has(s.cls)) scored.set(s.cls, []);
    scored.get(s.cls)!.push({ score: Math.max(...s.patches.map((p) => p.score)), logP: teacher });
  }
  for (const cls of store.counts().perClass.keys()) {
    const r = store.getRankingColumns(cls);
    if (r === undefined) continue;
    const size = new Map<number, number>();
    for (let i = 0; i < r.count; i++) {
      size.set(r.cluster[i], (size.get(r.cluster[i]) ?? 0) + 1);
      clusterOf.set(patchKey({ key: r.keys[r.sample[i]]!, index: r.index[i]! }), r.cluster[i]!);
    }
    classes.set(cls, { k: r.k, images: r.count, size });
  }
  await store.close();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
  const rows: Draw[] = [];
  for (const ipc of IPCS) {
    const sets: Record<string, string> = {
      ddps: join(OUT, 'ddps', `ipc${ipc}`),
      classifier: join(OUT, 'classifier', `ipc${ipc}`),
      random: join(OUT, 'ddps', `ipc${ipc}`, 'eval-cifar10-conv3', 'random-s0'),
    };
    const picks: Record<string, Pick[]> = {};
    for (const [name, dir] of Object.entries(sets)) if (existsSync(join(dir, 'manifest.json'))) picks[name] = await picksOf(dir);
    const classifierKeys = new Set((picks.classifier ?? []).map((p) => p.source));
    for (const [name, list] of Object.entries(picks)) {
      const perClass = [...classes].map(([cls, c]) => {
        const drawn = new Set(
          list
            .filter((p) => p.cls === cls)
            .map((p) => {
              const cluster = clusterOf.get(patchKey({ key: p.source, index: p.index }));
              if (cluster === undefined) throw new Error(`${sets[name]}: ${p.source}#${p.index} is not in ${store.dir}'s clusters`);
              return cluster;
            }),
        );
        return { clusters: drawn.size, k: c.k, share: [...drawn].reduce((a, k) => a + (c.size.get(k) ?? 0), 0) / c.images };
      });
      rows.push({
        ipc,
        name,
        images: list.length,
        clusters: mean(perClass.map((c) => c.clusters)),
        k: mean(perClass.map((c) => c.k)),
        share: mean(perClass.map((c) => c.share)),
        logP: mean(list.map((p) => logP.get(p.source)).filter((v): v is number => v !== undefined)),
        ...(name === 'ddps' ? { shared: list.filter((p) => classifierKeys.has(p.source)).length } : {}),
      });
    }
  }
  // Does the pack's score order a class's images as the teacher's confidence does?
  const scoreVsTeacher = mean([...scored.values()].map((xs) => spearman(xs.map((x) => x.score), xs.map((x) => x.logP))));
  return { allLogP: mean([...logP.values()]), scoreVsTeacher, rows };
}

/** Spearman's rank correlation; ties (rare among float scores) are ranked in order. */
function spearman(a: readonly number[], b: readonly number[]): number {
  const ranks = (xs: readonly number[]) => {
    const r = new Array<number>(xs.length);
    xs.map((v, i) => [v, i] as const)
      .sort((x, y) => x[0] - y[0])
      .forEach(([, i], k) => (r[i] = k));
    return r;
  };
  const [ra, rb] = [ranks(a), ranks(b)];
  const m = (a.length - 1) / 2;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < a.length; i++) {
    cov += (ra[i]! - m) * (rb[i]! - m);
    va += (ra[i]! - m) ** 2;
    vb += (rb[i]! - m) ** 2;
  }
  return cov / Math.sqrt(va * vb);
}

interface Pick {
  source: string;
  index: number;
  cls: number;
}

/** The source patch and class of each cell of a distilled folder's images. */
async function picksOf(dir: string): Promise<Pick[]> {
  const manifest = await readManifest(dir);
  const out: Pick[] = [];
  for await (const s of readSamples(manifest.shards.map((f) => join(dir, f)))) {
    const provenance = parseProvenance(s);
    const cls = sampleClass(s) ?? provenance.class;
    for (const c of provenance.cells) out.push({ source: c.source, index: c.index, cls });
  }
  return out;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
