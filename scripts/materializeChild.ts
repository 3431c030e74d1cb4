/**
 * Selects one budget from a ranked store and renders it, in its own process, then prints one JSON
 * line with the images, the seconds and the process's peak RSS: the bench's rendering figures. The
 * peak RSS counts the store's memory-mapped pages the process touched (the kernel drops them when
 * memory is short); on Linux the peak of anonymous memory alone (heap, buffers) is sampled too.
 */
import { readFileSync } from 'node:fs';
import { materialize } from '../pipelines/materialize.js';
import { selectFromStore } from '../pipelines/rank.js';
import { ScoreStore } from '../storage/store/index.js';

interface ChildArgs {
  store: string;
  out: string;
  ipc: number;
  /** Default: every class. */
  classes?: number[];
}

const args = JSON.parse(process.argv[2]!) as ChildArgs;
let peakAnonKB: number | undefined;
const sample = (): void => {
  try {
    const kb = Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
    if (Number.isFinite(kb)) peakAnonKB = Math.max(peakAnonKB ?? 0, kb);
  } catch {
    // Not Linux: the peak RSS alone is reported.
  }
};
const timer = setInterval(sample, 50);
const store = ScoreStore.open(args.store, { readOnly: true });
const t0 = performance.now();
const selection = selectFromStore(store, { ipc: args.ipc, ...(args.classes ? { classes: args.classes } : {}) });
const names = (store.config as { classes?: string[] }).classes ?? [];
const manifest = await materialize(selection, { ipc: args.ipc, mosaic: 'auto', outDir: args.out, classNames: names, config: store.config, pack: store.pack, topClusters: 10 });
const seconds = (performance.now() - t0) / 1000;
await store.close();
clearInterval(timer);
sample();
const anonPeakMB = peakAnonKB === undefined ? null : peakAnonKB / 1024;
console.log(JSON.stringify({ images: manifest.images, classes: selection.length, seconds, maxRssMB: process.resourceUsage().maxRSS / 1024, anonPeakMB }));
