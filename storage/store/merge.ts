/**
 * Stores scored apart, merged into one. Every source must hold the same run (configuration and pack
 * digest) as the others and as the target when it exists; samples are keyed by their key and put in
 * with importRecords' rules, so merging again, or in another order, changes nothing.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DdpsError } from '../../core/errors.js';
import { describeMismatch, type RunIdentity } from './meta.js';
import { importRecords, storeRecords, type ImportCounts } from './records.js';
import { ScoreStore } from './scoreStore.js';

/** What mergeStores did: the target, the samples taken from each source, and what the target holds after. */
export interface MergeSummary {
  into: string;
  sources: ({ dir: string } & ImportCounts)[];
  /** Samples the target holds after the merge. */
  samples: number;
}

function identityOf(store: ScoreStore): RunIdentity {
  return { config: store.config, pack: store.pack };
}

/** Refuses, naming every differing key, a source that is mixed or differs from the first one or from the target. */
function checkSameRun(stores: readonly ScoreStore[]): void {
  const problems: string[] = [];
  const first = stores[0]!;
  for (const s of stores) {
    if (s.mixed.length > 0) problems.push(`${s.dir} mixes ${s.mixed.length + 1} runs`);
    if (s === first) continue;
    const diff = describeMismatch(identityOf(first), identityOf(s));
    if (diff.length > 0) problems.push(`${s.dir} differs from ${first.dir}: ${diff.join('; ')}`);
  }
  if (problems.length > 0) throw new DdpsError('STORE_MISMATCH', `the stores hold different runs, so they are not merged. ${problems.join('. ')}`);
}

/**
 * Merges score stores scored apart into `into` (created when new). Refuses (STORE_MISMATCH, naming what
 * differs) sources of another configuration or pack than each other or the target; samples are keyed by
 * their key, so merging again, or in another order, changes nothing.
 */
export async function mergeStores(into: string, sources: readonly string[]): Promise<MergeSummary> {
  if (sources.length === 0) throw new DdpsError('BAD_ARGUMENT', 'name at least one store to merge from');
  const self = sources.find((s) => resolve(s) === resolve(into));
  if (self !== undefined) throw new DdpsError('BAD_ARGUMENT', `${self} is both the target and a source`);
  const opened: ScoreStore[] = [];
  try {
    for (const dir of sources) opened.push(ScoreStore.open(dir, { readOnly: true }));
    const existing = existsSync(join(into, 'data.mdb')) ? ScoreStore.open(into, { readOnly: true }) : undefined;
    try {
      checkSameRun(existing ? [existing, ...opened] : opened);
    } finally {
      await existing?.close();
    }
    const target = ScoreStore.open(into, identityOf(opened[0]!));
    try {
      const summary: MergeSummary = { into, sources: [], samples: 0 };
      for (const src of opened) summary.sources.push({ dir: src.dir, ...(await importRecords(target, storeRecords(src))) });
      summary.samples = target.counts().samples;
      return summary;
    } finally {
      await target.close();
    }
  } finally {
    for (const s of opened) await s.close();
  }
}
