/**
 * The report's view of a distilled folder: its checked manifest, and each distilled sample's checked
 * provenance with its PNG copied under the output folder (one streaming pass over the shards).
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { DdpsError } from '../../core/errors.js';
import type { Box } from '../../core/geometry.js';
import type { DistillManifest } from '../../operators/selectionTypes.js';
import type { CellProvenance, Provenance } from '../../operators/writeDistilled.js';
import { readSamples, sampleClass, type WdsSample } from '../../storage/webdataset/index.js';
import { readManifest } from '../manifest.js';
import { fileId, type Picture } from './pictures.js';

export interface DistilledView extends Picture {
  key: string;
  cells: CellProvenance[];
  mosaic: boolean;
}

export interface Selection {
  dir: string;
  manifest: DistillManifest;
  byClass: Map<number, DistilledView[]>;
  /** Class names as the provenance gives them. */
  names: Map<number, string>;
}

function isBox(v: unknown): v is Box {
  return Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

export function parseProvenance(sample: WdsSample): Provenance {
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

/** Reads the folder; the PNGs go to `<out>/img/c<cls>/`, each file listed in `files`, what cannot be shown in `problems`. */
export async function readSelection(dir: string, out: string, files: string[], problems: string[]): Promise<Selection> {
  const manifest = await readManifest(dir);
  // The manifest names its shards; an older one without the list means every tar beside it.
  const listed = manifest.shards.length > 0 ? manifest.shards : (await readdir(dir)).filter((n) => n.endsWith('.tar')).sort();
  if (listed.length === 0) throw new DdpsError('MISSING_FILE', `selection ${dir}: no .tar shards beside manifest.json`, { file: dir });
  const byClass = new Map<number, DistilledView[]>();
  const names = new Map<number, string>();
  for await (const sample of readSamples(listed.map((n) => join(dir, n)))) {
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
    let list = byClass.get(cls);
    if (list === undefined) byClass.set(cls, (list = []));
    list.push(view);
  }
  for (const list of byClass.values()) list.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { dir, manifest, byClass, names };
}
