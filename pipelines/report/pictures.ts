/**
 * The report's pictures: each source image on its score map with its patches boxed, patch
 * thumbnails, and the small pictures of the index. Source images are re-read from their shards: each
 * needed shard is streamed once, in name order, stopping after its last needed sample, and only those
 * samples are decoded, a few at a time.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { isDdpsError } from '../../core/errors.js';
import type { Box } from '../../core/geometry.js';
import { DEFAULT_CONCURRENCY, decodeImage } from '../../operators/decode.js';
import { mapOrderedIterable } from '../../operators/mapOrdered.js';
import { overlayScoreMap, strokeBox, type Raster, type Rgb } from '../../operators/math/heatmap.js';
import type { Decoded } from '../../operators/types.js';
import type { ScoreStore } from '../../storage/store/index.js';
import { readNamedSamples, sampleImage, type WdsSample } from '../../storage/webdataset/index.js';

/** An image on a page: a file under the output folder (relative to it), or why there is none. */
export interface Picture {
  file?: string;
  width?: number;
  height?: number;
  missing?: string;
}

export interface SourceView extends Picture {
  key: string;
  shard: string;
  boxes: Box[];
  scores: number[];
}

export interface ThumbView extends Picture {
  key: string;
  index: number;
  rank: number;
  score?: number;
}

/** What one source sample must yield: its score-map picture and/or patch thumbnails. */
export interface SampleJob {
  cls: number;
  source?: SourceView;
  thumbs: { view: ThumbView; box: Box }[];
}

/** shard -> sample key -> its job. */
export type Jobs = Map<string, Map<string, SampleJob>>;

export interface PictureSizes {
  /** Long side of a source image picture. */
  overlaySize: number;
  /** Side of a cluster thumbnail. */
  thumbSize: number;
}

/** Outline colour of selected patches: far from every viridis colour, so it shows on any part of the map. */
export const BOX_COLOUR: Rgb = [255, 32, 112];
const BOX_THICKNESS = 3;
/** Side of a class's picture on the index, and how many share one sprite sheet (a square grid). */
export const INDEX_TILE = 48;
const SHEET_COLUMNS = 10;
const SHEET_TILES = SHEET_COLUMNS * SHEET_COLUMNS;
const JPEG = { quality: 85, chromaSubsampling: '4:4:4' } as const;

/** File names from content, not from keys (which may hold any character). */
export function fileId(...parts: (string | number)[]): string {
  return createHash('sha1').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}

function rawInput(img: Decoded): Sharp {
  return sharp(img.rgb, { raw: { width: img.width, height: img.height, channels: 3 } });
}

async function writeJpeg(image: Sharp, out: string, file: string): Promise<void> {
  await mkdir(join(out, file, '..'), { recursive: true });
  await image.jpeg(JPEG).toFile(join(out, file));
}

/** The source drawn at overlaySize with its score map over it and its boxes outlined; returns what it could not line up. */
async function renderSource(img: Decoded, cls: number, view: SourceView, store: ScoreStore, out: string, sizes: PictureSizes): Promise<string[]> {
  const problems: string[] = [];
  const s = sizes.overlaySize / Math.max(img.width, img.height);
  const width = Math.max(1, Math.round(img.width * s));
  const height = Math.max(1, Math.round(img.height * s));
  const photo: Raster = { width, height, rgb: new Uint8Array(await rawInput(img).resize(width, height, { fit: 'fill' }).raw().toBuffer()) };
  const rec = store.getSample(view.key, { patches: false });
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
  await writeJpeg(sharp(photo.rgb, { raw: { width, height, channels: 3 } }), out, file);
  Object.assign(view, { file, width, height });
  return problems;
}

async function renderThumb(img: Decoded, cls: number, view: ThumbView, box: Box, out: string, sizes: PictureSizes): Promise<void> {
  const left = Math.max(0, box[0]);
  const top = Math.max(0, box[1]);
  const width = Math.min(img.width, box[0] + box[2]) - left;
  const height = Math.min(img.height, box[1] + box[3]) - top;
  if (width < 1 || height < 1) {
    view.missing = `box [${box.join(', ')}] lies outside the ${img.width}x${img.height} image`;
    return;
  }
  const file = `img/c${cls}/patch-${fileId(view.key, view.index)}.jpg`;
  await writeJpeg(rawInput(img).extract({ left, top, width, height }).resize(sizes.thumbSize, sizes.thumbSize, { fit: 'fill' }), out, file);
  Object.assign(view, { file, width: sizes.thumbSize, height: sizes.thumbSize });
}

function markMissing(job: SampleJob, why: string): void {
  if (job.source) job.source.missing = why;
  for (const t of job.thumbs) t.view.missing = why;
}

/** One sample's pictures; returns the problems met, so that they are listed in input order. */
async function renderSample(sample: WdsSample, job: SampleJob, store: ScoreStore, out: string, sizes: PictureSizes): Promise<string[]> {
  const buf = sampleImage(sample);
  if (buf === undefined) {
    markMissing(job, 'the sample has no image');
    return [];
  }
  try {
    const img = await decodeImage(buf, { key: sample.__key__, url: sample.__url__, cls: job.cls });
    const problems = job.source ? await renderSource(img, job.cls, job.source, store, out, sizes) : [];
    for (const t of job.thumbs) await renderThumb(img, job.cls, t.view, t.box, out, sizes);
    return problems;
  } catch (e) {
    if (!isDdpsError(e, 'BAD_SAMPLE')) throw e;
    markMissing(job, e.message);
    return [e.message];
  }
}

/** Every job's pictures; a missing shard or sample, or a bad image, becomes a placeholder and a problem. */
export async function renderJobs(jobs: Jobs, store: ScoreStore, out: string, sizes: PictureSizes, problems: string[]): Promise<void> {
  for (const shard of [...jobs.keys()].sort()) {
    const pending = jobs.get(shard)!;
    const found = new Set<string>();
    const skips: string[] = [];
    try {
      const samples = readNamedSamples(shard, pending, found, { onError: 'skip', onSkip: (info) => void skips.push(info.reason) });
      const render = (sample: WdsSample): Promise<string[]> => renderSample(sample, pending.get(sample.__key__)!, store, out, sizes);
      for await (const met of mapOrderedIterable(samples, render, DEFAULT_CONCURRENCY)) problems.push(...met);
      problems.push(...skips);
    } catch (e) {
      if (!isDdpsError(e, 'MISSING_FILE')) throw e;
      problems.push(e.message);
      for (const [key, job] of pending) if (!found.has(key)) markMissing(job, `shard ${shard} is missing`);
      continue;
    }
    for (const [key, job] of [...pending].filter(([k]) => !found.has(k)).sort(([a], [b]) => (a < b ? -1 : 1))) {
      markMissing(job, `not found in ${shard}`);
      problems.push(`sample "${key}" was not found in ${shard}`);
    }
  }
}

/** Where a class's picture is on the index: a tile of a sprite sheet. */
export interface Tile {
  file: string;
  x: number;
  y: number;
}

/**
 * The classes' small pictures on the index, made from pictures already written, 100 to a sprite
 * sheet: a browser loads a thousand classes' pictures as ten files (a thousand small files take it
 * seconds). Entries without a picture get no tile.
 */
export async function indexSheets(out: string, pictures: readonly Picture[]): Promise<(Tile | undefined)[]> {
  const tiles: (Tile | undefined)[] = [];
  for (let start = 0; start < pictures.length; start += SHEET_TILES) {
    const group = pictures.slice(start, start + SHEET_TILES);
    const file = `img/index-${start / SHEET_TILES}.jpg`;
    const rows = Math.ceil(group.length / SHEET_COLUMNS);
    const placed = group.map((p, i) => (p.file === undefined ? undefined : { p, x: (i % SHEET_COLUMNS) * INDEX_TILE, y: Math.floor(i / SHEET_COLUMNS) * INDEX_TILE }));
    const composite = await Promise.all(
      placed.flatMap((t) => (t === undefined ? [] : [sharp(join(out, t.p.file!)).resize(INDEX_TILE, INDEX_TILE, { fit: 'cover' }).toBuffer().then((input) => ({ input, left: t.x, top: t.y }))])),
    );
    const sheet = sharp({ create: { width: SHEET_COLUMNS * INDEX_TILE, height: rows * INDEX_TILE, channels: 3, background: '#eef1f6' } }).composite(composite);
    await writeJpeg(sheet, out, file);
    tiles.push(...placed.map((t) => (t === undefined ? undefined : { file, x: t.x, y: t.y })));
  }
  return tiles;
}
