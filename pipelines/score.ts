/**
 * Stages 0-II as one declarative pipeline: WebDataset shards -> score store. It reads like the method:
 *
 *   readShards -> decode -> resize -> batch -> encodeLatent -> lossDiff -> patchScore -> dift -> toStore
 *
 * Memory is bounded by the Flow window whatever the number of shards; the model runs on worker
 * threads (PackPool) while this thread decodes, batches and writes; a re-run passes over stored samples.
 */
import { concat, concatAll, defer, fromEvent, ignoreElements, lastValueFrom, map, NEVER, type Observable, type OperatorFunction, pipe, takeUntil, tap } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import { classifierScore, type CropClassifier } from '../operators/classifierScore.js';
import { randomPatches } from '../operators/randomPatches.js';
import type { DiffusionModel, ModelIdentity } from '../models/diffusion.js';
import type { ClassMap, MemberInfo, ShardSpec } from '../storage/webdataset/index.js';
import type { JsonObject, PackIdentity, SkippedRecord } from '../storage/store/index.js';
import { batch } from '../operators/batch.js';
import { decode } from '../operators/decode.js';
import { dift } from '../operators/dift.js';
import { encodeLatent } from '../operators/encodeLatent.js';
import { lossDiff } from '../operators/lossDiff.js';
import { scorePatches } from '../operators/patchScore.js';
import { readShards } from '../operators/readShards.js';
import { resize } from '../operators/resize.js';
import { skipEvent, type ErrorPolicy, type SkipEvent } from '../operators/skips.js';
import { StageTimer, mergeReports, type StageTime } from '../models/stageTimer.js';
import { toStore, type SampleSink, type StoredSummary } from '../operators/toStore.js';
import type { Encoded, Patched, Prepared, SampleRef } from '../operators/types.js';
import type { ScoreConfig } from '../core/config.js';

/** What the pipeline writes into: a ScoreStore, or a result file that takes samples the same way (queue workers). */
export interface ScoreSink extends SampleSink {
  /** True when the sample is already scored there: it is passed over (resume). */
  has(key: string): boolean;
  putSkipped(rec: SkippedRecord): Promise<void>;
}

/** A scoring run: shards, model, store, configuration and labels, with batching, concurrency, error policy and progress hooks. */
export interface ScoreRunOptions {
  shards: ShardSpec;
  model: DiffusionModel;
  store: ScoreSink;
  config: ScoreConfig;
  /** Class index -> prompt label. */
  labels: readonly string[];
  classMap?: ClassMap;
  /** Images per model call (each UNet call carries 2 x batchSize items at one timestep). */
  batchSize?: number;
  /** Model calls in flight: the number of workers, so each has work. */
  concurrency?: number;
  onError?: ErrorPolicy;
  /** Original short side below which an image is skipped (default patchSize / 2: at most 2x upsampling). */
  minSize?: number;
  onSkip?: (e: SkipEvent) => void;
  /** Each tar member read: progress by bytes. */
  onMember?: (info: MemberInfo) => void;
  timer?: StageTimer;
  /** Samples alive in the pipeline at once (default: enough to keep every worker fed). */
  window?: number;
  /** The teacher, for config.scorer 'classifier'. */
  classifier?: CropClassifier;
}

/** The configuration a score store records for a run: the knobs plus the class names, which the prompts are made of. */
export function scoreStoreConfig(config: ScoreConfig, labels: readonly string[]): JsonObject {
  return { ...config, classes: [...labels] };
}

/** The pack a score store records: what makes it the same pack (digest), its name, and whether it scores deterministically. */
export function scoreStorePack(identity: ModelIdentity): PackIdentity {
  return { name: identity.name, digest: identity.digest, deterministic: identity.conventions.deterministic };
}

/** What the front of a scoring pipeline needs: where samples come from, how they are prepared and what happens to bad ones. */
export interface PrepareOptions {
  shards: ShardSpec;
  config: Pick<ScoreConfig, 'imageSize' | 'wholeImage' | 'patchSize' | 'limitPerClass'>;
  classMap?: ClassMap;
  batchSize: number;
  /** Samples alive in the pipeline at once. */
  window: number;
  onError: ErrorPolicy;
  /** Every skipped sample, from any stage. */
  onSkip: (e: SkipEvent) => void;
  /** Keys to pass over (already stored). */
  isDone?: (key: string) => boolean;
  onMember?: (info: MemberInfo) => void;
  minSize?: number;
  timer: StageTimer;
}

/** Stage 0 as a source of micro-batches: readShards -> decode -> resize -> batch. */
export function preparedBatches(opts: PrepareOptions): Observable<Prepared[]> {
  const { config, timer } = opts;
  const onError = (stage: string) => (opts.onError === 'skip' ? (ref: SampleRef, err: unknown) => opts.onSkip(skipEvent(stage, ref, err)) : undefined);
  return readShards(opts.shards, {
    window: opts.window,
    onError: opts.onError,
    onSkip: opts.onSkip,
    ...(opts.isDone ? { isDone: opts.isDone } : {}),
    ...(opts.onMember ? { onMember: opts.onMember } : {}),
    ...(opts.classMap ? { classMap: opts.classMap } : {}),
    ...(config.limitPerClass !== undefined ? { limitPerClass: config.limitPerClass } : {}),
  }).pipe(
    decode({ timer, onError: onError('decode') }),
    resize({
      imageSize: config.imageSize,
      wholeImage: config.wholeImage,
      ...(config.wholeImage ? {} : { minSize: opts.minSize ?? config.patchSize / 2 }),
      timer,
      onError: onError('resize'),
    }),
    batch(opts.batchSize),
  );
}

/** Enough samples in flight to keep every worker fed: a batch in each model stage per worker, and one batching. */
export function defaultWindow(batchSize: number, concurrency: number): number {
  return Math.max(16, batchSize * (2 * concurrency + 2));
}

/** Stages 0-II as one Observable of stored samples (see the module comment); runScore runs it to the end. */
export function scoreSamples(opts: ScoreRunOptions): Observable<StoredSummary> {
  const { config, store } = opts;
  const batchSize = opts.batchSize ?? 4;
  const concurrency = opts.concurrency ?? 1;
  const timer = opts.timer ?? new StageTimer();
  const model = opts.model;
  // Skips are reported from inside operators that cannot wait; their writes are awaited before the end.
  const skipWrites: Promise<void>[] = [];
  const skipped = (e: SkipEvent): void => {
    const write = store.putSkipped({ ...(e.key !== undefined ? { key: e.key } : {}), shard: e.url, stage: e.stage, reason: e.reason, code: e.code });
    // Awaited at the end; a run stopped early (aborted, failed) never gets there and must not leave it unhandled.
    write.catch(() => undefined);
    skipWrites.push(write);
    opts.onSkip?.(e);
  };
  return preparedBatches({
    shards: opts.shards,
    config,
    batchSize,
    window: opts.window ?? defaultWindow(batchSize, concurrency),
    onError: opts.onError ?? 'skip',
    onSkip: skipped,
    isDone: (key) => store.has(key),
    timer,
    ...(opts.onMember ? { onMember: opts.onMember } : {}),
    ...(opts.classMap ? { classMap: opts.classMap } : {}),
    ...(opts.minSize !== undefined ? { minSize: opts.minSize } : {}),
  }).pipe(
    encodeLatent(model, { concurrency }),
    candidates(opts, timer),
    dift(model, { config, labels: opts.labels, concurrency }),
    toStore(store, timer),
    concatAll(),
    (stored) => concat(stored, defer(() => Promise.all(skipWrites)).pipe(ignoreElements())),
  );
}

/** What runScore did: samples stored and skipped, time, busy time per stage, UNet passes. */
export interface ScoreSummary {
  scored: number;
  skipped: SkipEvent[];
  seconds: number;
  stages: Record<string, StageTime>;
  /** UNet inputs run (each item of a batched call is one pass): the cost that dominates with SD 1.5. */
  unetPasses: number;
}

/**
 * Runs the pipeline to the end; `onSample` sees each stored sample (for progress). When `signal`
 * aborts, the run stops taking samples (those stored stay) and throws the signal's reason.
 */
export async function runScore(opts: ScoreRunOptions & { onSample?: (s: StoredSummary) => void; signal?: AbortSignal }): Promise<ScoreSummary> {
  opts.signal?.throwIfAborted();
  const timer = opts.timer ?? new StageTimer();
  const skipped: SkipEvent[] = [];
  let scored = 0;
  const t0 = performance.now();
  await lastValueFrom(
    scoreSamples({
      ...opts,
      timer,
      onSkip: (e) => {
        skipped.push(e);
        opts.onSkip?.(e);
      },
    }).pipe(
      takeUntil(opts.signal ? fromEvent(opts.signal, 'abort') : NEVER),
      tap((s) => {
        scored++;
        opts.onSample?.(s);
      }),
    ),
    { defaultValue: undefined },
  );
  opts.signal?.throwIfAborted();
  const stages = mergeReports([timer.report(), await opts.model.stats()]);
  return { scored, skipped, seconds: (performance.now() - t0) / 1000, stages, unetPasses: (stages.unet?.items ?? 0) + (stages.dift?.items ?? 0) };
}

/** Stage I, or a baseline in its place: every scorer turns Encoded batches into Patched ones. */
function candidates(opts: ScoreRunOptions, timer: StageTimer): OperatorFunction<Encoded[], Patched[]> {
  const { config, model } = opts;
  const concurrency = opts.concurrency ?? 1;
  switch (config.scorer) {
    case 'random':
      return randomPatches({ config });
    case 'classifier':
      if (!opts.classifier) throw new DdpsError('BAD_ARGUMENT', 'scorer classifier needs a teacher classifier (--teacher and --teacher-config)');
      return classifierScore(opts.classifier, { config, concurrency, timer, crops: config.crops });
    case 'diffusion':
      return pipe(
        lossDiff(model, { config, labels: opts.labels, concurrency }),
        map((items) => items.map((it) => ({ ...it, patches: timer.timeSync('pool', () => scorePatches(it, config)) }))),
      );
  }
}
