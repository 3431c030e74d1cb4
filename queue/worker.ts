/**
 * `ddps worker`: pulls shard jobs from the queue and scores them (scoreShard), on as many machines as
 * there are. The model stays loaded between shards (one PackPool per pack) and runs on worker
 * threads, so the main thread is always free to renew the shard's lock.
 *
 * A worker that loses its lock on a shard (Redis unreachable for longer than the lock, or the lock
 * taken for expired) stops that shard at once and publishes nothing for it: the shard is someone
 * else's now. A worker set up wrongly for a run (its pack differs from the run's, or the results
 * folder is not the submitter's) fails that try, so the shard goes to another worker, and stops.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'bullmq';
import { DEFAULT_EXECUTION } from '../core/config.js';
import { DdpsError } from '../core/errors.js';
import { Classifier, loadTeacherConfig } from '../models/classifier.js';
import { PackPool } from '../models/packPool.js';
import type { Provider } from '../models/runtime.js';
import { scoreStoreConfig, scoreStorePack } from '../pipelines/score.js';
import { classMapFrom } from '../storage/webdataset/index.js';
import { scrub } from './address.js';
import { scoreShard } from './scoreShard.js';
import { ShardQueue, type ShardJob } from './shardQueue.js';
import { DEFAULT_LOCK_SETTINGS, DEFAULT_WORKER_JOBS, KEY_PREFIX, resultsMarker, type LockSettings, type RunSpec, type ShardJobData, type ShardProgress, type ShardResult } from './spec.js';

/** A worker: the queue, this machine's pack and results paths when they differ from the submitter's, model execution, lock settings. */
export interface WorkerOptions {
  /** redis://host:port[/db] or unix:///path/to/redis.sock */
  queue: string;
  /** Queue name (default ddps-score). */
  queueName?: string;
  /** The pack folder on this machine (default: the run's pack path, which must then exist here). */
  model?: string;
  /** Model worker threads, each with its own sessions (default DEFAULT_EXECUTION.workers). */
  workers?: number;
  /** ONNX Runtime threads per model worker (default: cores / workers). */
  threads?: number;
  providers?: Provider[];
  /** Images per model call (default DEFAULT_EXECUTION.batchSize). */
  batchSize?: number;
  /** Shards scored at once (default DEFAULT_WORKER_JOBS; 2 overlaps one shard's tail with the next one's start). */
  jobs?: number;
  /** The results folder on this machine (default: the run's path, which must then be the same folder here). */
  results?: string;
  lock?: Partial<LockSettings>;
  /** This worker's name in status and job records (default host:pid). */
  name?: string;
  onEvent?: (e: WorkerEvent) => void;
}

/** What a worker reports: a shard started, its progress, finished, failed, its lock lost; queue errors. */
export type WorkerEvent =
  | { type: 'started'; shard: string; job: string; attempt: number }
  | { type: 'progress'; shard: string; progress: ShardProgress }
  | { type: 'finished'; shard: string; result: ShardResult }
  | { type: 'failed'; shard: string; reason: string }
  | { type: 'lost-lock'; shard: string }
  | { type: 'error'; message: string };

/** A running worker: its name, a promise of its end, and close (finish the shards in hand, or stop now). */
export interface WorkerHandle {
  name: string;
  /** Settles when the worker has stopped: rejects when it stopped because it is set up wrongly. */
  done: Promise<void>;
  /** Stops taking shards; waits for those being scored unless `force` (they then go back to the queue once their lock expires). */
  close(force?: boolean): Promise<void>;
}

/** A failure of this worker's setup, not of the shard: the worker stops after failing the try. */
class SetupError extends DdpsError {}

/** Progress updates at most this often per shard (plus the last one): each is a Redis write. */
const PROGRESS_MS = 1000;

/** One pack (and teacher) loaded at a time, kept across shards and reloaded only when a run needs another. */
class Models {
  private pool?: { path: string; pool: PackPool };
  private teacher?: { key: string; classifier: Classifier };

  constructor(private readonly opts: WorkerOptions) {}

  async pack(spec: RunSpec): Promise<PackPool> {
    const path = resolve(this.opts.model ?? spec.pack.path);
    if (this.pool?.path !== path) {
      await this.pool?.pool.close();
      this.pool = undefined;
      const threads = this.opts.threads;
      const pool = await PackPool.open(path, {
        workers: this.opts.workers ?? DEFAULT_EXECUTION.workers,
        dift: true,
        ...(threads ? { intraOpThreads: threads } : {}),
        ...(this.opts.providers ? { providers: this.opts.providers } : {}),
      }).catch((e: unknown) => {
        throw new SetupError('MISSING_FILE', `worker cannot load the run's pack ${path}: ${e instanceof Error ? e.message : String(e)}. Give this machine's copy with --model`, { file: path });
      });
      this.pool = { path, pool };
    }
    const pool = this.pool.pool;
    if (pool.identity.digest !== spec.pack.digest) {
      throw new SetupError(
        'STORE_MISMATCH',
        `worker's pack ${path} (digest ${pool.identity.digest}) is not the run's pack ${spec.pack.path} (digest ${spec.pack.digest}): start the worker with --model pointing at a copy of the run's pack`,
        { file: path },
      );
    }
    return pool;
  }

  async classifier(spec: RunSpec): Promise<Classifier | undefined> {
    if (spec.config.scorer !== 'classifier' || !spec.teacher) return undefined;
    const key = `${spec.teacher.model}\0${spec.teacher.config}`;
    if (this.teacher?.key !== key) {
      await this.teacher?.classifier.close();
      this.teacher = undefined;
      const classifier = await Classifier.load(spec.teacher.model, await loadTeacherConfig(spec.teacher.config)).catch((e: unknown) => {
        throw new SetupError('MISSING_FILE', `worker cannot load the run's teacher ${spec.teacher!.model}: ${e instanceof Error ? e.message : String(e)}`);
      });
      this.teacher = { key, classifier };
    }
    return this.teacher.classifier;
  }

  async close(): Promise<void> {
    await this.pool?.pool.close();
    await this.teacher?.classifier.close();
  }
}

/** A job's progress as Redis writes: the first at once, then at most one per PROGRESS_MS, and the last. */
function progressWriter(job: ShardJob, onEvent: WorkerOptions['onEvent']): { update(p: ShardProgress): void; flush(): Promise<void> } {
  let last = 0;
  let pending: ShardProgress | undefined;
  let timer: NodeJS.Timeout | undefined;
  let writing = Promise.resolve();
  const write = (): void => {
    timer = undefined;
    const p = pending;
    pending = undefined;
    if (!p) return;
    last = Date.now();
    onEvent?.({ type: 'progress', shard: job.data.shard, progress: p });
    // A failed progress write (lock lost, Redis away) is not the shard's failure.
    writing = writing.then(() => job.updateProgress(p as unknown as object).catch(() => undefined));
  };
  return {
    update(p) {
      pending = p;
      if (timer) return;
      timer = setTimeout(write, Math.max(0, last + PROGRESS_MS - Date.now()));
    },
    async flush() {
      clearTimeout(timer);
      write();
      await writing;
    },
  };
}

/**
 * Starts a worker that pulls shard jobs from the queue and scores each into a result file in the run's
 * results folder, until closed. A shard whose lock it loses is cancelled and publishes nothing; a
 * worker set up wrongly for a run (another pack, no results folder) fails that try and stops.
 */
export async function runWorker(opts: WorkerOptions): Promise<WorkerHandle> {
  const name = opts.name ?? `${hostname()}:${process.pid}`;
  const lock = { ...DEFAULT_LOCK_SETTINGS, ...opts.lock };
  const onEvent = opts.onEvent;
  const q = await ShardQueue.open(opts.queue, { ...(opts.queueName ? { name: opts.queueName } : {}), onError: (message) => onEvent?.({ type: 'error', message }) });
  const models = new Models(opts);
  const specs = new Map<string, RunSpec>();
  let setupFailure: unknown;
  let handle: WorkerHandle;

  const spec = async (run: string): Promise<RunSpec> => {
    let s = specs.get(run);
    if (!s) {
      s = await q.getRun(run);
      if (!s) throw new SetupError('BAD_ARGUMENT', `run ${run} has no spec in the queue (was the queue drained with --all?)`);
      specs.set(run, s);
    }
    return s;
  };

  const processJob = async (job: ShardJob, _token?: string, signal?: AbortSignal): Promise<ShardResult> => {
    const shard = job.data.shard;
    onEvent?.({ type: 'started', shard, job: job.id!, attempt: job.attemptsStarted });
    const progress = progressWriter(job, onEvent);
    try {
      const run = await spec(job.data.run);
      const results = resolve(opts.results ?? run.results);
      if (!existsSync(join(results, resultsMarker(run.digest)))) {
        throw new SetupError('MISSING_FILE', `results folder ${results} on this machine is not the submitter's (it has no ${resultsMarker(run.digest)}): mount the shared folder at that path, or give this machine's path with --results`, { file: results });
      }
      const model = await models.pack(run);
      const classifier = await models.classifier(run);
      const labels = classMapFrom(run.classes, `run ${run.digest}`).names;
      const result = await scoreShard({
        spec: run,
        shard,
        stem: job.id!,
        number: job.attemptsStarted,
        results,
        model,
        identity: { config: scoreStoreConfig(run.config, labels), pack: scoreStorePack(model.identity) },
        ...(classifier ? { classifier } : {}),
        batchSize: opts.batchSize ?? DEFAULT_EXECUTION.batchSize,
        concurrency: opts.workers ?? DEFAULT_EXECUTION.workers,
        worker: name,
        ...(signal ? { signal } : {}),
        onProgress: (p) => progress.update(p),
      });
      await progress.flush();
      onEvent?.({ type: 'finished', shard, result });
      return result;
    } catch (e) {
      await progress.flush();
      if (signal?.aborted) onEvent?.({ type: 'lost-lock', shard });
      else onEvent?.({ type: 'failed', shard, reason: e instanceof Error ? e.message : String(e) });
      if (e instanceof SetupError) {
        setupFailure ??= e;
        void handle.close();
      }
      throw e;
    }
  };

  const worker = new Worker<ShardJobData, ShardResult>(q.name, processJob, {
    connection: q.redis,
    prefix: KEY_PREFIX,
    name,
    concurrency: opts.jobs ?? DEFAULT_WORKER_JOBS,
    lockDuration: lock.lockDuration,
    stalledInterval: lock.stalledInterval,
    maxStalledCount: lock.maxStalledCount,
    autorun: false,
  });
  worker.on('error', (e: Error) => onEvent?.({ type: 'error', message: scrub(q.address, e.message) }));
  worker.on('lockRenewalFailed', (ids: string[]) => ids.forEach((id) => worker.cancelJob(id, `worker ${name} lost its lock on job ${id}`)));

  let closing: Promise<void> | undefined;
  let stopped!: () => void;
  const ended = new Promise<void>((r) => (stopped = r));
  handle = {
    name,
    done: ended.then(() => {
      if (setupFailure !== undefined) throw setupFailure;
    }),
    close(force = false) {
      closing ??= (async () => {
        await worker.close(force);
        await models.close();
        await q.close();
        stopped();
      })();
      return closing;
    },
  };
  void worker.run().catch((e: unknown) => {
    setupFailure ??= e;
    void handle.close(true);
  });
  await worker.waitUntilReady();
  return handle;
}
