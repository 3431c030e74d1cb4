import { DdpsError } from '../../core/errors.js';
import type { MosaicMode } from '../../operators/math/mosaic.js';
import { parseClasses, selectBudgets, type BudgetsOptions, type BudgetsResult } from '../../pipelines/distill.js';
import { ScoreStore } from '../../storage/store/index.js';
import { flag, num, required, str, type OptionSpec, type Parsed } from '../args.js';
import type { Command } from '../command.js';

export const SELECT_OPTIONS: Record<string, OptionSpec> = {
  ipc: { type: 'string', value: 'N[,N...]', help: 'images per class; several budgets go to <out>/ipc<N>/', default: '10' },
  classes: { type: 'string', value: 'list', help: "a subset of classes: indices '0,3,7' or names 'tench,church' (default: all)" },
  out: { type: 'string', value: '<dir>', help: 'where the distilled shards and manifest.json go' },
  'top-clusters': { type: 'string', value: 'N', help: 'clusters a class draws its quota from (q = floor(P / N) each)', default: '10' },
  clusters: { type: 'string', value: 'K', help: 'k-means clusters per class, K = min(K, patches)', default: '32' },
  'output-size': { type: 'string', value: 'px', help: 'side of each distilled image', default: '224' },
  mosaic: { type: 'string', value: 'auto|on|off', help: '2x2 mosaics of patches (auto: for IPC <= 10, not for whole-image stores)', default: 'auto' },
  dedup: { type: 'string', value: 'cos', help: 'skip a patch whose DIFT feature is closer than this cosine to one already selected' },
  'recluster-threshold': { type: 'string', value: 'f', help: 're-cluster a class when its new patches pass this fraction', default: '0.2' },
  seed: { type: 'string', value: 'N', help: 'k-means seed', default: '0' },
  maxcount: { type: 'string', value: 'N', help: 'images per output shard' },
  maxsize: { type: 'string', value: 'bytes', help: 'bytes per output shard' },
};

export function budgetsFromArgs(args: Parsed, command: string, storeDir: string, names: readonly string[]): BudgetsOptions {
  const ipcs = (str(args, 'ipc') ?? '10').split(',').map((s) => Number(s.trim()));
  if (ipcs.some((n) => !Number.isInteger(n) || n < 1)) throw new DdpsError('BAD_ARGUMENT', `--ipc takes positive integers like 10 or 1,10,50; got '${str(args, 'ipc')}'`);
  const mosaic = (str(args, 'mosaic') ?? 'auto') as MosaicMode;
  if (!['auto', 'on', 'off'].includes(mosaic)) throw new DdpsError('BAD_ARGUMENT', `--mosaic must be auto, on or off; got '${mosaic}'`);
  const classes = str(args, 'classes');
  const dedup = num(args, 'dedup');
  const maxcount = num(args, 'maxcount', { integer: true, min: 1 });
  const maxsize = num(args, 'maxsize', { integer: true, min: 1 });
  return {
    storeDir,
    ipcs,
    out: required(args, 'out', command),
    mosaic,
    topClusters: num(args, 'top-clusters', { integer: true, min: 1 })!,
    clusters: num(args, 'clusters', { integer: true, min: 1 })!,
    outputSize: num(args, 'output-size', { integer: true, min: 2 })!,
    reclusterThreshold: num(args, 'recluster-threshold', { min: 0 })!,
    seed: num(args, 'seed', { integer: true })!,
    ...(classes ? { classes: parseClasses(classes, names) } : {}),
    ...(dedup !== undefined ? { dedup } : {}),
    ...(maxcount !== undefined ? { maxcount } : {}),
    ...(maxsize !== undefined ? { maxsize } : {}),
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

export const select: Command = {
  spec: {
    name: 'select',
    summary: 'Stages II-III: cluster, rank and select patches for any IPC and class subset, write distilled shards',
    usage: 'ddps select --store <dir> --ipc 10 --out <dir> [options]',
    options: { store: { type: 'string', value: '<dir>', help: 'a scored store (ddps score)' }, ...SELECT_OPTIONS, json: { type: 'boolean', help: 'print the manifests as JSON' } },
    notes: 'No model runs: selecting from a scored store takes well under a second per 1000 images.',
  },
  async run(args) {
    const storeDir = required(args, 'store', 'select');
    const probe = ScoreStore.open(storeDir, { readOnly: true });
    const names = (probe.config.classes as string[] | undefined) ?? [];
    await probe.close();
    const result = await selectBudgets(budgetsFromArgs(args, 'select', storeDir, names));
    if (flag(args, 'json')) console.log(JSON.stringify(result.budgets.map((b) => ({ ipc: b.ipc, dir: b.dir, selectMs: b.selectMs, manifest: b.manifest }))));
    else printBudgets(result);
    return 0;
  },
};
