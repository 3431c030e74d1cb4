/**
 * `ddps report`: static HTML pages over a score store (and a distilled selection) that a person
 * opens in a browser, at any number of classes: `index.html` (the run in figures, one row per class
 * with a small picture, configuration, time per stage, skipped samples) and `classes/c<N>.html` per
 * class (the distilled images, the selected patches, or without a selection the top-scored ones,
 * boxed on their source images over the score map, and the clusters as rows of thumbnails).
 *
 *   report/selection.ts  the distilled folder, manifest and provenance checked
 *   report/model.ts      what each page shows
 *   report/pictures.ts   the pictures, source shards streamed once
 *   report/page.ts       the pages, escaped by default (report/html.ts)
 *
 * Everything is sorted explicitly and no clock is read, so the same store and selection give
 * byte-identical output.
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DdpsError } from '../core/errors.js';
import { ScoreStore } from '../storage/store/index.js';
import { RESULTS_NAME, type EvaluationReport } from './evaluate.js';
import { buildClasses, REPORT_DEFAULTS, type Settings } from './report/model.js';
import { classPage, classPageHtml, indexPage } from './report/page.js';
import { indexSheets, renderJobs } from './report/pictures.js';
import { readSelection } from './report/selection.js';
import { CSS, SCRIPT } from './report/style.js';

export { escapeHtml } from './report/html.js';
export { BOX_COLOUR } from './report/pictures.js';
export { REPORT_DEFAULTS } from './report/model.js';

/** Options of writeReport: the store, an optional distilled selection and the output folder. */
export interface ReportOptions {
  store: string;
  /** A distilled output folder: manifest.json beside `*.tar` shards. */
  selection?: string;
  /** `ddps evaluate`'s output folder (or its results.json): the students' table and chart go on the index. */
  evaluation?: string;
  /** Where index.html, classes/, img/ and assets/ go; those three folders are replaced. */
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
  /** Path of the index page. */
  index: string;
  classes: number;
  /** Image files written under img/. */
  images: number;
  /** Pictures the pages could not show, one line each (missing shard, sample not found, bad image). */
  problems: string[];
}

function settingsOf(opts: ReportOptions): Settings {
  const settings: Settings = { ...REPORT_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => k in REPORT_DEFAULTS && v !== undefined)) };
  for (const [k, v] of Object.entries(settings)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new DdpsError('BAD_ARGUMENT', `report: ${k} must be a positive integer, got ${v}`);
  }
  return settings;
}

/** results.json of an evaluation, from its folder or the file itself; refused, naming the file, unless it is one. */
async function readEvaluation(path: string): Promise<EvaluationReport> {
  const file = (await stat(path).catch(() => undefined))?.isDirectory() ? join(path, RESULTS_NAME) : path;
  let r: Partial<EvaluationReport>;
  try {
    r = JSON.parse(await readFile(file, 'utf8')) as Partial<EvaluationReport>;
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DdpsError(missing ? 'MISSING_FILE' : 'BAD_CONFIG', `evaluation ${file}: ${missing ? 'not found (ddps evaluate writes it once every student has finished)' : `not JSON (${(cause as Error).message})`}`, { file, cause });
  }
  if (r?.format !== 'ddps-evaluation' || !Array.isArray(r.runs) || !Array.isArray(r.sets)) {
    throw new DdpsError('BAD_CONFIG', `evaluation ${file}: not a ddps evaluation (expected the results.json that ddps evaluate writes, "format": "ddps-evaluation")`, { file });
  }
  return r as EvaluationReport;
}

/** Writes `<out>/index.html`, `<out>/classes/`, `<out>/img/` and `<out>/assets/`. */
export async function writeReport(opts: ReportOptions): Promise<ReportSummary> {
  const settings = settingsOf(opts);
  const store = ScoreStore.open(opts.store, { readOnly: true });
  try {
    const out = opts.out;
    for (const dir of ['img', 'classes', 'assets']) {
      await rm(join(out, dir), { recursive: true, force: true });
      await mkdir(join(out, dir), { recursive: true });
    }
    const files: string[] = [];
    const problems: string[] = [];
    const selection = opts.selection === undefined ? undefined : await readSelection(opts.selection, out, files, problems);
    const evaluation = opts.evaluation === undefined ? undefined : await readEvaluation(opts.evaluation);
    const { classes, jobs } = buildClasses(store, selection, settings);
    await renderJobs(jobs, store, out, settings, problems);
    const tiles = await indexSheets(out, classes.map((c) => c.distilled[0] ?? c.sources[0] ?? {}));
    classes.forEach((c, i) => {
      const tile = tiles[i];
      if (tile !== undefined) c.tile = tile;
      const pictures: { file?: string }[] = [...(tile === undefined ? [] : [tile]), ...c.sources, ...(c.clusters?.rows.flatMap((r) => r.thumbs) ?? [])];
      for (const p of pictures) if (p.file !== undefined) files.push(p.file);
    });

    const data = {
      storeDir: store.dir,
      config: store.config,
      pack: store.pack,
      mixed: store.mixed.length,
      counts: store.counts(),
      runs: store.runs(),
      skipped: [...store.skipped()],
      selection,
      classes,
      problems,
      settings,
      ...(evaluation === undefined ? {} : { evaluation }),
    };
    await writeFile(join(out, 'assets', 'report.css'), CSS);
    await writeFile(join(out, 'assets', 'report.js'), SCRIPT);
    for (let i = 0; i < classes.length; i++) await writeFile(join(out, classPage(classes[i]!.cls)), classPageHtml(data, i));
    const index = join(out, 'index.html');
    await writeFile(index, indexPage(data));
    return { index, classes: classes.length, images: new Set(files).size, problems };
  } finally {
    await store.close();
  }
}
