/**
 * The embedded default: a toy pack and a synthetic dataset built on first use into a cache folder,
 * so `ddps` runs on a fresh machine with no model hub and no data. Rebuilt when the generator version
 * changes; never committed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultCacheDir } from '../pack.js';
import { buildToyPack } from './toyPack.js';
import { writeToyDataset } from './toyData.js';

/** Bump when the toy pack or data generator changes what it writes. */
export const TOY_VERSION = 1;

export interface ToyWorld {
  dir: string;
  pack: string;
  data: string;
  classes: string;
  shards: string[];
}

export interface ToyWorldOptions {
  dir?: string;
  perClass?: number;
  shards?: number;
  seed?: number;
  force?: boolean;
}

export async function ensureToyWorld(opts: ToyWorldOptions = {}): Promise<ToyWorld> {
  const dir = opts.dir ?? join(defaultCacheDir(), `toy-v${TOY_VERSION}`);
  const params = { version: TOY_VERSION, perClass: opts.perClass ?? 24, shards: opts.shards ?? 2, seed: opts.seed ?? 0 };
  const stamp = join(dir, 'toy.json');
  if (!opts.force && existsSync(stamp)) {
    const saved = JSON.parse(readFileSync(stamp, 'utf8')) as { params: typeof params; world: ToyWorld };
    if (JSON.stringify(saved.params) === JSON.stringify(params)) return saved.world;
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const pack = await buildToyPack(join(dir, 'pack'));
  const data = join(dir, 'data');
  const written = await writeToyDataset(data, { seed: params.seed, perClass: params.perClass, shards: params.shards });
  const world: ToyWorld = { dir, pack, data, classes: written.classesPath, shards: written.shards };
  // The stamp is written last: an interrupted build is redone, never half-used.
  await writeFile(stamp, JSON.stringify({ params, world }, null, 2));
  return world;
}
