import type { Command } from 'commander';
import { parseClasses, selectBudgets, type BudgetsOptions, type BudgetsResult } from '../../pipelines/distill.js';
import { ScoreStore } from '../../storage/store/index.js';
import { defineCommand, renamed, type Values } from '../define.js';
import { opt } from '../options.js';

/** The options `ddps select` and `ddps distill` share: Stages II-III and where the shards go. */
export const SELECT_OPTIONS = {
  ipc: opt.ipc,
  classes: opt.classes,
  topClusters: opt.topClusters,
  clusters: opt.clusters,
  clusterSeed: opt.clusterSeed,
  reclusterThreshold: opt.reclusterThreshold,
  mosaic: opt.mosaic,
  dedup: opt.dedup,
  outputSize: opt.outputSize,
  maxcount: opt.maxcount,
  maxsize: opt.maxsize,
  out: opt.out.required(),
};

export type SelectOptions = Values<typeof SELECT_OPTIONS>;

export function budgetsFrom(o: SelectOptions, storeDir: string, names: readonly string[]): BudgetsOptions {
  return {
    storeDir,
    ipcs: o.ipc,
    out: o.out,
    mosaic: o.mosaic,
    topClusters: o.topClusters,
    clusters: o.clusters,
    outputSize: o.outputSize,
    reclusterThreshold: o.reclusterThreshold,
    seed: o.clusterSeed,
    ...(o.classes !== undefined ? { classes: parseClasses(o.classes, names) } : {}),
    ...(o.dedup !== undefined ? { dedup: o.dedup } : {}),
    ...(o.maxcount !== undefined ? { maxcount: o.maxcount } : {}),
    ...(o.maxsize !== undefined ? { maxsize: o.maxsize } : {}),
  };
}

export function printBudgets(r: BudgetsResult): void {
  const { incremental, reclustered } = r.ranks;
  if (reclustered.length) console.log(`clustered from scratch: ${reclustered.length} classes`);
  if (incremental.length) console.log(`new patches folded into existing clusters: ${incremental.length} classes`);
  for (const b of r.budgets) {
    const short = Object.entries(b.manifest.classes).filter(([, c]) => c.short);
    console.log(`IPC ${b.ipc}: ${b.manifest.images} images (${b.manifest.mosaic ? '2x2 mosaics' : 'single patches'}) in ${b.dir}, selected in ${b.selectMs.toFixed(1)} ms`);
    for (const [cls, c] of short) console.log(`  class ${cls} (${c.name}) had ${c.patches} of the ${c.needed} patches it needs: raise --patches-per-image or score more images`);
  }
}

export const selectCommand = (): Command =>
  defineCommand({
    name: 'select',
    summary: 'Stages II-III: cluster, rank and select patches for any IPC and class subset, write distilled shards',
    description:
      'Stages II-III: cluster, rank and select patches for any IPC and class subset, and write the distilled ' +
      'shards and manifest.json. No model runs: selecting from a scored store takes well under a second per ' +
      '1000 images.',
    options: { store: opt.store.required(), ...SELECT_OPTIONS, json: opt.json },
    adjust: [renamed('--seed <n>', ['clusterSeed'])],
    async action(o) {
      const probe = ScoreStore.open(o.store, { readOnly: true });
      const names = (probe.config.classes as string[] | undefined) ?? [];
      await probe.close();
      const result = await selectBudgets(budgetsFrom(o, o.store, names));
      if (o.json) console.log(JSON.stringify(result.budgets.map((b) => ({ ipc: b.ipc, dir: b.dir, selectMs: b.selectMs, manifest: b.manifest }))));
      else printBudgets(result);
    },
  });
