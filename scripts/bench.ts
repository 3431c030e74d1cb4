/**
 * `npm run bench`: measures, in one process on the same data, what the README and the closing notes
 * quote. Not part of `npm test`. Prints a table and, last, one JSON line.
 *
 *   - scoring throughput on Imagenette shards with the tiny-sd fixture and with the toy pack, 1 and 2 workers
 *   - efficiency: pipeline samples/s over the samples/s of the bare model calls with the same batches
 *   - busy time per stage; UNet passes per image
 *   - peak RSS scoring 5 shards over 1 shard (separate processes)
 *   - selection latency for IPC 10/50/100 over all classes
 *   - Gaussian noise throughput; time to draw 60 toy images
 *   - scale-out through the queue (benchQueue.ts): 1 worker vs direct, 2 workers vs 1
 *   - at ImageNet-1K scale on a synthetic store (benchImagenet.ts): ranking, selection, rendering, the report
 *
 * `--imagenet-only` runs the last part alone (it needs no ../shared).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gaussianNoise } from '../models/noise.js';
import { PackPool } from '../models/packPool.js';
import { ensureToyWorld } from '../toy/index.js';
import { TOY_CLASSES } from '../toy/classes.js';
import { drawToyImage } from '../toy/toyData.js';
import { runScore, type ScoreSummary } from '../pipelines/score.js';
import { resolveScoreConfig, type ScoreConfig } from '../core/config.js';
import { ScoreStore } from '../storage/store/index.js';
import { expandShards, loadClassMap } from '../storage/webdataset/index.js';
import { timestepGrid } from '../models/schedule.js';
import { rankStore, selectFromStore } from '../pipelines/rank.js';
import { benchImagenet } from './benchImagenet.js';
import { queueBench } from './benchQueue.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env.DDPS_SHARED ?? resolve(REPO, '../shared');
const IMAGENETTE = join(SHARED, 'data/imagenette');
const TINY_SD = join(SHARED, 'fixtures/tiny-sd');
const BATCH = 4;
const tmp = mkdtempSync(join(tmpdir(), 'ddps-bench-'));

const imagenetOnly = process.argv.includes('--imagenet-only');
if (!imagenetOnly && !existsSync(IMAGENETTE)) {
  console.error(`bench needs the Imagenette shards at ${IMAGENETTE} (set DDPS_SHARED), or run it with --imagenet-only`);
  process.exit(2);
}

async function scoreRun(pack: string, workers: number, config: ScoreConfig, shards: string): Promise<ScoreSummary & { storeDir: string; pack: { name: string; digest: string } }> {
  const classMap = await loadClassMap(join(IMAGENETTE, 'classes.json'));
  const model = await PackPool.open(pack, { workers, dift: true });
  const storeDir = mkdtempSync(join(tmp, 'store-'));
  const store = ScoreStore.open(storeDir, { config, pack: { name: model.identity.name, digest: model.identity.digest } });
  const summary = await runScore({ shards: await expandShards(shards), model, store, config, labels: classMap.names, classMap, batchSize: BATCH, concurrency: workers });
  await store.close();
  await model.close();
  return { ...summary, storeDir, pack: { name: model.identity.name, digest: model.identity.digest } };
}

/** The same model calls the pipeline makes for n images (crop-mode DIFT, one patch each), on synthetic inputs. */
async function bareCalls(pack: string, n: number, config: ScoreConfig): Promise<number> {
  const model = await PackPool.open(pack, { workers: 1, dift: true });
  const side = config.imageSize;
  const lat = side / 8;
  const crop = Math.ceil(config.patchSize / 64) * 64;
  const ctx = await model.textEmbedding('An image of tench.');
  const ts = timestepGrid(config.timesteps, config.tRange);
  const pixels = gaussianNoise(0, 'bench', 0, BATCH * 3 * side * side).map((v) => Math.tanh(v));
  const cropPixels = pixels.subarray(0, BATCH * 3 * crop * crop);
  const t0 = performance.now();
  for (let done = 0; done < n; done += BATCH) {
    const z = await model.encodeImages(pixels, BATCH, side, side);
    const zt = new Float32Array(2 * z.length);
    zt.set(z);
    zt.set(z, z.length);
    await Promise.all(ts.map((t) => model.predictNoise(zt, 2 * BATCH, lat, lat, new Array<number>(2 * BATCH).fill(t), new Array(2 * BATCH).fill(ctx))));
    const zc = await model.encodeImages(cropPixels, BATCH, crop, crop);
    await model.predictNoise(zc, BATCH, crop / 8, crop / 8, new Array<number>(BATCH).fill(config.diftTimestep), new Array(BATCH).fill(ctx), true);
  }
  const seconds = (performance.now() - t0) / 1000;
  await model.close();
  return n / seconds;
}

function rssOf(pack: string, shards: string, config: Partial<ScoreConfig>): { maxRssMB: number; scored: number } {
  const out = execFileSync(process.execPath, [join(REPO, 'dist/scripts/scoreChild.js'), JSON.stringify({ shards, pack, store: mkdtempSync(join(tmp, 'rss-')), classes: join(IMAGENETTE, 'classes.json'), workers: 1, batchSize: BATCH, config })], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').pop()!) as { maxRssMB: number; scored: number };
}

const rows: [string, string][] = [];
const row = (k: string, v: string): void => {
  rows.push([k, v]);
  console.log(`${k.padEnd(48)} ${v}`);
};

/** Scoring, memory and selection on Imagenette with the tiny-sd fixture and the toy pack. */
async function scoringBench(): Promise<Record<string, unknown>> {
  // Small kernels the pipeline leans on (figures once asserted in tests; a rate is not a test).
  const noiseN = 4 * 64 * 64;
  const noiseOut = new Float32Array(noiseN);
  let noiseRate = 0;
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now();
    for (let i = 0; i < 300; i++) gaussianNoise(round, `sample-${i}`, i % 8, noiseN, noiseOut);
    noiseRate = Math.max(noiseRate, (300 * noiseN) / ((performance.now() - t0) / 1000));
  }
  row('Gaussian noise: numbers/s (best of 3)', `${(noiseRate / 1e6).toFixed(1)}M`);
  const drawStart = performance.now();
  for (let i = 0; i < 60; i++) drawToyImage({ seed: 11, index: i, cls: i % TOY_CLASSES.length });
  const toyDrawMs = performance.now() - drawStart;
  row('toy world: 60 images drawn', `${toyDrawMs.toFixed(0)} ms`);

  const toy = await ensureToyWorld();
  const tinyConfig = resolveScoreConfig({ limitPerClass: 3 });
  const toyConfig = resolveScoreConfig({});
  const oneShard = join(IMAGENETTE, 'train-000000.tar');

  const tiny1 = await scoreRun(TINY_SD, 1, tinyConfig, oneShard);
  row('tiny-sd, 1 worker: samples/s', `${(tiny1.scored / tiny1.seconds).toFixed(2)} (${tiny1.scored} samples)`);
  const tiny2 = await scoreRun(TINY_SD, 2, tinyConfig, oneShard);
  row('tiny-sd, 2 workers: samples/s', `${(tiny2.scored / tiny2.seconds).toFixed(2)}`);
  const bare = await bareCalls(TINY_SD, tiny1.scored, tinyConfig);
  const efficiency = tiny1.scored / tiny1.seconds / bare;
  row('tiny-sd, bare model calls (1 worker): samples/s', bare.toFixed(2));
  row('efficiency (pipeline / bare), tiny-sd, 1 worker', efficiency.toFixed(3));
  const unetPassesPerImage = tiny1.unetPasses / tiny1.scored;
  row('UNet passes per image', unetPassesPerImage.toFixed(2));
  for (const [stage, v] of Object.entries(tiny1.stages).sort((a, b) => b[1].ms - a[1].ms)) {
    row(`  busy ${stage} (tiny-sd, 1 worker)`, `${(v.ms / 1000).toFixed(2)} s, ${v.calls} calls`);
  }
  const toyLimited = resolveScoreConfig({ limitPerClass: 30 });
  const toy1 = await scoreRun(toy.pack, 1, toyLimited, oneShard);
  row('toy pack, 1 worker: samples/s', `${(toy1.scored / toy1.seconds).toFixed(2)} (${toy1.scored} samples)`);
  const toy2 = await scoreRun(toy.pack, 2, toyLimited, oneShard);
  row('toy pack, 2 workers: samples/s', (toy2.scored / toy2.seconds).toFixed(2));

  const rss1 = rssOf(toy.pack, oneShard, toyConfig);
  const rss5 = rssOf(toy.pack, join(IMAGENETTE, 'train-{000000..000004}.tar'), toyConfig);
  const rssRatio = rss5.maxRssMB / rss1.maxRssMB;
  row('peak RSS, 1 shard (toy pack)', `${rss1.maxRssMB.toFixed(0)} MB (${rss1.scored} samples)`);
  row('peak RSS, 5 shards (toy pack)', `${rss5.maxRssMB.toFixed(0)} MB (${rss5.scored} samples)`);
  row('peak RSS ratio 5/1', rssRatio.toFixed(3));

  // Selection: cluster the 5-shard store once, then time the budgets (no model, no session).
  const selConfig = resolveScoreConfig({ limitPerClass: 100, patchesPerImage: 2 });
  const selRun = await scoreRun(toy.pack, 1, selConfig, join(IMAGENETTE, 'train-{000000..000004}.tar'));
  const selStore = ScoreStore.open(selRun.storeDir, { config: selConfig, pack: selRun.pack });
  await rankStore(selStore, { clusters: 32, seed: 0 });
  const selectMs: Record<string, number> = {};
  for (const ipc of [10, 50, 100]) {
    const t0 = performance.now();
    selectFromStore(selStore, { ipc });
    selectMs[`ipc${ipc}`] = Math.round((performance.now() - t0) * 10) / 10;
    row(`select IPC ${ipc}, all classes (${selStore.counts().samples} images)`, `${selectMs[`ipc${ipc}`]} ms`);
  }
  await selStore.close();

  return { noiseNumbersPerSec: noiseRate, toyDrawMs, samplesPerSec: tiny1.scored / tiny1.seconds, samplesPerSec2Workers: tiny2.scored / tiny2.seconds, toySamplesPerSec: toy1.scored / toy1.seconds, toySamplesPerSec2Workers: toy2.scored / toy2.seconds, efficiency, rssRatio, rssMB: [rss1.maxRssMB, rss5.maxRssMB], selectMs, unetPassesPerImage, stages: tiny1.stages };
}

const scoring = imagenetOnly ? {} : await scoringBench();
const queue = imagenetOnly ? undefined : await queueBench(row);
const imagenet = await benchImagenet(row);
console.log(JSON.stringify({ ...scoring, ...(queue ? { queue } : {}), imagenet }));
