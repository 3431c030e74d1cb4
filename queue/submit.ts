/**
 * `ddps score --queue`: the submitting side of a distributed run. It enqueues one job per shard
 * (ids from the run digest and the shard: submitting again adds nothing), then follows the run to its
 * end, importing each finished shard's result file into the one score store as it lands and showing
 * every worker's progress in one line.
 *
 * Its state lives in the queue and the store, never in the process: killed and started again with the
 * same arguments, it carries on. A result file is imported, recorded in the store (store.imported),
 * then deleted, so a crash between any two steps repeats an idempotent import at worst. A shard the
 * queue calls completed whose result is neither imported into this store nor in the results folder
 * (a fresh store, a deleted file) is put back to waiting and scored again.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { basename, join, resolve } from 'node:path';
import type { ScoreConfig } from '../core/config.js';
import { DdpsError, isDdpsError } from '../core/errors.js';
import { packDigest, resolveLayout } from '../models/pack.js';
import { mergeReports, type StageTime } from '../models/stageTimer.js';
import type { ErrorPolicy } from '../operators/skips.js';
import { scoreStoreConfig } from '../pipelines/score.js';
import { importRecordFile, ScoreStore, type ImportCounts, type RunIdentity } from '../storage/store/index.js';
import type { ClassMap } from '../storage/webdataset/index.js';
import { rateAndEta, runFraction, type ProgressPoint } from './progress.js';
import { ShardQueue, type ShardJobView } from './shardQueue.js';
import { DEFAULT_ATTEMPTS, DEFAULT_FOLLOW, jobIdOfResultFile, resultsMarker, runDigest, shardJobId, type AttemptSettings, type RunSpec } from './spec.js';

/** A distributed scoring run: the queue, the shards, pack and configuration, the one store and the shared results folder. */
export interface SubmitOptions {
  /** redis://host:port[/db] or unix:///path/to/redis.sock */
  queue: string;
  queueName?: string;
  shards: readonly string[];
  /** The pack folder (workers load the same path unless they are given their own copy). */
  pack: string;
  config: ScoreConfig;
  classMap: ClassMap;
  onError?: ErrorPolicy;
  teacher?: { model: string; config: string };
  /** The one score store that receives every result (created by the first result when new). */
  store: string;
  /** A folder every worker machine can write and this machine can read, at the same path. */
  results: string;
  attempts?: Partial<AttemptSettings>;
  /** ms between looks at the queue and the results folder (default DEFAULT_FOLLOW.pollMs). */
  pollMs?: number;
  /** ms after a shard completed before its missing result counts as lost and the shard is scored again (default DEFAULT_FOLLOW.lostAfterMs). */
  lostAfterMs?: number;
  onProgress?: (p: RunProgress) => void;
  onEvent?: (e: SubmitEvent) => void;
  /** Stops following (the workers carry on; submitting again picks up from there). */
  signal?: AbortSignal;
}

/** A distributed run as one progress line shows it: shards by state, samples, rate, ETA, workers alive. */
export interface RunProgress {
  shards: number;
  /** Completed and imported into the store. */
  stored: number;
  failed: number;
  active: { shard: string; worker?: string; done: number; fraction?: number }[];
  waiting: number;
  /** Samples finished (scored or skipped) by every worker, shards in progress included. */
  samples: number;
  fraction: number;
  workers: number;
  /** Samples per second since this submitter started. */
  rate: number;
  /** Seconds left, once the run has moved since this submitter started. */
  eta?: number;
}

/** What a submitter reports besides progress: jobs queued, shards imported, failed, scored again, result files set aside, queue errors. */
export type SubmitEvent =
  | { type: 'queued'; digest: string; added: number; total: number }
  | { type: 'imported'; shard: string; scored: number; skipped: number }
  | { type: 'failed'; shard: string; reason: string }
  | { type: 'rerun'; shard: string; reason: string }
  | { type: 'rejected'; file: string; reason: string }
  | { type: 'error'; message: string };

/** A shard that ended failed after its attempts, with the reason of its last one. */
export interface FailedShard {
  shard: string;
  reason: string;
  attempts: number;
}

/** What submitRun did: shards stored, failed or removed, samples imported, UNet passes and time, and whether it was stopped. */
export interface SubmitSummary {
  digest: string;
  shards: number;
  /** Shard jobs this submission added (0 when the queue held them all: submitting again adds nothing). */
  added: number;
  /** Shards whose results are in the store. */
  stored: number;
  failed: FailedShard[];
  /** Shards removed from the queue (drained) before they were done. */
  removed: string[];
  /** Imported by this submitter. */
  imported: ImportCounts;
  /** Samples the store holds at the end. */
  storeSamples: number;
  seconds: number;
  /** Over the shards imported by this submitter. */
  unetPasses: number;
  stages: Record<string, StageTime>;
  /** True when the signal stopped the following before the run ended. */
  stopped: boolean;
}

/** The run's spec: what every worker needs, and the digest that names its jobs. */
export function runSpec(opts: SubmitOptions): RunSpec {
  if (opts.config.limitPerClass !== undefined) {
    throw new DdpsError('BAD_ARGUMENT', '--limit-per-class counts samples across shards in their order, which independent shard jobs cannot do: drop it for a queued run, or pass fewer shards');
  }
  const packPath = resolve(opts.pack);
  resolveLayout(packPath);
  const pack = { path: packPath, digest: packDigest(packPath) };
  const onError = opts.onError ?? 'skip';
  const storeConfig = scoreStoreConfig(opts.config, opts.classMap.names);
  return {
    digest: runDigest(storeConfig, pack.digest, onError),
    config: opts.config,
    classes: [...opts.classMap.entries],
    storeConfig,
    pack,
    onError,
    ...(opts.teacher ? { teacher: { model: resolve(opts.teacher.model), config: resolve(opts.teacher.config) } } : {}),
    results: resolve(opts.results),
    store: resolve(opts.store),
    shards: opts.shards.map((s) => resolve(s)),
    submitted: new Date().toISOString(),
  };
}

/** Result files of this run in the folder, by job id. */
async function resultFiles(dir: string, run: string): Promise<Map<string, string[]>> {
  const byJob = new Map<string, string[]>();
  for (const name of (await readdir(dir)).sort()) {
    if (!name.startsWith(`${run}-`) || !name.endsWith('.tar')) continue;
    const id = jobIdOfResultFile(name);
    byJob.set(id, [...(byJob.get(id) ?? []), name]);
  }
  return byJob;
}

/**
 * Submits a run (one job per shard; submitting again adds nothing) and follows it to its end, importing
 * each finished shard's result file into the store as it lands. Killed and run again with the same
 * options, it carries on from where the queue and the store stand; `signal` stops following (the
 * workers carry on).
 */
export async function submitRun(opts: SubmitOptions): Promise<SubmitSummary> {
  const spec = runSpec(opts);
  const t0 = performance.now();
  const pollMs = opts.pollMs ?? DEFAULT_FOLLOW.pollMs;
  const lostAfterMs = opts.lostAfterMs ?? DEFAULT_FOLLOW.lostAfterMs;
  const emit = opts.onEvent ?? (() => undefined);
  // An existing store is checked now (a store of another run fails before anything is queued); a new one is made by the first result.
  let store = existsSync(join(spec.store, 'data.mdb'))
    ? ScoreStore.open(spec.store, { config: spec.storeConfig, pack: { name: basename(spec.pack.path), digest: spec.pack.digest } })
    : undefined;
  const storeFor = (identity: RunIdentity): ScoreStore => (store ??= ScoreStore.open(spec.store, identity));
  let q: ShardQueue | undefined;
  try {
    await mkdir(spec.results, { recursive: true });
    await writeFile(join(spec.results, resultsMarker(spec.digest)), JSON.stringify({ digest: spec.digest, store: spec.store, submitted: spec.submitted }));
    q = await ShardQueue.open(opts.queue, { ...(opts.queueName ? { name: opts.queueName } : {}), onError: (message) => emit({ type: 'error', message }) });
    await q.saveRun(spec);
    const added = await q.enqueue(spec, { ...DEFAULT_ATTEMPTS, ...opts.attempts });
    emit({ type: 'queued', digest: spec.digest, added, total: spec.shards.length });

    const ids = spec.shards.map((s) => shardJobId(spec.digest, s));
    const imported: ImportCounts = { scored: 0, skipped: 0 };
    const importedJobs = new Set<string>();
    const reported = new Set<string>();
    const storedViews = new Map<string, ShardJobView>();
    let first: ProgressPoint | undefined;
    let views: ShardJobView[] = [];
    let stopped = false;
    for (;;) {
      // 1. Import every result file of the run that has landed.
      for (const [id, names] of await resultFiles(spec.results, spec.digest)) {
        for (const name of names) {
          const path = join(spec.results, name);
          try {
            const counts = await importRecordFile(path, storeFor);
            await store!.recordImport(id, { file: name, ...counts, at: new Date().toISOString() });
            await rm(path, { force: true });
            imported.scored += counts.scored;
            imported.skipped += counts.skipped;
            importedJobs.add(id);
            emit({ type: 'imported', shard: spec.shards[ids.indexOf(id)] ?? id, ...counts });
          } catch (e) {
            if (!isDdpsError(e, 'STORE_MISMATCH') && !isDdpsError(e, 'BAD_SHARD')) throw e;
            // Kept aside for a look; the shard counts as lost and is scored again.
            await rename(path, `${path}.rejected`);
            emit({ type: 'rejected', file: path, reason: e.message });
          }
        }
      }
      // 2. Where every shard stands (a stored one cannot change any more: it is not asked again).
      const isStored = (v: ShardJobView): boolean => v.state === 'completed' && store?.imported(v.id) !== undefined;
      const asked = await q.views(ids.filter((id) => !storedViews.has(id)));
      for (const v of asked) if (isStored(v)) storedViews.set(v.id, v);
      const byId = new Map(asked.map((v) => [v.id, v]));
      views = ids.map((id) => storedViews.get(id) ?? byId.get(id)!);
      const unimported = views.filter((v) => v.state === 'completed' && !isStored(v));
      if (unimported.length > 0) {
        const files = await resultFiles(spec.results, spec.digest);
        for (const v of unimported) {
          if (files.has(v.id) || Date.now() - (v.finishedOn ?? 0) < lostAfterMs) continue;
          await q.rerun(v.id);
          emit({ type: 'rerun', shard: v.shard, reason: `its results are neither in ${spec.store} nor in ${spec.results}` });
        }
      }
      for (const v of views) {
        if (v.state === 'failed' && !reported.has(v.id)) {
          reported.add(v.id);
          emit({ type: 'failed', shard: v.shard, reason: v.failedReason ?? 'unknown' });
        }
        if (v.state !== 'failed') reported.delete(v.id);
      }
      // 3. One progress line for everyone.
      const active = views.filter((v) => v.state === 'active');
      const finished = views.filter((v) => v.state === 'completed' || v.state === 'failed').length;
      const samples =
        views.reduce((a, v) => a + (v.result ? v.result.scored + v.result.skipped : 0), 0) + active.reduce((a, v) => a + (v.progress ? v.progress.done + v.progress.skipped : 0), 0);
      const point = { t: (performance.now() - t0) / 1000, samples, fraction: runFraction(views.length, finished, active.map((v) => v.progress?.fraction ?? 0)) };
      first ??= point;
      opts.onProgress?.({
        shards: views.length,
        stored: views.filter(isStored).length,
        failed: views.filter((v) => v.state === 'failed').length,
        active: active.map((v) => ({ shard: v.shard, ...(v.worker ? { worker: v.worker } : {}), done: v.progress?.done ?? 0, ...(v.progress?.fraction !== undefined ? { fraction: v.progress.fraction } : {}) })),
        waiting: views.filter((v) => v.state === 'waiting' || v.state === 'delayed').length,
        samples,
        fraction: point.fraction,
        workers: (await q.workers()).length,
        ...rateAndEta(first, point),
      });
      // 4. Done when every shard is stored, failed for good, or removed from the queue.
      if (views.every((v) => isStored(v) || v.state === 'failed' || v.state === 'missing')) break;
      try {
        await sleep(pollMs, undefined, opts.signal ? { signal: opts.signal } : {});
      } catch {
        stopped = true;
        break;
      }
    }

    const mine = views.filter((v) => importedJobs.has(v.id) && v.result);
    const stages = mergeReports(mine.map((v) => v.result!.stages));
    const summary: SubmitSummary = {
      digest: spec.digest,
      shards: views.length,
      added,
      stored: views.filter((v) => v.state === 'completed' && store?.imported(v.id) !== undefined).length,
      failed: views.filter((v) => v.state === 'failed').map((v) => ({ shard: v.shard, reason: v.failedReason ?? 'unknown', attempts: v.attemptsMade })),
      removed: views.filter((v) => v.state === 'missing').map((v) => spec.shards[ids.indexOf(v.id)]!),
      imported,
      storeSamples: store?.counts().samples ?? 0,
      seconds: (performance.now() - t0) / 1000,
      unetPasses: mine.reduce((a, v) => a + v.result!.unetPasses, 0),
      stages,
      stopped,
    };
    if (store && importedJobs.size > 0) {
      await store.addRun({
        ended: new Date().toISOString(),
        scored: imported.scored,
        skipped: imported.skipped,
        seconds: summary.seconds,
        stages,
        unetPasses: summary.unetPasses,
        execution: { queue: q.address.display, workers: [...new Set(mine.map((v) => v.result!.worker))].sort(), shards: importedJobs.size },
      });
    }
    return summary;
  } finally {
    await q?.close();
    await store?.close();
  }
}
