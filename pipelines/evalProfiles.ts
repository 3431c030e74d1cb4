/**
 * Evaluation profiles (`ddps evaluate --profile`): python/ddps_eval/profiles.json is the one
 * documented home of every hyperparameter; this module reads and checks it, applies the command's
 * overrides, and derives what depends on the data (batch size, the full split's epochs).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DdpsError } from '../core/errors.js';
import { PYTHON_ROOT } from '../models/python.js';
import type { AugmentConfig } from '../operators/math/augment.js';

/** The one file holding every evaluation hyperparameter (read by TypeScript and Python). */
export const PROFILES_FILE = join(PYTHON_ROOT, 'ddps_eval', 'profiles.json');

export type ModelSpec = { arch: 'convnet'; depth: number; width: number; norm: 'batch' | 'instance' | 'none' } | { arch: 'resnet18'; smallInput: boolean };

/** One evaluation protocol of profiles.json, with its name. */
export interface EvalProfile {
  name: string;
  summary: string;
  /** A development profile: results are valid for relative comparisons only (`note` says so). */
  devOnly: boolean;
  note?: string;
  model: ModelSpec;
  size: number;
  epochs: number;
  seeds: number;
  optimizer: { name: 'adamw'; lr: number; betas: [number, number]; weightDecay: number };
  schedule: 'rded-half-cosine';
  batchSize: { upToIpc: [number, number][]; otherwise: number; doubleFromClasses: number };
  augment: AugmentConfig;
  temperature: number;
  normalize: { mean: [number, number, number]; std: [number, number, number] };
  test: { resize: number; crop: number };
  evaluate: { every: number; lastFraction: number };
  full: { batchSize: number; maxImagesSeen: number };
}

/** What the command line may change. */
export interface ProfileOverrides {
  epochs?: number;
  lr?: number;
  seeds?: number;
}

function bad(name: string, what: string): DdpsError {
  return new DdpsError('BAD_CONFIG', `${PROFILES_FILE}: profile "${name}": ${what}`, { file: PROFILES_FILE });
}

const isPositive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;

/** Checks the fields the TypeScript side relies on (the Python side reads the same object). */
export function checkProfile(name: string, raw: unknown): EvalProfile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(name, 'expected an object');
  const p = raw as EvalProfile;
  const need = (ok: boolean, what: string): void => {
    if (!ok) throw bad(name, what);
  };
  need(p.model?.arch === 'convnet' || p.model?.arch === 'resnet18', `model.arch is ${JSON.stringify(p.model?.arch)}, expected convnet or resnet18`);
  if (p.model.arch === 'convnet') need(isCount(p.model.depth) && isCount(p.model.width) && ['batch', 'instance', 'none'].includes(p.model.norm), 'convnet needs depth, width and norm batch | instance | none');
  for (const k of ['size', 'epochs', 'seeds'] as const) need(isCount(p[k]), `${k} is ${JSON.stringify(p[k])}, expected a whole number >= 1`);
  need(p.optimizer?.name === 'adamw' && isPositive(p.optimizer.lr) && p.optimizer.weightDecay >= 0 && p.optimizer.betas?.length === 2, 'optimizer must be {"name": "adamw", "lr", "betas", "weightDecay"}');
  need(p.schedule === 'rded-half-cosine', `schedule is ${JSON.stringify(p.schedule)}, expected rded-half-cosine`);
  const b = p.batchSize;
  need(Array.isArray(b?.upToIpc) && b.upToIpc.every((r) => isCount(r[0]) && isCount(r[1])) && isCount(b.otherwise) && isCount(b.doubleFromClasses), 'batchSize must be {"upToIpc": [[ipc, size], ...], "otherwise", "doubleFromClasses"}');
  const a = p.augment;
  need(isCount(a?.shufflePatches), 'augment.shufflePatches must be a whole number >= 1');
  need(a.rrcScale?.length === 2 && a.rrcScale[0] > 0 && a.rrcScale[0] <= a.rrcScale[1] && a.rrcScale[1] <= 1, 'augment.rrcScale must be [lo, hi] with 0 < lo <= hi <= 1');
  need(a.rrcRatio?.length === 2 && a.rrcRatio[0] > 0 && a.rrcRatio[0] <= a.rrcRatio[1], 'augment.rrcRatio must be [lo, hi] with 0 < lo <= hi');
  need(a.flip >= 0 && a.flip <= 1, 'augment.flip must be a probability');
  need(isPositive(a.cutmixBeta), 'augment.cutmixBeta must be positive');
  need(isPositive(p.temperature), 'temperature must be positive');
  need(p.normalize?.mean?.length === 3 && p.normalize.std?.length === 3 && p.normalize.std.every(isPositive), 'normalize must be {"mean": [r, g, b], "std": [r, g, b]}');
  need(isCount(p.test?.resize) && isCount(p.test.crop) && p.test.crop <= p.test.resize, 'test must be {"resize", "crop"} with crop <= resize');
  need(isCount(p.evaluate?.every) && p.evaluate.lastFraction > 0 && p.evaluate.lastFraction <= 1, 'evaluate must be {"every", "lastFraction" in (0, 1]}');
  need(isCount(p.full?.batchSize) && isCount(p.full.maxImagesSeen), 'full must be {"batchSize", "maxImagesSeen"}');
  need(!p.devOnly || typeof p.note === 'string', 'a devOnly profile needs a "note" saying its results are for relative comparisons only');
  return { ...p, name };
}

/** Every profile in the file, checked; keys starting with '_' are documentation. */
export function loadProfiles(file = PROFILES_FILE): Map<string, EvalProfile> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (cause) {
    throw new DdpsError('BAD_CONFIG', `cannot read the evaluation profiles ${file}: ${(cause as Error).message}`, { file, cause });
  }
  return new Map(Object.entries(raw).filter(([k]) => !k.startsWith('_')).map(([k, v]) => [k, checkProfile(k, v)]));
}

/** The named profile with the overrides applied. */
export function resolveProfile(name: string, overrides: ProfileOverrides = {}): EvalProfile {
  const profiles = loadProfiles();
  const p = profiles.get(name);
  if (!p) throw new DdpsError('BAD_ARGUMENT', `unknown evaluation profile "${name}"; the profiles (${PROFILES_FILE}) are ${[...profiles.keys()].join(', ')}`);
  const check = (k: string, v: number | undefined, ok: (v: number) => boolean): void => {
    if (v !== undefined && !ok(v)) throw new DdpsError('BAD_ARGUMENT', `--${k} ${v}: expected a ${k === 'lr' ? 'positive number' : 'whole number >= 1'}`);
  };
  check('epochs', overrides.epochs, isCount);
  check('seeds', overrides.seeds, isCount);
  check('lr', overrides.lr, isPositive);
  return {
    ...p,
    ...(overrides.epochs !== undefined ? { epochs: overrides.epochs } : {}),
    ...(overrides.seeds !== undefined ? { seeds: overrides.seeds } : {}),
    ...(overrides.lr !== undefined ? { optimizer: { ...p.optimizer, lr: overrides.lr } } : {}),
  };
}

/** RDED's batch size for a set of `ipc` images per class over `classes` classes (profile.batchSize). */
export function batchSizeFor(profile: Pick<EvalProfile, 'batchSize'>, ipc: number, classes: number): number {
  const rule = profile.batchSize;
  let size = rule.upToIpc.find(([upTo]) => ipc <= upTo)?.[1] ?? rule.otherwise;
  if (classes >= rule.doubleFromClasses) size *= 2;
  return Math.max(1, Math.min(size, ipc * classes));
}

/** Epochs of `--compare full` on `images` source images: the profile's, capped at maxImagesSeen / images. */
export function fullEpochs(profile: Pick<EvalProfile, 'epochs' | 'full'>, images: number): { epochs: number; capped: boolean } {
  const cap = Math.max(1, Math.floor(profile.full.maxImagesSeen / Math.max(1, images)));
  return cap < profile.epochs ? { epochs: cap, capped: true } : { epochs: profile.epochs, capped: false };
}
