/** The one-step property: one scoring pass serves every budget and class subset, and selecting runs no model. */
import test from 'ava';
import { Pack } from '../models/pack.js';
import { sessionsCreated } from '../models/runtime.js';
import { selectBudgets } from '../pipelines/distill.js';
import { runScore } from '../pipelines/score.js';
import { resolveScoreConfig } from '../core/config.js';
import { ScoreStore } from '../storage/store/index.js';
import { loadClassMap, readSamples } from '../storage/webdataset/index.js';
import { tempDir } from './helpers/paths.js';
import { TOY_SCORE, toyWorld } from './helpers/toyWorld.js';

async function imagesIn(dir: string, shards: string[]): Promise<Map<number, number>> {
  const perClass = new Map<number, number>();
  for (const s of shards) {
    for await (const sample of readSamples(`${dir}/${s}`)) {
      const cls = Number(String(sample.cls));
      perClass.set(cls, (perClass.get(cls) ?? 0) + 1);
    }
  }
  return perClass;
}

test('IPC 1, 10 and 50 for all classes and for a 3-class subset, from one scored store, without loading a model', async (t) => {
  const world = await toyWorld();
  const classes = await loadClassMap(world.classes);
  // 12 images x 5 candidates = 60 patches per class: enough for IPC 50 singles and IPC 10 mosaics.
  const config = resolveScoreConfig({ ...TOY_SCORE, patchesPerImage: 5 });
  const storeDir = tempDir('ddps-onestep-');
  const pack = await Pack.load(world.pack, { dift: true, intraOpThreads: 1 });
  const store = ScoreStore.open(storeDir, { config: { ...config, classes: classes.names }, pack: { name: pack.identity.name, digest: pack.identity.digest } });
  await runScore({ shards: world.shards, model: pack, store, config, labels: classes.names, classMap: classes });
  await store.close();
  await pack.close();

  const sessions = sessionsCreated();
  const out = tempDir('ddps-budgets-');
  const all = await selectBudgets({ storeDir, ipcs: [1, 10, 50], out, outputSize: 64 });
  const subset = await selectBudgets({ storeDir, ipcs: [1, 10, 50], out: `${out}-subset`, classes: [0, 3, 5], outputSize: 64 });
  t.is(sessionsCreated(), sessions, 'selection created no ONNX session');
  t.deepEqual(all.ranks.reclustered.sort(), [0, 1, 2, 3, 4, 5]);
  t.deepEqual(subset.ranks.reclustered, [], 'the second selection reuses the stored ranking');

  for (const [result, expected] of [[all, [0, 1, 2, 3, 4, 5]], [subset, [0, 3, 5]]] as const) {
    for (const b of result.budgets) {
      t.is(b.manifest.images, b.ipc * expected.length, `IPC ${b.ipc}`);
      t.is(b.manifest.mosaic, b.ipc <= 10);
      const counts = await imagesIn(b.dir, b.manifest.shards);
      t.deepEqual([...counts.keys()].sort(), [...expected]);
      for (const n of counts.values()) t.is(n, b.ipc);
      for (const c of Object.values(b.manifest.classes)) t.false(c.short);
    }
  }
});
