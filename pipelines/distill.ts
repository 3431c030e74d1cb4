/**
 * Stages II-III for several budgets from one scored store: bring the clusters up to date (cluster new
 * classes, fold new patches in, re-cluster a class that grew a lot), then select and materialise each
 * IPC. No diffusion model runs here.
 */
import { join } from 'node:path';
import { DdpsError } from '../core/errors.js';
import { mosaicFor } from '../operators/math/mosaic.js';
import type { DistillManifest } from '../operators/selectionTypes.js';
import { ScoreStore } from '../storage/store/index.js';
import { classMapFrom, describeMiss } from '../storage/webdataset/index.js';
import { DEFAULT_SELECTION, type MosaicMode } from '../core/config.js';
import { materialize } from './materialize.js';
import { selectFromStore, updateRanks, type UpdateRanksResult } from './rank.js';

/** Options of selectBudgets: the store, the budgets, the output folder and the selection knobs. */
export interface BudgetsOptions {
  storeDir: string;
  ipcs: number[];
  /** Output folder; with several budgets each goes to <out>/ipc<N>/. */
  out: string;
  classes?: number[];
  topClusters?: number;
  clusters?: number;
  seed?: number;
  /** Re-cluster a class when its new patches pass this fraction (DEFAULT_SELECTION). */
  reclusterThreshold?: number;
  dedup?: number;
  mosaic?: MosaicMode;
  outputSize?: number;
  maxcount?: number;
  maxsize?: number;
  /** One folder per budget even for a single IPC. */
  perBudgetFolders?: boolean;
}

/** One budget's output folder, manifest and selection time. */
export interface BudgetResult {
  ipc: number;
  dir: string;
  manifest: DistillManifest;
  selectMs: number;
}

/** What selectBudgets did: how the ranks were brought up to date, and each budget. */
export interface BudgetsResult {
  ranks: UpdateRanksResult;
  budgets: BudgetResult[];
}

/**
 * Class indices from "0,3,7" or names ("tench,church"), checked against the store's classes. A name
 * that several classes share (ImageNet's two "crane"s) is refused with their indices.
 */
export function parseClasses(spec: string, names: readonly string[]): number[] {
  const map = names.length ? classMapFrom(names, 'of the store') : undefined;
  return spec.split(',').map((raw) => {
    const s = raw.trim();
    if (/^\d+$/.test(s)) {
      const i = Number(s);
      if (names.length && i >= names.length) throw new DdpsError('UNKNOWN_CLASS', `class ${i} is out of range: the store has classes 0..${names.length - 1}`);
      return i;
    }
    const i = map?.indexOf(s);
    if (i === undefined) {
      const why = map ? describeMiss(map, s) : 'but the store records no class names';
      throw new DdpsError('UNKNOWN_CLASS', `class '${s}' ${why}${names.length <= 20 ? ` (the store's classes: ${names.join(', ')})` : ''}`);
    }
    return i;
  });
}

/** Brings the ranks up to date, then selects and writes each IPC (see the module comment); no model runs. */
export async function selectBudgets(opts: BudgetsOptions): Promise<BudgetsResult> {
  const probe = ScoreStore.open(opts.storeDir, { readOnly: true });
  const config = probe.config;
  const pack = probe.pack;
  await probe.close();
  const store = ScoreStore.open(opts.storeDir, { config, pack });
  try {
    const ranks = await updateRanks(store, {
      threshold: opts.reclusterThreshold ?? DEFAULT_SELECTION.reclusterThreshold,
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.clusters !== undefined ? { clusters: opts.clusters } : {}),
    });
    const names = (config.classes as string[] | undefined) ?? [];
    const topClusters = opts.topClusters ?? DEFAULT_SELECTION.topClusters;
    const budgets: BudgetResult[] = [];
    for (const ipc of opts.ipcs) {
      const mosaic = mosaicFor(ipc, opts.mosaic ?? DEFAULT_SELECTION.mosaic, config.wholeImage === true);
      const t0 = performance.now();
      const selection = selectFromStore(store, {
        ipc,
        mosaic,
        topClusters,
        ...(opts.classes ? { classes: opts.classes } : {}),
        ...(opts.dedup !== undefined ? { dedup: opts.dedup } : {}),
      });
      const selectMs = performance.now() - t0;
      const dir = opts.ipcs.length > 1 || opts.perBudgetFolders ? join(opts.out, `ipc${ipc}`) : opts.out;
      const manifest = await materialize(selection, {
        ipc,
        mosaic,
        outDir: dir,
        classNames: names.length ? names : selection.map((s) => String(s.cls)),
        config,
        pack,
        topClusters,
        outputSize: opts.outputSize ?? DEFAULT_SELECTION.outputSize,
        ...(opts.maxcount !== undefined ? { maxcount: opts.maxcount } : {}),
        ...(opts.maxsize !== undefined ? { maxsize: opts.maxsize } : {}),
      });
      budgets.push({ ipc, dir, manifest, selectMs });
    }
    return { ranks, budgets };
  } finally {
    await store.close();
  }
}
