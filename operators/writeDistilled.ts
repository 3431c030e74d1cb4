/**
 * Stage III sink: each rendered image becomes one WebDataset sample, `<key>.png`, `<key>.cls` and
 * `<key>.json` (where every cell came from, in original pixels).
 */
import { map, type OperatorFunction, pipe } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import type { SampleToWrite, ShardWriter } from '../storage/webdataset/index.js';
import type { RenderedImage } from './concat.js';
import type { DistilledImage } from './selectionTypes.js';
import { writeShards } from './writeShards.js';
import { type Box } from '../core/geometry.js';

/** What a distilled sample's `.json` records besides its cells: the budget, the layout and the class names. */
export interface ProvenanceOptions {
  ipc: number;
  mosaic: boolean;
  /** Class index -> name. */
  classNames: readonly string[];
}

/** Where one cell of a distilled image came from, in original pixels. */
export interface CellProvenance {
  source: string;
  shard: string;
  index: number;
  boxOriginal: Box;
  score: number;
  cluster: number;
  rank: number;
}

/** The `.json` of a distilled sample. */
export interface Provenance {
  class: number;
  name: string;
  ipc: number;
  mosaic: boolean;
  cells: CellProvenance[];
}

export function className(classNames: readonly string[], cls: number): string {
  const name = classNames[cls];
  if (name === undefined) throw new DdpsError('UNKNOWN_CLASS', `class ${cls}: the class names have classes 0..${classNames.length - 1}`);
  return name;
}

export function provenance(img: DistilledImage, opts: ProvenanceOptions): Provenance {
  return {
    class: img.cls,
    name: className(opts.classNames, img.cls),
    ipc: opts.ipc,
    mosaic: opts.mosaic,
    cells: img.cells.map((p) => ({ source: p.key, shard: p.shard, index: p.index, boxOriginal: p.boxOriginal, score: p.score, cluster: p.cluster, rank: p.rank })),
  };
}

export function distilledSample(img: RenderedImage, opts: ProvenanceOptions): SampleToWrite {
  return { __key__: img.key, png: img.png, cls: String(img.cls), json: provenance(img, opts) };
}

/** What writeDistilled hands on for each image written. */
export interface WrittenImage {
  key: string;
  cls: number;
  bytes: number;
}

/** Writes each image in input order as `<key>.png`, `<key>.cls`, `<key>.json` (writeShards). */
export function writeDistilled(writer: ShardWriter, opts: ProvenanceOptions): OperatorFunction<RenderedImage, WrittenImage> {
  return pipe(
    writeShards(writer, (img: RenderedImage) => distilledSample(img, opts)),
    map(({ item }) => ({ key: item.key, cls: item.cls, bytes: item.png.length })),
  );
}
