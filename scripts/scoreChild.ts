/**
 * Scores shards into a fresh store in its own process and prints one JSON line with the run summary and
 * the process's peak RSS: the bench compares peaks for 1 and 5 shards.
 */
import { rmSync } from 'node:fs';
import { PackPool } from '../models/packPool.js';
import { runScore } from '../pipelines/score.js';
import { resolveScoreConfig, type ScoreConfig } from '../core/config.js';
import { ScoreStore } from '../storage/store/index.js';
import { expandShards, loadClassMap } from '../storage/webdataset/index.js';

interface ChildArgs {
  shards: string;
  pack: string;
  store: string;
  classes: string;
  workers: number;
  batchSize: number;
  config: Partial<ScoreConfig>;
}

const args = JSON.parse(process.argv[2]!) as ChildArgs;
rmSync(args.store, { recursive: true, force: true });
const config = resolveScoreConfig(args.config);
const classMap = await loadClassMap(args.classes);
const model = await PackPool.open(args.pack, { workers: args.workers, dift: true });
const store = ScoreStore.open(args.store, { config, pack: { name: model.identity.name, digest: model.identity.digest } });
const summary = await runScore({ shards: await expandShards(args.shards), model, store, config, labels: classMap.names, classMap, batchSize: args.batchSize, concurrency: args.workers });
await store.close();
await model.close();
console.log(JSON.stringify({ ...summary, skipped: summary.skipped.length, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
