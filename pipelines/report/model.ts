/**
 * What the report shows, before any picture is drawn: per class its counts, budget, distilled
 * images, the source images to draw (selected patches, or the top-scored ones) and its cluster rows;
 * and, grouped by shard, the samples those pictures are cut from. Everything is sorted explicitly so
 * the same store and selection give the same report.
 */
import type { ClassCounts, ClassPatch, ScoreStore } from '../../storage/store/index.js';
import { median, patchKey } from '../../operators/math/ranking.js';
import type { ManifestClass } from '../../operators/selectionTypes.js';
import type { Jobs, SampleJob, SourceView, ThumbView, Tile } from './pictures.js';
import type { DistilledView, Selection } from './selection.js';

/** Sizes of what the report shows per class; the CLI's report flags default to these. */
export const REPORT_DEFAULTS = { topPatches: 8, maxSources: 24, overlaySize: 256, thumbSize: 128, clusterRows: 10, clusterThumbs: 8, skippedRows: 200 };
export type Settings = typeof REPORT_DEFAULTS;

export interface ClusterRow {
  cluster: number;
  /** Place in the class's cluster order, 0 = best. */
  position: number;
  size: number;
  median?: number;
  thumbs: ThumbView[];
}

export interface ClassView {
  cls: number;
  name: string;
  counts?: ClassCounts;
  budget?: ManifestClass;
  distilled: DistilledView[];
  sources: SourceView[];
  moreSources: number;
  clusters?: { k: number; rows: ClusterRow[]; moreRows: number };
  /** Its picture on the index (set once the pictures are drawn). */
  tile?: Tile;
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function byScoreThenKey(a: { score: number; key: string; index: number }, b: { score: number; key: string; index: number }): number {
  return b.score - a.score || compareText(a.key, b.key) || a.index - b.index;
}

/** Source images of the class's distilled cells, best cell first; one picture per source with all its boxes. */
function selectedSources(distilled: DistilledView[]): SourceView[] {
  const bySource = new Map<string, SourceView>();
  for (const d of distilled) {
    for (const c of d.cells) {
      const s = bySource.get(c.source) ?? { key: c.source, shard: c.shard, boxes: [], scores: [] };
      s.boxes.push(c.boxOriginal);
      s.scores.push(c.score);
      bySource.set(c.source, s);
    }
  }
  return [...bySource.values()].sort((a, b) => byScoreThenKey({ score: Math.max(...a.scores), key: a.key, index: 0 }, { score: Math.max(...b.scores), key: b.key, index: 0 }));
}

/** The class's top-scored patches, grouped by source image, best first. */
function topSources(patches: ClassPatch[], n: number, store: ScoreStore): SourceView[] {
  const top = [...patches].sort(byScoreThenKey).slice(0, n);
  const bySource = new Map<string, SourceView>();
  for (const p of top) {
    const s = bySource.get(p.key) ?? { key: p.key, shard: store.sampleShard(p.key) ?? '', boxes: [], scores: [] };
    s.boxes.push(p.boxOriginal);
    s.scores.push(p.score);
    bySource.set(p.key, s);
  }
  return [...bySource.values()];
}

type JobFor = (key: string, shard: string) => SampleJob;

function clusterRows(store: ScoreStore, cls: number, patches: ClassPatch[], settings: Settings, job: JobFor): ClassView['clusters'] {
  const rec = store.getClassClusters(cls);
  if (rec === undefined) return undefined;
  const byPatch = new Map(patches.map((p) => [patchKey(p), p]));
  const members = new Map<number, typeof rec.members>();
  for (const m of rec.members) {
    let list = members.get(m.cluster);
    if (list === undefined) members.set(m.cluster, (list = []));
    list.push(m);
  }
  // The order should name every cluster; any it leaves out still get a row, after it.
  const ordered = new Set(rec.order);
  const order = [...rec.order, ...[...members.keys()].filter((c) => !ordered.has(c)).sort((a, b) => a - b)];
  const rows = order.slice(0, settings.clusterRows).map((cluster, position): ClusterRow => {
    const list = [...(members.get(cluster) ?? [])].sort((a, b) => a.rank - b.rank || compareText(a.key, b.key) || a.index - b.index);
    const scores = list.flatMap((m) => {
      const p = byPatch.get(patchKey(m));
      return p === undefined ? [] : [p.score];
    });
    const thumbs = list.slice(0, settings.clusterThumbs).map((m) => {
      const p = byPatch.get(patchKey(m));
      const view: ThumbView = { key: m.key, index: m.index, rank: m.rank, ...(p === undefined ? {} : { score: p.score }) };
      const shard = p === undefined ? undefined : store.sampleShard(m.key);
      if (p === undefined || shard === undefined) view.missing = `patch ${m.index} of "${m.key}" is not in the store`;
      else job(m.key, shard).thumbs.push({ view, box: p.boxOriginal });
      return view;
    });
    return { cluster, position, size: list.length, ...(scores.length > 0 ? { median: median(scores) } : {}), thumbs };
  });
  return { k: rec.centroids.k, rows, moreRows: Math.max(0, order.length - settings.clusterRows) };
}

/** The classes of the store and of the selection, in index order, and the sample jobs their pictures need. */
export function buildClasses(store: ScoreStore, selection: Selection | undefined, settings: Settings): { classes: ClassView[]; jobs: Jobs } {
  const counts = store.counts();
  const names = (store.config as { classes?: unknown }).classes;
  const storeNames = Array.isArray(names) ? names.map(String) : [];
  const classIds = [...new Set([...counts.perClass.keys(), ...(selection?.byClass.keys() ?? [])])].sort((a, b) => a - b);
  const jobs: Jobs = new Map();
  const jobFor =
    (cls: number): JobFor =>
    (key, shard) => {
      let perShard = jobs.get(shard);
      if (perShard === undefined) jobs.set(shard, (perShard = new Map()));
      let j = perShard.get(key);
      if (j === undefined) perShard.set(key, (j = { cls, thumbs: [] }));
      return j;
    };
  const classes = classIds.map((cls): ClassView => {
    const distilled = selection?.byClass.get(cls) ?? [];
    // Boxes and scores only: the features are not needed to show a class.
    const patches = [...store.classPatches(cls, { features: false })];
    const all = selection ? selectedSources(distilled) : topSources(patches, settings.topPatches, store);
    const sources = all.slice(0, settings.maxSources);
    for (const s of sources) {
      if (s.shard === '') s.missing = `"${s.key}" is not in the score store, so its shard is unknown`;
      else jobFor(cls)(s.key, s.shard).source = s;
    }
    const budget = selection?.manifest.classes[String(cls)];
    const clusters = clusterRows(store, cls, patches, settings, jobFor(cls));
    return {
      cls,
      name: storeNames[cls] ?? budget?.name ?? selection?.names.get(cls) ?? `class ${cls}`,
      ...(counts.perClass.has(cls) ? { counts: counts.perClass.get(cls)! } : {}),
      ...(budget ? { budget } : {}),
      distilled,
      sources,
      moreSources: all.length - sources.length,
      ...(clusters ? { clusters } : {}),
    };
  });
  return { classes, jobs };
}
