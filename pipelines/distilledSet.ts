/**
 * A distilled set as training data: its shards, manifest, decoded images and a digest of its content.
 * Distilled sets are small by construction (IPC x classes images), so the images are held decoded;
 * everything that reads a whole source split streams instead.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { RgbImage } from '../models/classifier.js';
import { DdpsError } from '../core/errors.js';
import { decodeImage } from '../operators/decode.js';
import type { DistillManifest } from '../operators/selectionTypes.js';
import { readSamples, requireImage, sampleClass } from '../storage/webdataset/index.js';
import { MANIFEST_NAME } from './materialize.js';
import { listShards } from './relabel.js';

/** One decoded image of a distilled set, with its class and where it came from. */
export interface SetImage extends RgbImage {
  key: string;
  cls: number;
  shard: string;
  /** SHA-256 of the decoded HxWx3 pixels: the Python reader checks it sees the same image. */
  sha256: string;
  /** Whether the sample carries `.soft.json` (static labels). */
  soft: boolean;
}

/** A distilled folder as training data: shards, manifest, decoded images, content digest. */
export interface DistilledSet {
  dir: string;
  shards: string[];
  /** SHA-256 over the shards' names and bytes. */
  digest: string;
  manifest?: DistillManifest;
  images: SetImage[];
  /** Class index -> images. */
  perClass: Map<number, number>;
  /** The temperature of the first `.soft.json` (ddps relabel), when the set has static labels. */
  softTemperature?: number;
}

export async function fileSha256(path: string, h = createHash('sha256')): Promise<string> {
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** SHA-256 over each shard's base name and bytes, in order. */
export async function shardsDigest(shards: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  for (const s of shards) {
    h.update(`${basename(s)}\0`);
    for await (const chunk of createReadStream(s)) h.update(chunk as Buffer);
  }
  return h.digest('hex');
}

async function readManifest(dir: string): Promise<DistillManifest | undefined> {
  const path = join(dir, MANIFEST_NAME);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as DistillManifest;
  } catch (cause) {
    throw new DdpsError('BAD_CONFIG', `${path} is not valid JSON (${(cause as Error).message})`, { file: path, cause });
  }
}

/** Every image of the folder's shards, decoded, in shard order; each must have an image and a class. */
export async function loadDistilledSet(dir: string): Promise<DistilledSet> {
  const shards = await listShards(dir);
  const images: SetImage[] = [];
  const perClass = new Map<number, number>();
  let softTemperature: number | undefined;
  for (const url of shards) {
    for await (const sample of readSamples(url)) {
      const where = `sample "${sample.__key__}" in ${url}`;
      const bytes = requireImage(sample);
      const cls = sampleClass(sample);
      if (cls === undefined) throw new DdpsError('BAD_SAMPLE', `${where} has no class (.cls, or label/class/cls in .json): a distilled set needs its hard labels`, { sample: sample.__key__, file: url });
      const img = await decodeImage(bytes, { key: sample.__key__, url, cls });
      const soft = sample['soft.json'];
      if (soft !== undefined && softTemperature === undefined) softTemperature = (JSON.parse(soft.toString()) as { temperature: number }).temperature;
      images.push({
        key: sample.__key__,
        cls,
        shard: url,
        rgb: img.rgb,
        width: img.width,
        height: img.height,
        sha256: createHash('sha256').update(img.rgb).digest('hex'),
        soft: soft !== undefined,
      });
      perClass.set(cls, (perClass.get(cls) ?? 0) + 1);
    }
  }
  if (images.length === 0) throw new DdpsError('BAD_SHARD', `${dir}: the shards hold no samples`, { file: dir });
  const manifest = await readManifest(dir);
  return { dir, shards, digest: await shardsDigest(shards), images, perClass, ...(manifest ? { manifest } : {}), ...(softTemperature !== undefined ? { softTemperature } : {}) };
}

/** Images per class: the manifest's IPC, else the most images any class has. */
export function setIpc(set: DistilledSet): number {
  return set.manifest?.ipc ?? Math.max(...set.perClass.values());
}
