/**
 * Stage III rendering: distilled images laid out by math/mosaic.ts -> PNG.
 *
 * Crops are cut from the original images, re-read from their shards, never from a resized or
 * lossy intermediate. Every shard a run needs is read once, in one streaming pass; a needed sample
 * is decoded, all its crops are cut and resized to the cell size at once, and the decoded image is
 * dropped. Memory is the cell crops (cells x cell side^2 x 3 bytes) plus the few samples being
 * decoded, whatever the size of the dataset; a crop is freed once the last image using it is drawn.
 */
import { from, mergeMap, type OperatorFunction, toArray } from 'rxjs';
import sharp from 'sharp';
import { DdpsError } from '../core/errors.js';
import { readSamples, requireImage, type WdsSample } from '../storage/webdataset/index.js';
import { DEFAULT_CONCURRENCY, decodeImage } from './decode.js';
import type { Flow, Ticket } from './flow.js';
import { mapOrdered } from './mapOrdered.js';
import type { DistilledImage, RankedPatch } from './selectionTypes.js';
import { reason } from './skips.js';
import type { Decoded } from './types.js';
import { type Box } from '../core/geometry.js';

/** Options of concat: output size, mosaics or single patches, concurrency, and a Flow bounding rendered images. */
export interface ConcatOptions {
  /** Side of the square output image (224 by default in materialize). */
  outputSize: number;
  /** 2x2 mosaics (cells of outputSize / 2) or one patch per image. */
  mosaic: boolean;
  /** Samples decoded, and images encoded, at once (default 4, sharp's thread pool). */
  concurrency?: number;
  /**
   * Caps the rendered images alive downstream: each takes a ticket before it is drawn and carries
   * it on; the sink releases it once the image is written.
   */
  flow?: Flow;
}

/** A distilled image with its PNG bytes. */
export interface RenderedImage extends DistilledImage {
  png: Buffer;
  ticket?: Ticket;
}

/** Raw RGB crops (cell x cell x 3), by cropId. */
export type CropCache = Map<string, Uint8Array>;

/** The cell side: half the output for mosaics (which must split evenly), the whole output otherwise. */
export function cellSize(outputSize: number, mosaic: boolean): number {
  if (!Number.isSafeInteger(outputSize) || outputSize < 1) throw new DdpsError('BAD_ARGUMENT', `output size ${outputSize}: expected a whole number of pixels >= 1`);
  if (!mosaic) return outputSize;
  if (outputSize % 2 !== 0) throw new DdpsError('BAD_ARGUMENT', `output size ${outputSize}: a 2x2 mosaic needs an even side`);
  return outputSize / 2;
}

/** One crop of one source image; cells that reuse a patch share it. */
export function cropId(p: Pick<RankedPatch, 'shard' | 'key' | 'boxOriginal'>): string {
  return `${p.shard}\n${p.key}\n${p.boxOriginal.join(',')}`;
}

interface SampleCrops {
  cls: number;
  /** cropId -> box in original pixels. */
  boxes: Map<string, Box>;
}

/** shard -> sample key -> the crops it must give, shards and samples in order of first use. */
export function cropPlan(images: readonly DistilledImage[]): Map<string, Map<string, SampleCrops>> {
  const plan = new Map<string, Map<string, SampleCrops>>();
  for (const img of images) {
    for (const p of img.cells) {
      let samples = plan.get(p.shard);
      if (samples === undefined) plan.set(p.shard, (samples = new Map()));
      let sample = samples.get(p.key);
      if (sample === undefined) samples.set(p.key, (sample = { cls: p.cls, boxes: new Map() }));
      sample.boxes.set(cropId(p), p.boxOriginal);
    }
  }
  return plan;
}

/** The box cut from the decoded image and resized (Lanczos3, stretched if not square) to cell x cell. */
export async function cutCrop(img: Decoded, box: Box, cell: number): Promise<Uint8Array> {
  const [x, y, w, h] = box;
  const where = `sample "${img.key}" in ${img.url}`;
  if (![x, y, w, h].every(Number.isSafeInteger) || x < 0 || y < 0 || w < 1 || h < 1 || x + w > img.width || y + h > img.height) {
    throw new DdpsError('BAD_SAMPLE', `${where}: patch box [${box.join(', ')}] is not a box of whole pixels inside the ${img.width}x${img.height} original`, {
      sample: img.key,
      file: img.url,
    });
  }
  try {
    const data = await sharp(img.rgb, { raw: { width: img.width, height: img.height, channels: 3 } })
      .extract({ left: x, top: y, width: w, height: h })
      .resize(cell, cell, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (cause) {
    throw new DdpsError('BAD_SAMPLE', `${where}: cannot cut [${box.join(', ')}] to ${cell}x${cell}: sharp says "${reason(cause)}"`, {
      sample: img.key,
      file: img.url,
      cause,
    });
  }
}

async function cutSample(sample: WdsSample, crops: SampleCrops, cell: number, out: CropCache): Promise<void> {
  const img = await decodeImage(requireImage(sample), { key: sample.__key__, url: sample.__url__, cls: crops.cls });
  await Promise.all([...crops.boxes].map(async ([id, box]) => out.set(id, await cutCrop(img, box, cell))));
}

/** One streaming pass over `shard`: the crops of the samples in `wanted`, into `out`. */
export async function cutShard(shard: string, wanted: Map<string, SampleCrops>, cell: number, out: CropCache, concurrency = DEFAULT_CONCURRENCY): Promise<void> {
  const found = new Set<string>();
  const pending = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  try {
    for await (const sample of readSamples(shard)) {
      const crops = wanted.get(sample.__key__);
      if (crops === undefined || found.has(sample.__key__)) continue;
      found.add(sample.__key__);
      const job: Promise<void> = cutSample(sample, crops, cell, out)
        .catch((error: unknown) => void (failure ??= { error }))
        .finally(() => pending.delete(job));
      pending.add(job);
      if (pending.size >= concurrency) await Promise.race(pending);
      // Stop at the last needed sample rather than reading the shard's tail.
      if (failure !== undefined || found.size === wanted.size) break;
    }
  } finally {
    await Promise.all(pending);
  }
  if (failure !== undefined) throw failure.error;
  const missing = [...wanted.keys()].filter((k) => !found.has(k));
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more selected samples)` : '';
    throw new DdpsError(
      'STORE_MISMATCH',
      `shard ${shard} has no sample "${missing[0]}"${more}, but the selection takes patches from it there: the shards changed since they were scored, or the store was scored from other shards`,
      { sample: missing[0]!, file: shard },
    );
  }
}

/** Every crop the images need, each shard read once. */
export async function cutCrops(images: readonly DistilledImage[], cell: number, concurrency = DEFAULT_CONCURRENCY): Promise<CropCache> {
  const out: CropCache = new Map();
  for (const [shard, wanted] of cropPlan(images)) await cutShard(shard, wanted, cell, out, concurrency);
  return out;
}

/** Copies a cell x cell x 3 crop into the size x size x 3 image at pixel (left, top). */
export function placeCell(dst: Uint8Array, size: number, crop: Uint8Array, cell: number, left: number, top: number): void {
  const row = cell * 3;
  for (let r = 0; r < cell; r++) dst.set(crop.subarray(r * row, (r + 1) * row), ((top + r) * size + left) * 3);
}

/** The raw RGB image: cells in TL, TR, BL, BR order for a mosaic, the one cell otherwise. */
export function composeImage(image: DistilledImage, crops: CropCache, outputSize: number, mosaic: boolean): Uint8Array {
  const cell = cellSize(outputSize, mosaic);
  const want = mosaic ? 4 : 1;
  if (image.cells.length !== want) {
    throw new DdpsError('BAD_ARGUMENT', `distilled image ${image.key}: has ${image.cells.length} cells, a ${mosaic ? 'mosaic' : 'single-patch image'} has ${want}`);
  }
  const out = new Uint8Array(outputSize * outputSize * 3);
  image.cells.forEach((p, j) => {
    const crop = crops.get(cropId(p));
    if (crop === undefined) throw new DdpsError('BAD_ARGUMENT', `distilled image ${image.key}: the crop of sample "${p.key}" in ${p.shard} was not cut`, { sample: p.key, file: p.shard });
    placeCell(out, outputSize, crop, cell, (j % 2) * cell, Math.floor(j / 2) * cell);
  });
  return out;
}

/** Fixed encoder settings, and sharp writes no metadata, so the same pixels give the same bytes. */
export async function encodePng(rgb: Uint8Array, size: number): Promise<Buffer> {
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } })
    .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
    .toBuffer();
}

/**
 * Collects the whole stream (the layout is small), cuts every crop, then draws the images in input
 * order. Each crop is dropped after the last image that uses it.
 */
export function concat(opts: ConcatOptions): OperatorFunction<DistilledImage, RenderedImage> {
  const cell = cellSize(opts.outputSize, opts.mosaic);
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  return (source) =>
    source.pipe(
      toArray(),
      mergeMap(async (images) => ({ images, crops: await cutCrops(images, cell, concurrency) })),
      mergeMap(({ images, crops }) => {
        const uses = new Map<string, number>();
        for (const img of images) for (const p of img.cells) uses.set(cropId(p), (uses.get(cropId(p)) ?? 0) + 1);
        return from(images).pipe(
          mapOrdered(async (img: DistilledImage): Promise<RenderedImage> => {
            const ticket = await opts.flow?.acquire();
            try {
              const rgb = composeImage(img, crops, opts.outputSize, opts.mosaic);
              for (const p of img.cells) {
                const id = cropId(p);
                const left = uses.get(id)! - 1;
                if (left === 0) crops.delete(id);
                uses.set(id, left);
              }
              const png = await encodePng(rgb, opts.outputSize);
              return ticket === undefined ? { ...img, png } : { ...img, png, ticket };
            } catch (err) {
              ticket?.release();
              throw err;
            }
          }, concurrency),
        );
      }),
    );
}
