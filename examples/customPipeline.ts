/**
 * A custom scoring pipeline composed from ddps operators, with your own step spliced in.
 *
 * Here the extra step drops dim images before the (expensive) diffusion model sees them. Any RxJS
 * operator fits; the one rule is that a step which DROPS a sample must release its ticket, so the
 * bounded window lets the next sample in (otherwise the source would eventually wait forever).
 *
 *   node dist/examples/customPipeline.js            # runs on the toy world
 */
import { filter, lastValueFrom, map, toArray } from 'rxjs';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pack } from '../models/pack.js';
import { ensureToyWorld } from '../toy/index.js';
import { batch, unbatch } from '../operators/batch.js';
import { decode } from '../operators/decode.js';
import { dift } from '../operators/dift.js';
import { encodeLatent } from '../operators/encodeLatent.js';
import { Flow, release } from '../operators/flow.js';
import { lossDiff } from '../operators/lossDiff.js';
import { patchScore } from '../operators/patchScore.js';
import { readShards } from '../operators/readShards.js';
import { resize } from '../operators/resize.js';
import { toStore } from '../operators/toStore.js';
import type { Decoded } from '../operators/types.js';
import { resolveScoreConfig } from '../core/config.js';
import { ScoreStore } from '../storage/store/index.js';
import { loadClassMap } from '../storage/webdataset/index.js';

/** Mean brightness of an RGB image in [0, 255]. */
function brightness(img: Decoded): number {
  let sum = 0;
  for (let i = 0; i < img.rgb.length; i++) sum += img.rgb[i]!;
  return sum / img.rgb.length;
}

export async function main(opts: { minBrightness?: number; storeDir?: string } = {}) {
  const world = await ensureToyWorld();
  const classes = await loadClassMap(world.classes);
  const config = resolveScoreConfig({ imageSize: 128, patchSize: 56, timesteps: 4 });
  const pack = await Pack.load(world.pack, { dift: true });
  const store = ScoreStore.open(opts.storeDir ?? mkdtempSync(join(tmpdir(), 'ddps-example-')), {
    config,
    pack: { name: pack.identity.name, digest: pack.identity.digest },
  });
  const minBrightness = opts.minBrightness ?? 120;
  let dropped = 0;

  const stored = await lastValueFrom(
    readShards(world.shards, { classMap: classes, flow: new Flow(32), isDone: (k) => store.has(k) }).pipe(
      decode(),
      // Your step: keep bright images only. Dropping a sample releases its place in the window.
      filter((img) => {
        const keep = brightness(img) >= minBrightness;
        if (!keep) {
          release(img);
          dropped++;
        }
        return keep;
      }),
      resize({ imageSize: config.imageSize }),
      batch(4, (it) => `${it.transform.width}x${it.transform.height}`),
    ).pipe(
      encodeLatent(pack),
      lossDiff(pack, { config, labels: classes.names }),
      patchScore(config),
      dift(pack, { config, labels: classes.names }),
      toStore(store),
      unbatch(),
      map((s) => s.key),
      toArray(),
    ),
  );
  const counts = store.counts();
  await store.close();
  await pack.close();
  return { stored: stored.length, dropped, samples: counts.samples };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then((r) => console.log(`stored ${r.stored} samples, dropped ${r.dropped} dim ones`));
}
