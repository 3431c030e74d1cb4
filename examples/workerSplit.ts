/**
 * Streaming WebDataset shards split across workers (or machines): each worker reads only its share of
 * the shards (webdataset's `urls[rank::worldSize]`) into its own store. Shards are read one sample at a
 * time; nothing holds a whole shard in memory.
 *
 *   node dist/examples/workerSplit.js               # 2 workers on the toy world, one after the other
 */
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureToyWorld, loadClassMap, PackPool, resolveScoreConfig, runScore, ScoreStore, splitShards } from 'ddps';

export async function scoreShare(rank: number, worldSize: number, storeDir: string) {
  const world = await ensureToyWorld();
  const mine = splitShards(world.shards, { rank, worldSize });
  const classes = await loadClassMap(world.classes);
  const config = resolveScoreConfig({ imageSize: 128, patchSize: 56, timesteps: 4 });
  const model = await PackPool.open(world.pack, { workers: 1, dift: true });
  const store = ScoreStore.open(storeDir, { config, pack: { name: model.identity.name, digest: model.identity.digest } });
  const summary = await runScore({ shards: mine, model, store, config, labels: classes.names, classMap: classes });
  await store.close();
  await model.close();
  return { rank, shards: mine, scored: summary.scored };
}

export async function main(worldSize = 2) {
  const results = [];
  for (let rank = 0; rank < worldSize; rank++) {
    results.push(await scoreShare(rank, worldSize, mkdtempSync(join(tmpdir(), `ddps-rank${rank}-`))));
  }
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then((r) => r.forEach((x) => console.log(`rank ${x.rank}: ${x.scored} samples from ${x.shards.join(', ')}`)));
}
