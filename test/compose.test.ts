/**
 * Operators composed by hand with their defaults are right for an SD UNet: resize aligns to 64, batch
 * never mixes sizes, and the model operators also accept a micro-batch that does; a window smaller
 * than a batch cannot stall it.
 */
import test from 'ava';
import { join } from 'node:path';
import { bufferCount, from, lastValueFrom, map, type OperatorFunction, toArray } from 'rxjs';
import { resolveScoreConfig } from '../core/config.js';
import { UNET_ALIGN } from '../core/geometry.js';
import type { DiffusionModel } from '../models/diffusion.js';
import { Pack } from '../models/pack.js';
import { batch } from '../operators/batch.js';
import { decode } from '../operators/decode.js';
import { Flow } from '../operators/flow.js';
import { mapOrdered } from '../operators/mapOrdered.js';
import { readShards } from '../operators/readShards.js';
import { resize } from '../operators/resize.js';
import type { Prepared } from '../operators/types.js';
import { runScore } from '../pipelines/score.js';
import { ScoreStore } from '../storage/store/index.js';
import { loadClassMap, readSamples, ShardWriter } from '../storage/webdataset/index.js';
import { writeToyDataset } from '../toy/toyData.js';
import { digest, dumpStore } from './fixtures/scoreStoreSamples.js';
import { needs } from './helpers/needs.js';
import { TINY_SD, tempDir } from './helpers/paths.js';
import { modelStages } from './helpers/stages.js';
import { TOY_SCORE, toyWorld } from './helpers/toyWorld.js';

process.env.DDPS_CACHE ??= tempDir('ddps-cache-');

const config = resolveScoreConfig({ ...TOY_SCORE, patchesPerImage: 2 });

/**
 * Toy images of three sizes interleaved in one shard: at imageSize 128 they resize to 128x128,
 * 256x128 and 128x192 on the UNet's grid (128x208 on the 8-pixel latent grid, which an SD UNet rejects).
 */
let mixed: Promise<{ shard: string; classes: string }> | undefined;
function mixedSizes(): Promise<{ shard: string; classes: string }> {
  mixed ??= (async () => {
    const sizes = [[128, 128], [300, 150], [150, 250]] as const;
    const parts = await Promise.all(sizes.map(([width, height], i) => writeToyDataset(tempDir('ddps-size-'), { perClass: 4, shards: 1, width, height, split: `s${i}` })));
    const readers = parts.map((p) => readSamples(p.shards)[Symbol.asyncIterator]());
    const writer = new ShardWriter(join(tempDir('ddps-mixed-'), 'mixed-%06d.tar'));
    for (let live = readers.length; live > 0; ) {
      live = 0;
      for (const r of readers) {
        const next = await r.next();
        if (next.done) continue;
        live++;
        const { __url__: _url, ...sample } = next.value;
        await writer.write(sample);
      }
    }
    const [shard] = await writer.close();
    return { shard: shard!, classes: parts[0]!.classesPath };
  })();
  return mixed;
}

function openStore(model: DiffusionModel): ScoreStore {
  return ScoreStore.open(tempDir('ddps-compose-store-'), { config, pack: { name: model.identity.name, digest: model.identity.digest } });
}

function dumpOf(store: ScoreStore): string {
  return digest(dumpStore(store));
}

/** readShards -> ... -> toStore with every operator's defaults, micro-batched by `batching`. */
async function byHand(model: DiffusionModel, store: ScoreStore, shard: string, classes: string, batching: OperatorFunction<Prepared, Prepared[]> = batch()): Promise<number> {
  const classMap = await loadClassMap(classes);
  const labels = classMap.names;
  const prepared = readShards(shard, { classMap }).pipe(decode(), resize({ imageSize: config.imageSize }), batching);
  return (await lastValueFrom(prepared.pipe(modelStages(model, store, config, labels), toArray()))).length;
}

needs('shared')('tiny-sd (a real SD UNet layout): stages composed by hand with their defaults give the same store as scoreSamples, on images of three sizes', async (t) => {
  const { shard, classes } = await mixedSizes();
  const classMap = await loadClassMap(classes);
  const pack = await Pack.load(TINY_SD, { dift: true, intraOpThreads: 1 });
  const piped = openStore(pack);
  const manual = openStore(pack);
  try {
    const summary = await runScore({ shards: shard, model: pack, store: piped, config, labels: classMap.names, classMap });
    t.is(summary.scored, 72);
    t.deepEqual(summary.skipped, []);
    t.is(await byHand(pack, manual, shard, classes), 72);
    const sizes = new Set([...manual.samples()].map((s) => `${s.transform.width}x${s.transform.height}`));
    t.deepEqual([...sizes].sort(), ['128x128', '128x192', '256x128']);
    for (const s of manual.samples()) t.true(s.transform.width % UNET_ALIGN === 0 && s.transform.height % UNET_ALIGN === 0, s.key);
    t.is(dumpOf(manual), dumpOf(piped));
  } finally {
    await piped.close();
    await manual.close();
    await pack.close();
  }
});

test('the model operators accept a micro-batch that mixes sizes (bufferCount): one call per size, the same store as batch()', async (t) => {
  const { shard, classes } = await mixedSizes();
  const world = await toyWorld();
  const pack = await Pack.load(world.pack, { dift: true, intraOpThreads: 1 });
  const shapes: string[] = [];
  const recording: DiffusionModel = Object.assign(Object.create(pack) as DiffusionModel, {
    encodeImages: (pixels: Float32Array, n: number, h: number, w: number) => {
      shapes.push(`${w}x${h}`);
      return pack.encodeImages(pixels, n, h, w);
    },
  });
  const a = openStore(pack);
  const b = openStore(pack);
  try {
    t.is(await byHand(pack, a, shard, classes), 72);
    t.is(await byHand(recording, b, shard, classes, bufferCount(3)), 72);
    // Consecutive samples have three different sizes, so every bufferCount(3) batch made three VAE
    // calls for the images (DIFT's crops are encoded apart, at 64x64).
    t.is(shapes.filter((s) => s !== '64x64').length, 72);
    t.is(dumpOf(b), dumpOf(a));
  } finally {
    await a.close();
    await b.close();
    await pack.close();
  }
});

test('batch() groups by resized size by default, and gives up a partial batch when the window is smaller than the batch', async (t) => {
  const item = (key: string, width: number, height: number) => ({ key, transform: { scale: 1, offsetX: 0, offsetY: 0, width, height } });
  const groups = await lastValueFrom(
    from([item('a', 64, 64), item('b', 128, 64), item('c', 64, 64), item('d', 128, 64), item('e', 64, 64)]).pipe(
      batch(2),
      map((g) => g.map((i) => i.key).join('')),
      toArray(),
    ),
  );
  t.deepEqual(groups, ['ac', 'bd', 'e']);

  // Window 2, batch 4: without giving up partial batches the source would wait forever for room.
  const { shard } = await mixedSizes();
  const flow = new Flow(2);
  const sizes = await lastValueFrom(
    readShards(shard, { flow }).pipe(
      batch(4, () => 'one key'),
      mapOrdered(async (g) => g.length, 1),
      toArray(),
    ),
  );
  t.is(sizes.reduce((a, b) => a + b, 0), 72);
  t.true(sizes.every((n) => n <= 2));
  t.is(flow.peak, 2);
});
