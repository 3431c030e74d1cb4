/**
 * The embedded default: a toy pack and a synthetic dataset built on first use into a cache folder,
 * so `ddps` runs on a fresh machine with no model hub and no data. Rebuilt when the generator version
 * changes; never committed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { defaultCacheDir } from '../models/pack.js';
import { buildToyPack } from './toyPack.js';
import { buildToyTeacher } from './toyTeacher.js';
import { writeToyDataset } from './toyData.js';

export { type ToyDatasetOptions, type ToyDatasetResult, writeToyDataset } from './toyData.js';
export { type ToyClass, TOY_CLASSES } from './classes.js';

/** Bump when the toy pack or data generator changes what it writes. */
export const TOY_VERSION = 2;

/** Where the toy world's pack, teacher, shards and class map are. */
export interface ToyWorld {
  dir: string;
  pack: string;
  /** A toy teacher classifier (ONNX) and its teacher config, for soft labels. */
  teacher: string;
  teacherConfig: string;
  data: string;
  classes: string;
  shards: string[];
}

/** The toy dataset `ddps toy` builds by default (and the cache holds). */
export const TOY_DEFAULTS = { perClass: 24, shards: 2, seed: 0 } as const;

/** Where to build the toy world, and how much data. */
export interface ToyWorldOptions {
  dir?: string;
  perClass?: number;
  shards?: number;
  seed?: number;
  force?: boolean;
}

const building = new Map<string, Promise<ToyWorld>>();

/**
 * The toy world in `dir` (default: the cache), built if missing or stale. Concurrent callers share one
 * build in a process; across processes each builds into a private folder and the first rename wins,
 * so nobody ever reads a half-written world.
 */
export function ensureToyWorld(opts: ToyWorldOptions = {}): Promise<ToyWorld> {
  const dir = resolve(opts.dir ?? join(defaultCacheDir(), `toy-v${TOY_VERSION}`));
  const params = { version: TOY_VERSION, perClass: opts.perClass ?? TOY_DEFAULTS.perClass, shards: opts.shards ?? TOY_DEFAULTS.shards, seed: opts.seed ?? TOY_DEFAULTS.seed };
  const key = `${dir}\0${JSON.stringify(params)}`;
  let p = building.get(key);
  if (!p || opts.force) {
    p = buildWorld(dir, params, opts.force ?? false);
    building.set(key, p);
    p.catch(() => building.delete(key));
  }
  return p;
}

function readStamp(dir: string, params: object): ToyWorld | undefined {
  const stamp = join(dir, 'toy.json');
  if (!existsSync(stamp)) return undefined;
  const saved = JSON.parse(readFileSync(stamp, 'utf8')) as { params: object; world: ToyWorld };
  return JSON.stringify(saved.params) === JSON.stringify(params) ? saved.world : undefined;
}

async function buildWorld(dir: string, params: { perClass: number; shards: number; seed: number }, force: boolean): Promise<ToyWorld> {
  const existing = force ? undefined : readStamp(dir, params);
  if (existing) return existing;
  const tmp = `${dir}.build-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await mkdir(tmp, { recursive: true });
  try {
    const pack = await buildToyPack(join(tmp, 'pack'));
    const teacher = await buildToyTeacher(join(tmp, 'teacher'));
    const written = await writeToyDataset(join(tmp, 'data'), { seed: params.seed, perClass: params.perClass, shards: params.shards });
    const rel = (p: string) => join(dir, relative(tmp, p));
    const world: ToyWorld = { dir, pack: rel(pack), teacher: rel(teacher.model), teacherConfig: rel(teacher.config), data: join(dir, 'data'), classes: rel(written.classesPath), shards: written.shards.map(rel) };
    await writeFile(join(tmp, 'toy.json'), JSON.stringify({ params, world }, null, 2));
    if (existsSync(dir) && (force || !readStamp(dir, params))) await rm(dir, { recursive: true, force: true });
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another process finished first: use its world.
      const theirs = readStamp(dir, params);
      if (!theirs) throw e;
      return theirs;
    }
    return world;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
