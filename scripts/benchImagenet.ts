/**
 * The bench at ImageNet-1K scale, on a synthetic store (scripts/synthStore.ts: no model runs):
 * cluster and rank every class, select IPC 10/50/100, render IPC 10 (and IPC 50 for a part of the
 * classes) in a child process to read its peak RSS, and write the report and open its index in
 * Chromium. The store is made once and kept (it is large: DDPS_BENCH_DIR, default
 * <tmp>/ddps-bench-imagenet); DDPS_BENCH_CLASSES makes a smaller one (figures then scale about
 * linearly with the classes).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MatMul } from '../models/matmul.js';
import { loadClassFeatures } from '../operators/classClusters.js';
import { kmeans } from '../operators/math/kmeans.js';
import { rankStore, selectFromStore } from '../pipelines/rank.js';
import { writeReport } from '../pipelines/report.js';
import { ScoreStore } from '../storage/store/index.js';
import { findChromium, loadedPage } from './chromium.js';
import { mlKMeansReference } from './mlKMeansReference.js';
import { ensureSyntheticStore } from './synthStore.js';

export interface ImagenetFigures {
  classes: number;
  patchesPerClass: number;
  dim: number;
  rankMs: number;
  /** One thread, the same classes: ml-kmeans (before) over the matrix-product k-means (after). */
  kmeansSpeedup: number;
  selectMs: { ipc10: number; ipc50: number; ipc100: number };
  materializeIpc10: { imagesPerSec: number; peakRssMB: number };
  report: { indexBytes: number; loadMs: number | null };
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const round = (v: number, digits = 1): number => Math.round(v * 10 ** digits) / 10 ** digits;

interface Rendered {
  images: number;
  classes: number;
  seconds: number;
  maxRssMB: number;
  anonPeakMB: number | null;
}

function materializeChild(args: { store: string; out: string; ipc: number; classes?: number[] }): Rendered {
  const out = execFileSync(process.execPath, [join(REPO, 'dist/scripts/materializeChild.js'), JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').pop()!) as Rendered;
}

const memory = (r: Rendered): string => `peak RSS ${r.maxRssMB.toFixed(0)} MB${r.anonPeakMB === null ? '' : ` (anonymous memory ${r.anonPeakMB.toFixed(0)} MB; the rest is the store's mapped pages)`}`;

function folderBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0);
}

/**
 * Before and after on the same classes, one thread each, in this process: ml-kmeans (what ddps ran
 * before) against kmeans on ONNX Runtime's MatMul, from the same k-means++ start. Milliseconds a class.
 */
export async function kmeansBeforeAfter(store: ScoreStore, classes: number[]): Promise<{ beforeMs: number; afterMs: number; same: boolean }> {
  const matmul = await MatMul.open();
  let beforeMs = 0;
  let afterMs = 0;
  let same = true;
  try {
    for (const cls of classes) {
      const { patches, dim, features } = loadClassFeatures(store, cls);
      const t0 = performance.now();
      const before = mlKMeansReference(features, patches.length, dim, 32, 0);
      const t1 = performance.now();
      const after = await kmeans(features, patches.length, dim, { k: 32, seed: 0, dots: (p, n, d, c, k) => matmul.dots(p, n, d, c, k) });
      afterMs += performance.now() - t1;
      beforeMs += t1 - t0;
      same &&= before.iterations === after.iterations && before.clusters.every((c, i) => c === after.clusters[i]);
    }
  } finally {
    matmul.release();
  }
  return { beforeMs: beforeMs / classes.length, afterMs: afterMs / classes.length, same };
}

export async function benchImagenet(row: (name: string, value: string) => void): Promise<ImagenetFigures> {
  const classes = Number(process.env.DDPS_BENCH_CLASSES ?? 1000);
  const dir = process.env.DDPS_BENCH_DIR ?? join(tmpdir(), 'ddps-bench-imagenet');
  const shape = { classes, samplesPerClass: 130, patchesPerSample: 10, dim: 1280 };
  const t0 = performance.now();
  const made = await ensureSyntheticStore({ out: dir, ...shape, onProgress: (n, total) => process.stderr.write(`\rsynthetic store: ${n}/${total} samples`) });
  row('imagenet: synthetic store', `${classes} classes x ${shape.samplesPerClass * shape.patchesPerSample} patches x ${shape.dim} dims (${((performance.now() - t0) / 1000).toFixed(0)} s to make or find)`);

  const probe = ScoreStore.open(made.storeDir, { readOnly: true });
  const { config, pack } = probe;
  await probe.close();
  const store = ScoreStore.open(made.storeDir, { config, pack });
  let rankMs: number;
  const selectMs = { ipc10: 0, ipc50: 0, ipc100: 0 };
  let kmeansSpeedup: number;
  try {
    const ba = await kmeansBeforeAfter(store, [0, 1, 2, 3, 4, 5, 6, 7]);
    kmeansSpeedup = round(ba.beforeMs / ba.afterMs, 2);
    row('imagenet: k-means of a class, one thread (8 classes)', `ml-kmeans (before) ${ba.beforeMs.toFixed(0)} ms, matrix product (after) ${ba.afterMs.toFixed(0)} ms: x${kmeansSpeedup}, same clusters: ${ba.same}`);
    const r0 = performance.now();
    const cpu0 = process.cpuUsage();
    const ranked = await rankStore(store, { clusters: 32, seed: 0 });
    rankMs = round(performance.now() - r0, 0);
    const iterations = ranked.reduce((n, s) => n + s.iterations, 0) / ranked.length;
    row('imagenet: rank all classes (K = 32)', `${(rankMs / 1000).toFixed(1)} s (${(rankMs / ranked.length).toFixed(0)} ms a class, ${iterations.toFixed(1)} Lloyd iterations on average, CPU time of all threads ${((process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1e6).toFixed(0)} s)`);
    for (const ipc of [10, 50, 100] as const) {
      const s0 = performance.now();
      const c0 = process.cpuUsage();
      const picked = selectFromStore(store, { ipc }).reduce((n, s) => n + s.patches.length, 0);
      const cpu = process.cpuUsage(c0);
      selectMs[`ipc${ipc}`] = round(performance.now() - s0);
      row(`imagenet: select IPC ${ipc}, all classes`, `${selectMs[`ipc${ipc}`]} ms (${picked} patches; CPU time ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms)`);
    }
  } finally {
    await store.close();
  }

  const ipc10 = join(dir, 'ipc10');
  const m10 = materializeChild({ store: made.storeDir, out: ipc10, ipc: 10 });
  const imagesPerSec = round(m10.images / m10.seconds, 2);
  row('imagenet: materialize IPC 10 (2x2 mosaics)', `${m10.images} images in ${m10.seconds.toFixed(0)} s: ${imagesPerSec} images/s, ${memory(m10)}`);
  const part = Array.from({ length: Math.min(classes, 200) }, (_, c) => c);
  const m50 = materializeChild({ store: made.storeDir, out: join(dir, 'ipc50'), ipc: 50, classes: part });
  rmSync(join(dir, 'ipc50'), { recursive: true, force: true });
  row(`imagenet: materialize IPC 50 (single patches), ${part.length} classes`, `${m50.images} images in ${m50.seconds.toFixed(0)} s: ${(m50.images / m50.seconds).toFixed(2)} images/s, ${memory(m50)}`);

  // The report with fewer pictures per class page than its defaults: the index is the same either way.
  const reportDir = join(dir, 'report');
  const p0 = performance.now();
  const summary = await writeReport({ store: made.storeDir, selection: ipc10, out: reportDir, maxSources: 8, clusterRows: 4, clusterThumbs: 6 });
  const indexBytes = statSync(summary.index).size;
  row('imagenet: report (8 sources, 4 x 6 cluster thumbnails a class)', `${summary.images} pictures, ${summary.classes} class pages in ${((performance.now() - p0) / 1000).toFixed(0)} s; ${(folderBytes(reportDir) / 2 ** 20).toFixed(0)} MB in all`);
  const indexPictures = readdirSync(join(reportDir, 'img'), { recursive: true }).filter((f) => String(f).includes('index-'));
  const pictureBytes = indexPictures.reduce((n, f) => n + statSync(join(reportDir, 'img', String(f))).size, 0);
  row('imagenet: report index page', `${(indexBytes / 1024).toFixed(0)} KiB of HTML (+ ${(pictureBytes / 1024).toFixed(0)} KiB of class pictures in ${indexPictures.length} sprite sheets)`);
  const browser = findChromium();
  let loadMs: number | null = null;
  if (browser === undefined) row('imagenet: report index in Chromium', 'no chromium on PATH: not measured');
  else {
    const page = await loadedPage(browser, summary.index);
    loadMs = Number(page['load-ms']);
    row('imagenet: report index in Chromium', `load event after ${loadMs} ms, images ok: ${page['images-ok']}`);
  }
  return {
    ...{ classes, patchesPerClass: shape.samplesPerClass * shape.patchesPerSample, dim: shape.dim },
    rankMs,
    kmeansSpeedup,
    selectMs,
    materializeIpc10: { imagesPerSec, peakRssMB: round(m10.maxRssMB, 0) },
    report: { indexBytes, loadMs },
  };
}
