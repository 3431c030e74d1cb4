/**
 * `ddps report`: one static HTML page over a score store (and a distilled selection) that a person
 * opens in a browser. Per class: the distilled images, the selected patches (or, without a
 * selection, the top-scored ones) boxed on their source images over the score map, and the clusters
 * as rows of thumbnails; for the run: configuration, model pack, throughput, busy time per stage and
 * the skipped samples.
 *
 * Source images are re-read from their shards: each needed shard is streamed once, in order, and only
 * the samples the page shows are decoded. Everything is sorted explicitly and no clock is read, so
 * the same store and selection give byte-identical output.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { DdpsError, isDdpsError } from '../core/errors.js';
import { decodeImage } from '../operators/decode.js';
import { colormap, overlayScoreMap, strokeBox, VIRIDIS, type Raster, type Rgb } from '../operators/math/heatmap.js';
import type { DistillManifest, ManifestClass } from '../operators/selectionTypes.js';
import type { CellProvenance, Provenance } from '../operators/writeDistilled.js';
import type { Decoded } from '../operators/types.js';
import { ScoreStore, type ClassCounts, type ClassPatch, type RunLog, type SkippedRecord } from '../storage/store/index.js';
import { readSamples, sampleClass, sampleImage, type WdsSample } from '../storage/webdataset/index.js';
import { type Box } from '../core/geometry.js';

/** Options of writeReport: the store, an optional distilled selection and the output folder. */
export interface ReportOptions {
  store: string;
  /** A distilled output folder: manifest.json beside `*.tar` shards. */
  selection?: string;
  /** Where index.html and img/ go; img/ is replaced. */
  out: string;
  /** Without a selection: the top-scored patches shown per class (default 8). */
  topPatches?: number;
  /** Source images with their score maps shown per class (default 24). */
  maxSources?: number;
  /** Long side of a source image picture (default 256). */
  overlaySize?: number;
  /** Side of a cluster thumbnail (default 128). */
  thumbSize?: number;
  /** Cluster rows per class (default 10) and thumbnails per row (default 8). */
  clusterRows?: number;
  clusterThumbs?: number;
  /** Skipped samples listed (default 200); the rest are counted. */
  skippedRows?: number;
}

/** What writeReport wrote. */
export interface ReportSummary {
  /** Path of the page. */
  index: string;
  classes: number;
  /** Image files written under img/. */
  images: number;
  /** Pictures the page could not show, one line each (missing shard, sample not found, bad image). */
  problems: string[];
}

/** Outline colour of selected patches: far from every viridis colour, so it shows on any part of the map. */
export const BOX_COLOUR: Rgb = [255, 32, 112];
const BOX_THICKNESS = 3;

export const REPORT_DEFAULTS = { topPatches: 8, maxSources: 24, overlaySize: 256, thumbSize: 128, clusterRows: 10, clusterThumbs: 8, skippedRows: 200 };
type Settings = typeof REPORT_DEFAULTS;

/** An image on the page: a file under the output folder, or why there is none. */
interface Picture {
  file?: string;
  width?: number;
  height?: number;
  missing?: string;
}

interface DistilledView extends Picture {
  key: string;
  cells: CellProvenance[];
  mosaic: boolean;
}

interface SourceView extends Picture {
  key: string;
  shard: string;
  boxes: Box[];
  scores: number[];
}

interface ThumbView extends Picture {
  key: string;
  index: number;
  rank: number;
  score?: number;
}

interface ClusterRow {
  cluster: number;
  /** Place in the class's cluster order, 0 = best. */
  position: number;
  size: number;
  median?: number;
  thumbs: ThumbView[];
}

interface ClassView {
  cls: number;
  name: string;
  counts?: ClassCounts;
  budget?: ManifestClass;
  distilled: DistilledView[];
  sources: SourceView[];
  moreSources: number;
  clusters?: { k: number; rows: ClusterRow[]; moreRows: number };
}

interface Selection {
  dir: string;
  manifest: DistillManifest;
  byClass: Map<number, DistilledView[]>;
  /** Class names as the provenance gives them. */
  names: Map<number, string>;
}

/** What one source sample must yield: its score-map picture and/or patch thumbnails. */
interface SampleJob {
  cls: number;
  source?: SourceView;
  thumbs: { view: ThumbView; box: Box }[];
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text and attribute values: keys, names and reasons come from data and may hold any character. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** File names from content, not from keys (which may hold any character). */
function fileId(...parts: (string | number)[]): string {
  return createHash('sha1').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1]! + s[m]!) / 2;
}

function byScoreThenKey(a: { score: number; key: string; index: number }, b: { score: number; key: string; index: number }): number {
  return b.score - a.score || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || a.index - b.index;
}

function isBox(v: unknown): v is Box {
  return Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

function parseProvenance(sample: WdsSample): Provenance {
  const where = `distilled sample "${sample.__key__}" in ${sample.__url__}`;
  const bad = (what: string, cause?: unknown): never => {
    throw new DdpsError('BAD_SAMPLE', `${where}: ${what}`, { sample: sample.__key__, file: sample.__url__, cause });
  };
  if (!Buffer.isBuffer(sample.json)) bad('has no .json provenance, expected {"class", "name", "ipc", "mosaic", "cells": [...]}');
  let p: unknown;
  try {
    p = JSON.parse((sample.json as Buffer).toString('utf8'));
  } catch (cause) {
    bad(`.json is not valid JSON (${(cause as Error).message})`, cause);
  }
  const cells = (p as { cells?: unknown } | null)?.cells;
  if (!Array.isArray(cells)) return bad('.json has no "cells" array');
  cells.forEach((c: Partial<CellProvenance> | null, i) => {
    if (typeof c?.source !== 'string' || typeof c.shard !== 'string' || typeof c.index !== 'number' || typeof c.score !== 'number' || !isBox(c.boxOriginal)) {
      bad(`.json cell ${i} is ${JSON.stringify(c)}, expected {"source", "shard", "index", "boxOriginal": [x, y, w, h], "score", "cluster", "rank"}`);
    }
  });
  return p as Provenance;
}

async function readSelection(dir: string, out: string, files: string[], problems: string[]): Promise<Selection> {
  const manifestPath = join(dir, 'manifest.json');
  let manifest: DistillManifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as DistillManifest;
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DdpsError(missing ? 'MISSING_FILE' : 'BAD_CONFIG', `selection ${dir}: cannot read ${manifestPath} (${(cause as Error).message}); expected the manifest.json that distill writes beside its shards`, {
      file: manifestPath,
      cause,
    });
  }
  // The manifest names its shards; an older one without the list means every tar beside it.
  const listed = Array.isArray(manifest.shards) && manifest.shards.length > 0 ? manifest.shards.map(String) : (await readdir(dir)).filter((n) => n.endsWith('.tar')).sort();
  if (listed.length === 0) throw new DdpsError('MISSING_FILE', `selection ${dir}: no .tar shards beside manifest.json`, { file: dir });
  const shards = listed.map((n) => join(dir, n));
  const byClass = new Map<number, DistilledView[]>();
  const names = new Map<number, string>();
  for await (const sample of readSamples(shards)) {
    const provenance = parseProvenance(sample);
    const cls = sampleClass(sample) ?? provenance.class;
    if (typeof provenance.name === 'string') names.set(cls, provenance.name);
    const view: DistilledView = { key: sample.__key__, cells: provenance.cells, mosaic: provenance.cells.length > 1 };
    const png = sample.png;
    const meta = Buffer.isBuffer(png) ? await sharp(png).metadata().catch(() => undefined) : undefined;
    if (Buffer.isBuffer(png) && meta?.format === 'png') {
      const file = `img/c${cls}/distilled-${fileId(sample.__key__)}.png`;
      await mkdir(join(out, file, '..'), { recursive: true });
      await writeFile(join(out, file), png);
      files.push(file);
      Object.assign(view, { file, width: meta.width, height: meta.height });
    } else {
      view.missing = Buffer.isBuffer(png) ? 'its .png is not a readable PNG' : 'no .png in the distilled shard';
      problems.push(`distilled sample "${sample.__key__}" in ${sample.__url__}: ${view.missing}`);
    }
    byClass.set(cls, [...(byClass.get(cls) ?? []), view]);
  }
  for (const list of byClass.values()) list.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { dir, manifest, byClass, names };
}

function classNames(store: ScoreStore): readonly string[] {
  const names = (store.config as { classes?: unknown }).classes;
  return Array.isArray(names) ? names.map(String) : [];
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
    const s = bySource.get(p.key) ?? { key: p.key, shard: store.getSample(p.key)?.shard ?? '', boxes: [], scores: [] };
    s.boxes.push(p.boxOriginal);
    s.scores.push(p.score);
    bySource.set(p.key, s);
  }
  return [...bySource.values()];
}

function clusterRows(store: ScoreStore, cls: number, patches: ClassPatch[], settings: Settings, job: (key: string, shard: string) => SampleJob): ClassView['clusters'] {
  const rec = store.getClassClusters(cls);
  if (rec === undefined) return undefined;
  const byPatch = new Map(patches.map((p) => [`${p.key}\u0000${p.index}`, p]));
  const members = new Map<number, typeof rec.members>();
  for (const m of rec.members) members.set(m.cluster, [...(members.get(m.cluster) ?? []), m]);
  // The order should name every cluster; any it leaves out still get a row, after it.
  const order = [...rec.order, ...[...members.keys()].filter((c) => !rec.order.includes(c)).sort((a, b) => a - b)];
  const rows = order.slice(0, settings.clusterRows).map((cluster, position): ClusterRow => {
    const list = [...(members.get(cluster) ?? [])].sort((a, b) => a.rank - b.rank || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || a.index - b.index);
    const scores = list.flatMap((m) => {
      const p = byPatch.get(`${m.key}\u0000${m.index}`);
      return p === undefined ? [] : [p.score];
    });
    const thumbs = list.slice(0, settings.clusterThumbs).map((m) => {
      const p = byPatch.get(`${m.key}\u0000${m.index}`);
      const view: ThumbView = { key: m.key, index: m.index, rank: m.rank, ...(p === undefined ? {} : { score: p.score }) };
      const shard = p === undefined ? undefined : store.getSample(m.key)?.shard;
      if (p === undefined || shard === undefined) view.missing = `patch ${m.index} of "${m.key}" is not in the store`;
      else job(m.key, shard).thumbs.push({ view, box: p.boxOriginal });
      return view;
    });
    return { cluster, position, size: list.length, median: median(scores), thumbs };
  });
  return { k: rec.centroids.k, rows, moreRows: Math.max(0, order.length - settings.clusterRows) };
}

function rawInput(img: Decoded): Sharp {
  return sharp(img.rgb, { raw: { width: img.width, height: img.height, channels: 3 } });
}

const JPEG = { quality: 85, chromaSubsampling: '4:4:4' } as const;

async function renderSource(img: Decoded, cls: number, view: SourceView, store: ScoreStore, out: string, settings: Settings, files: string[], problems: string[]): Promise<void> {
  const s = settings.overlaySize / Math.max(img.width, img.height);
  const width = Math.max(1, Math.round(img.width * s));
  const height = Math.max(1, Math.round(img.height * s));
  const photo: Raster = { width, height, rgb: new Uint8Array(await rawInput(img).resize(width, height, { fit: 'fill' }).raw().toBuffer()) };
  const rec = store.getSample(view.key);
  if (rec === undefined) problems.push(`"${view.key}" is not in the score store: its picture has no score map`);
  else if (rec.size[0] !== img.width || rec.size[1] !== img.height) {
    problems.push(`"${view.key}" in ${view.shard} is ${img.width}x${img.height}, but the store scored it at ${rec.size[0]}x${rec.size[1]}: the map may not line up`);
  }
  if (rec !== undefined) photo.rgb = overlayScoreMap(photo, rec.size, rec.scoreMap, rec.transform, 0.5);
  const sx = width / img.width;
  const sy = height / img.height;
  for (const [x, y, w, h] of view.boxes) {
    const x0 = Math.round(x * sx);
    const y0 = Math.round(y * sy);
    strokeBox(photo, [x0, y0, Math.round((x + w) * sx) - x0, Math.round((y + h) * sy) - y0], BOX_COLOUR, BOX_THICKNESS);
  }
  const file = `img/c${cls}/source-${fileId(view.key)}.jpg`;
  await mkdir(join(out, file, '..'), { recursive: true });
  await sharp(photo.rgb, { raw: { width, height, channels: 3 } }).jpeg(JPEG).toFile(join(out, file));
  files.push(file);
  Object.assign(view, { file, width, height });
}

async function renderThumb(img: Decoded, cls: number, view: ThumbView, box: Box, out: string, settings: Settings, files: string[]): Promise<void> {
  const left = Math.max(0, box[0]);
  const top = Math.max(0, box[1]);
  const width = Math.min(img.width, box[0] + box[2]) - left;
  const height = Math.min(img.height, box[1] + box[3]) - top;
  if (width < 1 || height < 1) {
    view.missing = `box [${box.join(', ')}] lies outside the ${img.width}x${img.height} image`;
    return;
  }
  const file = `img/c${cls}/patch-${fileId(view.key, view.index)}.jpg`;
  await mkdir(join(out, file, '..'), { recursive: true });
  await rawInput(img).extract({ left, top, width, height }).resize(settings.thumbSize, settings.thumbSize, { fit: 'fill' }).jpeg(JPEG).toFile(join(out, file));
  files.push(file);
  Object.assign(view, { file, width: settings.thumbSize, height: settings.thumbSize });
}

function markMissing(job: SampleJob, why: string): void {
  if (job.source) job.source.missing = why;
  for (const t of job.thumbs) t.view.missing = why;
}

/** Streams each shard once, in name order, stopping after its last needed sample; decodes only those. */
async function renderJobs(jobs: Map<string, Map<string, SampleJob>>, store: ScoreStore, out: string, settings: Settings, files: string[], problems: string[]): Promise<void> {
  for (const shard of [...jobs.keys()].sort()) {
    const pending = jobs.get(shard)!;
    const onSkip = (info: { reason: string }): void => void problems.push(info.reason);
    try {
      for await (const sample of readSamples([shard], { onError: 'skip', onSkip })) {
        const job = pending.get(sample.__key__);
        if (job === undefined) continue;
        pending.delete(sample.__key__);
        const buf = sampleImage(sample);
        if (buf === undefined) {
          markMissing(job, 'the sample has no image');
        } else {
          try {
            const img = await decodeImage(buf, { key: sample.__key__, url: shard, cls: job.cls });
            if (job.source) await renderSource(img, job.cls, job.source, store, out, settings, files, problems);
            for (const t of job.thumbs) await renderThumb(img, job.cls, t.view, t.box, out, settings, files);
          } catch (e) {
            if (!isDdpsError(e, 'BAD_SAMPLE')) throw e;
            markMissing(job, e.message);
            problems.push(e.message);
          }
        }
        if (pending.size === 0) break;
      }
    } catch (e) {
      if (!isDdpsError(e, 'MISSING_FILE')) throw e;
      problems.push(e.message);
      for (const job of pending.values()) markMissing(job, `shard ${shard} is missing`);
      continue;
    }
    for (const [key, job] of [...pending].sort(([a], [b]) => (a < b ? -1 : 1))) {
      markMissing(job, `not found in ${shard}`);
      problems.push(`sample "${key}" was not found in ${shard}`);
    }
  }
}

/** Writes `<out>/index.html` and `<out>/img/`. */
export async function writeReport(opts: ReportOptions): Promise<ReportSummary> {
  const settings: Settings = { ...REPORT_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => k in REPORT_DEFAULTS && v !== undefined)) };
  for (const [k, v] of Object.entries(settings)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new DdpsError('BAD_ARGUMENT', `report: ${k} must be a positive integer, got ${v}`);
  }
  const store = ScoreStore.open(opts.store, { readOnly: true });
  try {
    const out = opts.out;
    const imgDir = join(out, 'img');
    await rm(imgDir, { recursive: true, force: true });
    await mkdir(imgDir, { recursive: true });
    const files: string[] = [];
    const problems: string[] = [];
    const selection = opts.selection === undefined ? undefined : await readSelection(opts.selection, out, files, problems);
    const counts = store.counts();
    const names = classNames(store);
    const classIds = [...new Set([...counts.perClass.keys(), ...(selection?.byClass.keys() ?? [])])].sort((a, b) => a - b);

    const jobs = new Map<string, Map<string, SampleJob>>();
    const jobFor =
      (cls: number) =>
      (key: string, shard: string): SampleJob => {
        const perShard = jobs.get(shard) ?? new Map<string, SampleJob>();
        jobs.set(shard, perShard);
        const j = perShard.get(key) ?? { cls, thumbs: [] };
        perShard.set(key, j);
        return j;
      };
    const classes = classIds.map((cls): ClassView => {
      const distilled = selection?.byClass.get(cls) ?? [];
      const patches = [...store.classPatches(cls)];
      const all = selection ? selectedSources(distilled) : topSources(patches, settings.topPatches, store);
      const sources = all.slice(0, settings.maxSources);
      for (const s of sources) {
        if (s.shard === '') s.missing = `"${s.key}" is not in the score store, so its shard is unknown`;
        else jobFor(cls)(s.key, s.shard).source = s;
      }
      const budget = selection?.manifest.classes?.[String(cls)];
      const name = names[cls] ?? budget?.name ?? selection?.names.get(cls) ?? `class ${cls}`;
      const clusters = clusterRows(store, cls, patches, settings, jobFor(cls));
      return {
        cls,
        name,
        ...(counts.perClass.has(cls) ? { counts: counts.perClass.get(cls)! } : {}),
        ...(budget ? { budget } : {}),
        distilled,
        sources,
        moreSources: all.length - sources.length,
        ...(clusters ? { clusters } : {}),
      };
    });
    await renderJobs(jobs, store, out, settings, files, problems);

    const html = renderPage({
      storeDir: store.dir,
      config: store.config,
      pack: store.pack,
      mixed: store.mixed.length,
      counts,
      runs: store.runs(),
      skipped: [...store.skipped()],
      selection,
      classes,
      problems,
      settings,
    });
    const index = join(out, 'index.html');
    await writeFile(index, html);
    return { index, classes: classes.length, images: files.length, problems };
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------- the page

interface PageData {
  storeDir: string;
  config: Record<string, unknown>;
  pack: Record<string, unknown>;
  mixed: number;
  counts: { samples: number; patches: number; skipped: number };
  runs: RunLog[];
  skipped: SkippedRecord[];
  selection?: Selection;
  classes: ClassView[];
  problems: string[];
  settings: Settings;
}

function fmtScore(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a === 0 || (a >= 0.01 && a < 1000) ? v.toFixed(3) : v.toExponential(2);
}

function fmtValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function img(p: Picture, alt: string, cssClass: string): string {
  if (p.file === undefined) return `<div class="missing ${cssClass}">${escapeHtml(p.missing ?? 'no image')}</div>`;
  return `<img class="${cssClass}" src="${escapeHtml(p.file)}" width="${p.width}" height="${p.height}" alt="${escapeHtml(alt)}">`;
}

function table(head: string[], rows: string[][], cls = ''): string {
  const th = head.map((h) => `<th>${h}</th>`).join('');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n')}</tbody></table>`;
}

function keyValueTable(entries: [string, unknown][]): string {
  return `<table class="kv"><tbody>${entries.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td><code>${escapeHtml(fmtValue(v))}</code></td></tr>`).join('\n')}</tbody></table>`;
}

function throughput(runs: RunLog[]): number | undefined {
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  return seconds > 0 ? runs.reduce((a, r) => a + r.scored, 0) / seconds : undefined;
}

function header(d: PageData): string {
  const rate = throughput(d.runs);
  const m = d.selection?.manifest;
  const cards: [string, string][] = [
    ['classes', String(d.classes.length)],
    ['samples scored', String(d.counts.samples)],
    ['candidate patches', String(d.counts.patches)],
    ['skipped', String(d.counts.skipped)],
    ['samples / s', rate === undefined ? '–' : rate.toFixed(1)],
    ...(m ? ([['distilled images', String(m.images)], ['images per class', `${m.ipc}${m.mosaic ? ' (2×2 mosaics)' : ''}`]] as [string, string][]) : []),
  ];
  const packName = typeof d.pack.name === 'string' ? d.pack.name : '?';
  const packDigest = typeof d.pack.digest === 'string' ? d.pack.digest : '?';
  return `<header>
<h1>ddps report</h1>
<p class="sub">score store <code>${escapeHtml(d.storeDir)}</code>${d.selection ? ` · selection <code>${escapeHtml(d.selection.dir)}</code>` : ''} · model pack <code>${escapeHtml(packName)}</code> (digest <code>${escapeHtml(packDigest)}</code>)${d.mixed > 0 ? ` · <strong>mixes ${plural(d.mixed, 'other run')}</strong>` : ''}</p>
<div class="cards">${cards.map(([k, v]) => `<div class="card"><b>${escapeHtml(v)}</b><span>${escapeHtml(k)}</span></div>`).join('')}</div>
</header>`;
}

function toc(d: PageData): string {
  const items = d.classes.map((c) => {
    const bits = [c.counts ? plural(c.counts.samples, 'sample') : 'not in the store', ...(d.selection ? [plural(c.distilled.length, 'image')] : []), ...(c.budget?.short ? ['short'] : [])];
    return `<li><a href="#class-${c.cls}"><span class="idx">${c.cls}</span> ${escapeHtml(c.name)}</a><small>${escapeHtml(bits.join(' · '))}</small></li>`;
  });
  return `<nav class="toc"><h2>Contents</h2>
<p><a href="#run">Run: configuration, model pack, time per stage</a> · <a href="#skipped">Skipped samples (${d.skipped.length})</a></p>
<ol>${items.join('\n')}</ol></nav>`;
}

function legend(): string {
  const stops = VIRIDIS.map((_, i) => `rgb(${colormap(i / (VIRIDIS.length - 1)).join(',')}) ${((100 * i) / (VIRIDIS.length - 1)).toFixed(1)}%`).join(', ');
  const box = `rgb(${BOX_COLOUR.join(',')})`;
  return `<p class="hint">Score map D (how much the class prompt helps the model denoise, min–max per image): <span class="legend" style="background:linear-gradient(to right, ${stops})"></span> low → high; <span class="swatch" style="border-color:${box}"></span> patch boxes.</p>`;
}

function classSection(c: ClassView, d: PageData): string {
  const parts: string[] = [];
  const meta = [
    c.counts ? `${plural(c.counts.samples, 'sample')}, ${plural(c.counts.patches, 'candidate patch', 'candidate patches')}` : 'no samples in the store',
    ...(c.budget ? [`${plural(c.budget.images, 'distilled image')} from ${plural(c.budget.patches, 'patch', 'patches')} (budget ${c.budget.needed})`] : []),
  ];
  parts.push(`<h2><span class="idx">${c.cls}</span> ${escapeHtml(c.name)}</h2><p class="meta">${escapeHtml(meta.join(' · '))}${c.budget?.short ? ' <span class="warn">short: fewer candidates than the budget needs</span>' : ''}</p>`);
  if (d.selection) {
    parts.push('<h3>Distilled images</h3>');
    parts.push(
      c.distilled.length === 0
        ? '<p class="none">No distilled image for this class.</p>'
        : `<div class="grid">${c.distilled
            .map((v) => {
              const title = v.cells.map((cell) => `${cell.source} #${cell.index} score ${fmtScore(cell.score)} cluster ${cell.cluster} rank ${cell.rank}`).join('\n');
              return `<figure title="${escapeHtml(title)}">${img(v, v.key, 'distilled')}<figcaption>${escapeHtml(v.key)} · ${v.mosaic ? `mosaic of ${v.cells.length}` : 'single patch'}</figcaption></figure>`;
            })
            .join('\n')}</div>`,
    );
  }
  parts.push(`<h3>${d.selection ? 'Selected patches on their source images' : `Top-scored patches (no selection given: the best ${d.settings.topPatches})`}</h3>`);
  if (c.sources.length === 0) parts.push('<p class="none">None.</p>');
  else {
    parts.push(legend());
    parts.push(
      `<div class="grid">${c.sources
        .map((s) => `<figure>${img(s, `${s.key} with its score map`, 'source')}<figcaption>${escapeHtml(s.key)} · ${escapeHtml(s.scores.map(fmtScore).join(', '))}</figcaption></figure>`)
        .join('\n')}</div>`,
    );
    if (c.moreSources > 0) parts.push(`<p class="more">and ${plural(c.moreSources, 'more source image')}</p>`);
  }
  if (c.clusters) {
    parts.push(`<h3>Clusters (${c.clusters.k}, best first; patches by rank)</h3>`);
    const rows = c.clusters.rows.map(
      (r) =>
        `<tr><th><b>#${r.position + 1}</b> cluster ${r.cluster}<br>${plural(r.size, 'patch', 'patches')}<br>median score ${fmtScore(r.median)}</th><td>${r.thumbs
          .map((t) => `<span class="thumb" title="${escapeHtml(`${t.key} #${t.index} · rank ${t.rank} · score ${fmtScore(t.score)}`)}">${img(t, `${t.key} patch ${t.index}`, 'patch')}</span>`)
          .join('')}${r.size > r.thumbs.length ? `<span class="more">+${r.size - r.thumbs.length}</span>` : ''}</td></tr>`,
    );
    parts.push(`<table class="clusters"><tbody>${rows.join('\n')}</tbody></table>`);
    if (c.clusters.moreRows > 0) parts.push(`<p class="more">and ${plural(c.clusters.moreRows, 'more cluster')}</p>`);
  }
  return `<section class="class" id="class-${c.cls}">\n${parts.join('\n')}\n<p class="top"><a href="#top">↑ contents</a></p></section>`;
}

function runSection(d: PageData): string {
  const parts: string[] = ['<h2>Run</h2>'];
  const { classes, ...config } = d.config;
  const column = (title: string, entries: [string, unknown][]): string => `<div><h3>${title}</h3>${keyValueTable(entries)}</div>`;
  const columns = [column('Configuration', Object.entries(config).concat(Array.isArray(classes) ? [['classes', `${classes.length} names`]] : [])), column('Model pack', Object.entries(d.pack))];
  if (d.selection) {
    const { classes: _perClass, config: _config, pack: _pack, ...manifest } = d.selection.manifest;
    columns.push(column('Selection', Object.entries(manifest)));
  }
  parts.push(`<div class="cols">${columns.join('\n')}</div>`);
  parts.push('<h3>Scoring runs</h3>');
  if (d.runs.length === 0) parts.push('<p class="none">The store records no run.</p>');
  else {
    parts.push(
      table(
        ['ended', 'scored', 'skipped', 'seconds', 'samples / s', 'UNet passes', 'execution'],
        d.runs.map((r) => [
          escapeHtml(r.ended),
          `<span class="num">${r.scored}</span>`,
          `<span class="num">${r.skipped}</span>`,
          `<span class="num">${r.seconds.toFixed(1)}</span>`,
          `<span class="num">${r.seconds > 0 ? (r.scored / r.seconds).toFixed(2) : '–'}</span>`,
          `<span class="num">${r.unetPasses}</span>`,
          `<code>${escapeHtml(JSON.stringify(r.execution))}</code>`,
        ]),
      ),
    );
    const stages = new Map<string, { ms: number; calls: number; items: number }>();
    for (const r of d.runs) {
      for (const [name, s] of Object.entries(r.stages)) {
        const t = stages.get(name) ?? { ms: 0, calls: 0, items: 0 };
        stages.set(name, { ms: t.ms + s.ms, calls: t.calls + s.calls, items: t.items + s.items });
      }
    }
    const sorted = [...stages].sort(([a, x], [b, y]) => y.ms - x.ms || (a < b ? -1 : 1));
    const total = sorted.reduce((a, [, s]) => a + s.ms, 0);
    const max = Math.max(1e-9, ...sorted.map(([, s]) => s.ms));
    parts.push(`<h3>Busy time per stage${d.runs.length > 1 ? ` (over ${d.runs.length} runs)` : ''}</h3><p class="hint">Summed call durations: with several workers or images in flight they can exceed the wall time; they say where the cost is.</p>`);
    parts.push(
      table(
        ['stage', 'seconds', 'share', 'calls', 'items', ''],
        sorted.map(([name, s]) => [
          escapeHtml(name),
          `<span class="num">${(s.ms / 1000).toFixed(2)}</span>`,
          `<span class="num">${total > 0 ? ((100 * s.ms) / total).toFixed(0) : '0'} %</span>`,
          `<span class="num">${s.calls}</span>`,
          `<span class="num">${s.items}</span>`,
          `<div class="bar" style="width:${((100 * s.ms) / max).toFixed(1)}%"></div>`,
        ]),
        'stages',
      ),
    );
  }
  return `<section id="run">\n${parts.join('\n')}\n</section>`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function skippedSection(d: PageData): string {
  if (d.skipped.length === 0) return '<section id="skipped"><h2>Skipped samples (0)</h2>\n<p class="none">No sample was skipped.</p>\n</section>';
  const byKind = new Map<string, number>();
  for (const s of d.skipped) byKind.set(`${s.stage ?? ''}\u0000${s.code}`, (byKind.get(`${s.stage ?? ''}\u0000${s.code}`) ?? 0) + 1);
  const kinds = [...byKind].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  const summary = table(
    ['stage', 'code', 'samples'],
    kinds.map(([kind, n]) => [...kind.split('\u0000').map(escapeHtml), `<span class="num">${n}</span>`]),
  );
  const shown = d.skipped.slice(0, d.settings.skippedRows);
  const rest = d.skipped.length - shown.length;
  const list = table(
    ['sample', 'shard', 'stage', 'code', 'reason'],
    shown.map((s) => [
      s.key === undefined ? '<em>rest of the shard</em>' : `<code>${escapeHtml(s.key)}</code>`,
      `<span title="${escapeHtml(s.shard)}">${escapeHtml(basename(s.shard))}</span>`,
      escapeHtml(s.stage ?? ''),
      escapeHtml(s.code),
      escapeHtml(s.reason),
    ]),
    'skipped',
  );
  const more = rest > 0 ? `<p class="more">and ${plural(rest, 'more skipped sample')} (<code>ddps inspect --json</code> lists all)</p>` : '';
  return `<section id="skipped"><h2>Skipped samples (${d.skipped.length})</h2>\n${summary}\n<h3>Samples</h3>${list}${more}\n</section>`;
}

function problemsBox(d: PageData): string {
  const shown = d.problems.slice(0, 50);
  const rest = d.problems.length - shown.length;
  return `<section class="problems"><h2>Pictures the report could not make (${d.problems.length})</h2><ul>${shown.map((p) => `<li>${escapeHtml(p)}</li>`).join('\n')}</ul>${rest > 0 ? `<p class="more">and ${rest} more</p>` : ''}</section>`;
}

const CSS = `
:root{--fg:#1d2430;--muted:#5d6778;--line:#e4e8ee;--bg:#f4f6f9;--card:#fff;--accent:#3b528b}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#1d2430;color:#fff;padding:24px 32px}
header h1{margin:0 0 4px;font-size:24px}
header .sub{color:#b9c2cf;margin:0 0 16px;overflow-wrap:anywhere}
header code{color:#fff}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:rgba(255,255,255,.09);border-radius:8px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:20px}
.card span{color:#b9c2cf;font-size:11px;text-transform:uppercase;letter-spacing:.05em}
main{max-width:1240px;margin:0 auto;padding:8px 32px 48px}
section,nav.toc{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:20px 0}
h2{margin:0 0 4px;font-size:18px}
h3{font-size:12px;margin:18px 0 8px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em}
.idx{display:inline-block;min-width:2.2em;padding:0 6px;border-radius:4px;background:#eef1f6;color:var(--muted);font-size:.85em;text-align:center}
.toc ol{list-style:none;padding:0;margin:8px 0 0;display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:4px 16px}
.toc li{display:flex;justify-content:space-between;gap:8px;border-bottom:1px dotted var(--line);padding:2px 0}
.toc small,.meta,.hint,.more,.none{color:var(--muted)}
.hint{font-size:12px}
a{color:#2455a4;text-decoration:none}a:hover{text-decoration:underline}
.grid{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;max-width:256px}
figure img{display:block;border-radius:4px}
img.source{width:200px;height:auto}
figure:has(img.source){max-width:200px}
img.distilled{width:160px;height:auto;image-rendering:auto}
figure:has(img.distilled){max-width:160px}
figcaption{font-size:12px;color:var(--muted);overflow-wrap:anywhere;margin-top:3px}
.missing{display:flex;align-items:center;justify-content:center;background:#f3eded;color:#9b2c2c;font-size:11px;text-align:center;padding:6px;border-radius:4px;width:128px;height:128px;overflow:hidden;overflow-wrap:anywhere}
.missing.patch{width:80px;height:80px;display:inline-flex;vertical-align:middle;margin-right:4px}
.legend{display:inline-block;width:140px;height:10px;border-radius:2px;vertical-align:middle}
.swatch{display:inline-block;width:14px;height:10px;border:2px solid;vertical-align:middle}
table{border-collapse:collapse;width:auto}
td,th{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{font-size:12px;color:var(--muted);font-weight:600}
.kv th{font-weight:500;color:var(--muted);white-space:nowrap}
.num{display:block;text-align:right;font-variant-numeric:tabular-nums}
.stages td:last-child{width:320px}
.bar{height:10px;background:var(--accent);border-radius:2px;min-width:1px}
.clusters th{width:150px;font-weight:normal;color:var(--muted);font-size:12px}
.clusters b{color:var(--fg)}
.thumb img{display:inline-block;width:80px;height:80px;margin-right:4px;border-radius:3px;vertical-align:middle}
.thumb{display:inline-block}
.skipped td{font-size:12px}
.skipped td:last-child{max-width:640px;overflow-wrap:anywhere}
.cols{display:flex;flex-wrap:wrap;gap:0 48px;align-items:flex-start}
.warn{color:#9b2c2c;font-weight:600}
.problems{background:#fff6e8;border-color:#f1c27d}
#broken{background:#9b2c2c;color:#fff;padding:8px 32px;margin:0}
.top{text-align:right;font-size:12px;margin:8px 0 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
`;

// Flags images that did not load, for the reader (a banner) and for tests (data-images-ok).
const IMAGE_CHECK = `addEventListener('load',function(){var a=Array.prototype.slice.call(document.images);var bad=a.filter(function(i){return !(i.complete&&i.naturalWidth>0)}).length;document.body.dataset.images=String(a.length);document.body.dataset.imagesOk=String(bad===0);if(bad){var p=document.getElementById('broken');p.textContent=bad+' of '+a.length+' images did not load: was the img/ folder moved away from this page?';p.hidden=false}});`;

function renderPage(d: PageData): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ddps report · ${escapeHtml(d.storeDir)}</title>
<style>${CSS}</style>
</head>
<body id="top">
<p id="broken" hidden></p>
${header(d)}
<main>
${d.problems.length > 0 ? problemsBox(d) : ''}
${toc(d)}
${d.classes.map((c) => classSection(c, d)).join('\n')}
${runSection(d)}
${skippedSection(d)}
</main>
<script>${IMAGE_CHECK}</script>
</body>
</html>
`;
}
