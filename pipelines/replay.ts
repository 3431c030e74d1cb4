/**
 * Replayed teacher labels (SRe2L's relabel, for RDED's training recipe): for every epoch and batch of
 * a student's training run, the augmentation it will apply and the teacher's logits on exactly that
 * augmented batch, so the trainer never runs the teacher. Format: docs/REPLAY.md.
 *
 *   plan (counter-based draws) -> render (operators/math/augment.ts) -> CutMix -> teacher -> fp16 rows
 *
 * Streaming: one batch is alive at a time; params.jsonl and logits.f16 are appended per batch, and
 * partial.json records the byte lengths after each whole epoch, so a killed run resumes at its last
 * finished epoch. index.json is written last: a folder without it is not a replay.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rm, truncate } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Classifier, TeacherConfig } from '../models/classifier.js';
import { DdpsError } from '../core/errors.js';
import { float32ToHalfArray } from '../models/float16.js';
import { keyedUniform } from '../models/noise.js';
import { applyCutMix, type AugmentConfig, type CutMix, type ImageAug, randomPermutation, renderAug, sampleCutMix, sampleImageAug } from '../operators/math/augment.js';
import { defaultCacheDir, isWritable } from '../models/pack.js';
import { writeJsonAtomic } from '../storage/json.js';
import { type DistilledSet, fileSha256 } from './distilledSet.js';
import type { EvalProfile } from './evalProfiles.js';

/** The format name and version an index.json carries. */
export const REPLAY_FORMAT = 'ddps-replay';
/** Version of the replay format; a reader refuses another. */
export const REPLAY_VERSION = 1;
/** keyedUniform stream of an image's augmentation in one epoch: REPLAY_STREAM + epoch. */
export const REPLAY_STREAM = 5_000_000;
const INDEX = 'index.json';
const PARAMS = 'params.jsonl';
const LOGITS = 'logits.f16';
const PARTIAL = 'partial.json';

/** Everything that determines a replay's content. */
export interface ReplaySpec {
  profile: string;
  /** The students' input side. */
  size: number;
  augment: AugmentConfig;
  epochs: number;
  batchSize: number;
  seed: number;
  teacher: { file: string; sha256: string; config: TeacherConfig };
  set: { digest: string; shards: string[] };
  classCount: number;
}

export interface ReplayImage {
  key: string;
  cls: number;
  shard: string;
  width: number;
  height: number;
  sha256: string;
}

/** index.json of a replay folder (docs/REPLAY.md). */
export interface ReplayIndex extends ReplaySpec {
  format: typeof REPLAY_FORMAT;
  version: typeof REPLAY_VERSION;
  digest: string;
  images: ReplayImage[];
  batchesPerEpoch: number;
  params: string;
  logits: string;
  createdBy: string;
}

/** One line of params.jsonl. */
export interface ReplayBatch {
  epoch: number;
  batch: number;
  /** First row of this batch in logits.f16. */
  row: number;
  /** Indices into the index's images. */
  images: number[];
  augs: ImageAug[];
  cutmix: CutMix;
}

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

export function replayDigest(spec: ReplaySpec): string {
  return createHash('sha256').update(`${REPLAY_FORMAT}/${REPLAY_VERSION}\n${canonicalJson(spec)}`).digest('hex');
}

/** `<profile>-e<epochs>-b<batch>-s<seed>-<digest 12>`: readable, and unique to the content. */
export function replayName(spec: ReplaySpec): string {
  return `${spec.profile}-e${spec.epochs}-b${spec.batchSize}-s${spec.seed}-${replayDigest(spec).slice(0, 12)}`;
}

/** The order of the images in one epoch. */
export function epochOrder(seed: number, epoch: number, n: number): number[] {
  return randomPermutation(keyedUniform(seed, 'replay:order', epoch), n);
}

/**
 * Every batch of the run, in training order: the epoch's order cut into batches (the last one
 * shorter), each image's augmentation drawn from its own stream (seed, key, REPLAY_STREAM + epoch),
 * each batch's CutMix from (seed, "replay:cutmix:<epoch>", batch). An image's augmentation depends on
 * its key and the epoch only, never on the batch size.
 */
export function* replayPlan(spec: Pick<ReplaySpec, 'epochs' | 'batchSize' | 'seed' | 'size' | 'augment'>, images: readonly Pick<ReplayImage, 'key' | 'width' | 'height'>[], fromEpoch = 0): Generator<ReplayBatch> {
  const n = images.length;
  for (let epoch = fromEpoch; epoch < spec.epochs; epoch++) {
    const order = epochOrder(spec.seed, epoch, n);
    for (let batch = 0, start = 0; start < n; batch++, start += spec.batchSize) {
      const idx = order.slice(start, start + spec.batchSize);
      const augs = idx.map((i) => sampleImageAug(keyedUniform(spec.seed, images[i]!.key, REPLAY_STREAM + epoch), images[i]!.width, images[i]!.height, spec.augment));
      const cutmix = sampleCutMix(keyedUniform(spec.seed, `replay:cutmix:${epoch}`, batch), idx.length, spec.size, spec.augment.cutmixBeta);
      yield { epoch, batch, row: epoch * n + start, images: idx, augs, cutmix };
    }
  }
}

/** Little-endian float16 bytes of the rows. */
function halfRows(rows: Float32Array[], classCount: number): Buffer {
  const buf = Buffer.alloc(rows.length * classCount * 2);
  rows.forEach((row, r) => {
    const half = float32ToHalfArray(row);
    for (let c = 0; c < classCount; c++) buf.writeUInt16LE(half[c]!, (r * classCount + c) * 2);
  });
  return buf;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (cause) {
    throw new DdpsError('BAD_CONFIG', `${path} is not valid JSON (${(cause as Error).message})`, { file: path, cause });
  }
}

/** The index of a replay folder, or undefined when it has none (an unfinished or absent replay). */
export async function readReplayIndex(dir: string): Promise<ReplayIndex | undefined> {
  const index = await readJson<ReplayIndex>(join(dir, INDEX));
  if (index !== undefined && (index.format !== REPLAY_FORMAT || index.version !== REPLAY_VERSION)) {
    throw new DdpsError('BAD_CONFIG', `${join(dir, INDEX)} is not a ${REPLAY_FORMAT} version ${REPLAY_VERSION} index`, { file: join(dir, INDEX) });
  }
  return index;
}

export interface WriteReplayOptions {
  /** The replay folder (created). */
  dir: string;
  spec: ReplaySpec;
  set: DistilledSet;
  teacher: Pick<Classifier, 'logits'>;
  /** After each batch: batches done and in all. */
  onBatch?: (done: number, total: number) => void;
}

/** Writes (or finishes) the replay in `dir`; returns its index. An existing complete replay of the same digest is kept. */
export async function writeReplay(opts: WriteReplayOptions): Promise<ReplayIndex> {
  const { dir, spec, set } = opts;
  const digest = replayDigest(spec);
  const done = await readReplayIndex(dir);
  if (done?.digest === digest) return done;
  if (!Number.isSafeInteger(spec.epochs) || spec.epochs < 1 || !Number.isSafeInteger(spec.batchSize) || spec.batchSize < 1) {
    throw new DdpsError('BAD_ARGUMENT', `replay: epochs ${spec.epochs} and batch size ${spec.batchSize} must be whole numbers >= 1`);
  }
  await mkdir(dir, { recursive: true });
  await rm(join(dir, INDEX), { force: true });
  const images: ReplayImage[] = set.images.map(({ key, cls, shard, width, height, sha256 }) => ({ key, cls, shard: basename(shard), width, height, sha256 }));
  const n = images.length;
  const batchesPerEpoch = Math.ceil(n / spec.batchSize);
  const partial = await readJson<{ digest: string; epochs: number; paramsBytes: number; logitsBytes: number }>(join(dir, PARTIAL));
  const resume = partial?.digest === digest ? partial : { digest, epochs: 0, paramsBytes: 0, logitsBytes: 0 };
  for (const [name, bytes] of [[PARAMS, resume.paramsBytes], [LOGITS, resume.logitsBytes]] as const) {
    if (existsSync(join(dir, name))) await truncate(join(dir, name), bytes);
    else if (bytes > 0) throw new DdpsError('BAD_CONFIG', `${join(dir, PARTIAL)} records ${bytes} bytes of ${name}, which is missing; delete ${dir} and run again`, { file: join(dir, PARTIAL) });
  }
  const params = await open(join(dir, PARAMS), 'a');
  const logits = await open(join(dir, LOGITS), 'a');
  const total = spec.epochs * batchesPerEpoch;
  let batches = resume.epochs * batchesPerEpoch;
  let paramsBytes = resume.paramsBytes;
  let logitsBytes = resume.logitsBytes;
  opts.onBatch?.(batches, total);
  try {
    for (const b of replayPlan(spec, images, resume.epochs)) {
      const rendered = b.images.map((i, j) => renderAug(set.images[i]!, b.augs[j]!, spec.size));
      const rows = await opts.teacher.logits(applyCutMix(rendered, b.cutmix));
      if (rows.some((r) => r.length !== spec.classCount)) {
        throw new DdpsError('BAD_CONFIG', `teacher ${spec.teacher.file} gives ${rows.find((r) => r.length !== spec.classCount)!.length} logits per image, but the dataset has ${spec.classCount} classes; give the teacher config "classes"`, { file: spec.teacher.file });
      }
      const line = Buffer.from(`${JSON.stringify(b)}\n`);
      const half = halfRows(rows, spec.classCount);
      await params.write(line);
      await logits.write(half);
      paramsBytes += line.length;
      logitsBytes += half.length;
      opts.onBatch?.(++batches, total);
      if (b.batch === batchesPerEpoch - 1) {
        await params.sync();
        await logits.sync();
        await writeJsonAtomic(join(dir, PARTIAL), { digest, epochs: b.epoch + 1, paramsBytes, logitsBytes });
      }
    }
  } finally {
    await params.close();
    await logits.close();
  }
  const index: ReplayIndex = { format: REPLAY_FORMAT, version: REPLAY_VERSION, digest, ...spec, images, batchesPerEpoch, params: PARAMS, logits: LOGITS, createdBy: 'ddps' };
  await writeJsonAtomic(join(dir, INDEX), index);
  await rm(join(dir, PARTIAL), { force: true });
  return index;
}

/** A replay's spec; without a teacher, any teacher's replay may serve. */
export type ReplayQuery = Omit<ReplaySpec, 'teacher'> & { teacher?: ReplaySpec['teacher'] };

/** Why a stored replay cannot serve `spec`, naming the first field that differs; undefined when it can. */
export function replayMismatch(index: ReplayIndex, spec: ReplayQuery): string | undefined {
  if (index.epochs !== spec.epochs || index.batchSize !== spec.batchSize) {
    return `was made for ${index.epochs} epochs at batch size ${index.batchSize}, but this run trains ${spec.epochs} epochs at batch size ${spec.batchSize}`;
  }
  const fields: [string, unknown, unknown][] = [
    ['the distilled set', index.set.digest, spec.set.digest],
    ['the seed', index.seed, spec.seed],
    ['the profile', index.profile, spec.profile],
    ['the input size', index.size, spec.size],
    ['the augmentation', canonicalJson(index.augment), canonicalJson(spec.augment)],
    ['the classes', index.classCount, spec.classCount],
  ];
  if (spec.teacher) fields.push(['the teacher', `${index.teacher.sha256}${canonicalJson(index.teacher.config)}`, `${spec.teacher.sha256}${canonicalJson(spec.teacher.config)}`]);
  const diff = fields.find(([, a, b]) => a !== b);
  return diff ? `was made for another ${diff[0]}` : undefined;
}

export interface FindReplayOptions {
  /** Where replays live (a folder of replay folders). */
  cacheDir: string;
  spec: ReplayQuery;
  set: DistilledSet;
  /** Makes the replay when none matches (spec.teacher must describe it). */
  teacher?: Pick<Classifier, 'logits'>;
  onBatch?: (done: number, total: number) => void;
}

/**
 * The replay folder for `spec`: the cached one when its index matches, else a new one made with the
 * teacher. Without a teacher, any stored replay of this set that matches in everything but the teacher
 * serves; if none does, the error names the one that differs (epochs, batch size, ...) or says that
 * none exists.
 */
export async function findReplay(opts: FindReplayOptions): Promise<{ dir: string; made: boolean }> {
  const { spec } = opts;
  if (opts.teacher) {
    if (!spec.teacher) throw new DdpsError('BAD_ARGUMENT', 'findReplay: a teacher needs spec.teacher (its file, SHA-256 and config)');
    const full = { ...spec, teacher: spec.teacher };
    const dir = join(opts.cacheDir, replayName(full));
    const index = await readReplayIndex(dir);
    if (index !== undefined && replayMismatch(index, full) === undefined) return { dir, made: false };
    await writeReplay({ dir, spec: full, set: opts.set, teacher: opts.teacher, ...(opts.onBatch ? { onBatch: opts.onBatch } : {}) });
    return { dir, made: true };
  }
  const names = existsSync(opts.cacheDir) ? (await readdir(opts.cacheDir)).sort() : [];
  let differing: { file: string; why: string } | undefined;
  for (const name of names) {
    const dir = join(opts.cacheDir, name);
    const other = await readReplayIndex(dir).catch(() => undefined);
    if (other === undefined || other.set.digest !== spec.set.digest || other.seed !== spec.seed) continue;
    const why = replayMismatch(other, spec);
    if (why === undefined) return { dir, made: false };
    differing ??= { file: join(dir, INDEX), why };
  }
  if (differing) {
    throw new DdpsError('STORE_MISMATCH', `replay ${differing.file} ${differing.why}; give --teacher (and --teacher-config) to make the replay this run needs`, { file: differing.file });
  }
  throw new DdpsError('MISSING_FILE', `no replay labels for ${opts.set.dir} (seed ${spec.seed}) in ${opts.cacheDir}; give --teacher and --teacher-config to make them, or use --labels static | hard`, { file: opts.set.dir });
}

/** <set>/replay when the folder is writable, else the cache (a read-only set still gets its replays). */
export function defaultReplayDir(set: Pick<DistilledSet, 'dir' | 'digest'>): string {
  return isWritable(set.dir) ? join(set.dir, 'replay') : join(defaultCacheDir(), 'replay', set.digest.slice(0, 16));
}

export interface ReplaysForOptions {
  set: DistilledSet;
  profile: EvalProfile;
  epochs: number;
  batchSize: number;
  /** One replay per student seed. */
  seeds: readonly number[];
  classCount: number;
  /** Makes missing replays; without one, only stored replays serve. */
  teacher?: Pick<Classifier, 'logits' | 'path' | 'config'>;
  /** Default: defaultReplayDir(set). */
  cacheDir?: string;
  onBatch?: (seed: number, done: number, total: number) => void;
}

/** The replay folder of each seed (seed -> folder), found in the cache or made with the teacher. */
export async function replaysFor(opts: ReplaysForOptions): Promise<Record<string, string>> {
  const { set, profile } = opts;
  const teacher = opts.teacher ? { file: basename(opts.teacher.path), sha256: await fileSha256(opts.teacher.path), config: opts.teacher.config } : undefined;
  const out: Record<string, string> = {};
  for (const seed of opts.seeds) {
    const found = await findReplay({
      cacheDir: opts.cacheDir ?? defaultReplayDir(set),
      spec: {
        profile: profile.name,
        size: profile.size,
        augment: profile.augment,
        epochs: opts.epochs,
        batchSize: opts.batchSize,
        seed,
        set: { digest: set.digest, shards: set.shards.map((p) => basename(p)) },
        classCount: opts.classCount,
        ...(teacher ? { teacher } : {}),
      },
      set,
      ...(opts.teacher ? { teacher: opts.teacher } : {}),
      ...(opts.onBatch ? { onBatch: (done: number, total: number) => opts.onBatch!(seed, done, total) } : {}),
    });
    out[String(seed)] = found.dir;
  }
  return out;
}
