/**
 * New images arrive: score only them into the existing store, fold their patches into the existing
 * clusters (re-clustering a class only when it grew past the threshold), and select again. Old images
 * are never scored twice.
 *
 *   node dist/examples/incremental.js
 */
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureToyWorld, loadClassMap, Pack, rankStore, resolveScoreConfig, runScore, ScoreStore, selectFromStore, updateRanks, writeToyDataset } from 'ddps';

export async function main(opts: { newPerClass?: number; threshold?: number } = {}) {
  const world = await ensureToyWorld();
  const classes = await loadClassMap(world.classes);
  const config = resolveScoreConfig({ imageSize: 128, patchSize: 56, timesteps: 4, patchesPerImage: 2 });
  const pack = await Pack.load(world.pack, { dift: true });
  const store = ScoreStore.open(mkdtempSync(join(tmpdir(), 'ddps-incremental-')), { config: { ...config, classes: classes.names }, pack: { name: pack.identity.name, digest: pack.identity.digest } });
  const score = (shards: string[]) => runScore({ shards, model: pack, store, config, labels: classes.names, classMap: classes });

  // Day 1: score the dataset, cluster and rank once, select a budget.
  const first = await score(world.shards);
  await rankStore(store, { clusters: 32, seed: 0 });
  const before = selectFromStore(store, { ipc: 10 });

  // Day 2: new images arrive as a new shard. Re-running over old + new scores only the new ones.
  const extra = await writeToyDataset(mkdtempSync(join(tmpdir(), 'ddps-new-shard-')), { split: 'extra', perClass: opts.newPerClass ?? 2, shards: 1 });
  const second = await score([...world.shards, ...extra.shards]);
  const ranks = await updateRanks(store, { threshold: opts.threshold ?? 0.2 });
  const after = selectFromStore(store, { ipc: 10 });

  await store.close();
  await pack.close();
  return { firstScored: first.scored, newScored: second.scored, ranks, before, after };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then((r) => {
    console.log(`day 1: scored ${r.firstScored} images, selected ${r.before.reduce((a, s) => a + s.patches.length, 0)} patches for IPC 10`);
    console.log(`day 2: scored only the ${r.newScored} new images; classes folded in incrementally: ${r.ranks.incremental.join(', ') || 'none'}; re-clustered: ${r.ranks.reclustered.join(', ') || 'none'}`);
  });
}
