/**
 * A scoring pipeline composed by hand from ddps operators, with steps of your own spliced in, then a
 * selection from the store. This is the README's "Composing your own pipeline"; it imports only
 * 'ddps' and RxJS, as your code would, and plain RxJS operators need no care: a filtered-out sample
 * frees its place in the read-ahead window by itself.
 *
 *   node dist/examples/customPipeline.js            # runs on the toy world
 */
import { concatAll, filter, lastValueFrom, mergeMap, toArray } from 'rxjs';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Decoded,
  Pack,
  ScoreStore,
  batch,
  decode,
  dift,
  encodeLatent,
  ensureToyWorld,
  loadClassMap,
  lossDiff,
  patchScore,
  rankStore,
  readShards,
  resize,
  resolveScoreConfig,
  selectFromStore,
  toStore,
} from 'ddps';

/** Mean brightness of an RGB image in [0, 255]. */
function brightness(img: Decoded): number {
  let sum = 0;
  for (let i = 0; i < img.rgb.length; i++) sum += img.rgb[i]!;
  return sum / img.rgb.length;
}

/** Stands in for an asynchronous step of yours, such as a call to another service. */
async function tag(img: Decoded): Promise<Decoded & { tag: string }> {
  await new Promise((resolve) => setImmediate(resolve));
  return { ...img, tag: img.width > img.height ? 'landscape' : 'portrait or square' };
}

export async function main(opts: { minBrightness?: number; storeDir?: string; ipc?: number } = {}) {
  const world = await ensureToyWorld();
  const classes = await loadClassMap(world.classes);
  const config = resolveScoreConfig({ imageSize: 128, patchSize: 56, timesteps: 4 });
  const pack = await Pack.load(world.pack, { dift: true });
  const store = ScoreStore.open(opts.storeDir ?? mkdtempSync(join(tmpdir(), 'ddps-example-')), {
    config: { ...config, classes: classes.names },
    pack: { name: pack.identity.name, digest: pack.identity.digest },
  });
  const minBrightness = opts.minBrightness ?? 120;
  let dropped = 0;
  const keep = (img: Decoded): boolean => {
    if (brightness(img) >= minBrightness) return true;
    dropped++;
    return false;
  };
  const labels = classes.names;
  const ipc = opts.ipc ?? 2;

  // README: begin
  const prepared = readShards(world.shards, { classMap: classes }).pipe(
    decode(),
    filter(keep), // your step: dim images never reach the model
    mergeMap(tag, 2), // your asynchronous step, with its own concurrency
    resize({ imageSize: config.imageSize }),
    batch(4),
  );
  const stored = await lastValueFrom(
    prepared.pipe(
      encodeLatent(pack),
      lossDiff(pack, { config, labels }),
      patchScore(config),
      dift(pack, { config, labels }),
      toStore(store),
      concatAll(),
      toArray(),
    ),
  );
  await rankStore(store, { clusters: 8 });
  const selection = selectFromStore(store, { ipc });
  // README: end

  const counts = store.counts();
  await store.close();
  await pack.close();
  return {
    stored: stored.length,
    dropped,
    samples: counts.samples,
    selected: selection.map((s) => ({ cls: s.cls, patches: s.patches.length, needed: s.needed, keys: s.patches.map((p) => p.key) })),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then((r) => console.log(JSON.stringify(r)));
}
