/**
 * The shard queue: a BullMQ queue of shard jobs plus one Redis hash of run specs, and the questions
 * the submitter, `ddps queue status/retry/drain` and the tests ask of it.
 */
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { DdpsError } from '../core/errors.js';
import { connectRedis, parseQueueUrl, scrub, type QueueAddress } from './address.js';
import { DEFAULT_ATTEMPTS, DEFAULT_QUEUE_NAME, KEY_PREFIX, shardJobId, type AttemptSettings, type RunSpec, type ShardJobData, type ShardProgress, type ShardResult } from './spec.js';

/** Where a shard job stands; `missing` is a shard of a run whose job is not in the queue (drained, or never added). */
export type ShardState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'missing';

/** One shard job as status shows it. */
export interface ShardJobView {
  id: string;
  run: string;
  shard: string;
  state: ShardState;
  /** The worker that has it (active) or had it last. */
  worker?: string;
  progress?: ShardProgress;
  /** Tries that ended (failed or completed) and tries allowed. */
  attemptsMade: number;
  attempts: number;
  /** Times a dead worker's lock expired on it. */
  stalls: number;
  failedReason?: string;
  result?: ShardResult;
  /** ms since the epoch when it completed or failed. */
  finishedOn?: number;
}

export type ShardJob = Job<ShardJobData, ShardResult>;

export interface OpenOptions {
  /** Queue name (default ddps-score): workers and submitters must agree on it. */
  name?: string;
  onError?: (message: string) => void;
}

const BULK = 500;

function toState(s: string): ShardState {
  switch (s) {
    case 'active':
    case 'delayed':
    case 'completed':
    case 'failed':
      return s;
    case 'unknown':
      return 'missing';
    default:
      return 'waiting'; // wait, prioritized, waiting-children
  }
}

/**
 * The BullMQ queue of shard jobs on one Redis, with the runs' specs beside it: enqueue, look at jobs and
 * workers, retry and drain. Submitters, workers and the queue commands each open one.
 */
export class ShardQueue {
  private constructor(
    readonly address: QueueAddress,
    readonly name: string,
    readonly redis: Redis,
    readonly queue: Queue<ShardJobData, ShardResult>,
  ) {}

  /** Connects (a clear QUEUE_UNREACHABLE error naming the URL if it cannot). */
  static async open(url: string, opts: OpenOptions = {}): Promise<ShardQueue> {
    const address = parseQueueUrl(url);
    const name = opts.name ?? DEFAULT_QUEUE_NAME;
    if (name.includes(':')) throw new DdpsError('BAD_ARGUMENT', `queue name "${name}" must not contain ':'`);
    const redis = await connectRedis(address, opts);
    const queue = new Queue<ShardJobData, ShardResult>(name, { connection: redis, prefix: KEY_PREFIX });
    queue.on('error', (e: Error) => opts.onError?.(scrub(address, e.message)));
    return new ShardQueue(address, name, redis, queue);
  }

  private get runsKey(): string {
    return `${KEY_PREFIX}:${this.name}:runs`;
  }

  async saveRun(spec: RunSpec): Promise<void> {
    await this.redis.hset(this.runsKey, spec.digest, JSON.stringify(spec));
  }

  async getRun(digest: string): Promise<RunSpec | undefined> {
    const json = await this.redis.hget(this.runsKey, digest);
    return json === null ? undefined : (JSON.parse(json) as RunSpec);
  }

  async runs(): Promise<RunSpec[]> {
    return Object.values(await this.redis.hgetall(this.runsKey)).map((json) => JSON.parse(json) as RunSpec);
  }

  /** Adds the run's shard jobs that the queue does not hold; returns how many were added. */
  async enqueue(spec: RunSpec, settings: AttemptSettings = DEFAULT_ATTEMPTS): Promise<number> {
    const ids = spec.shards.map((s) => shardJobId(spec.digest, s));
    const states = await Promise.all(ids.map((id) => this.queue.getJobState(id)));
    const fresh = spec.shards.filter((_, i) => states[i] === 'unknown');
    for (let i = 0; i < fresh.length; i += BULK) {
      await this.queue.addBulk(
        fresh.slice(i, i + BULK).map((shard) => ({
          name: shard.slice(shard.lastIndexOf('/') + 1),
          data: { run: spec.digest, shard },
          opts: { jobId: shardJobId(spec.digest, shard), attempts: settings.attempts, backoff: { type: 'exponential', delay: settings.backoff } },
        })),
      );
    }
    return fresh.length;
  }

  /** The named jobs (a removed one is 'missing'), in the order given. */
  async views(ids: readonly string[]): Promise<ShardJobView[]> {
    return Promise.all(
      ids.map(async (id) => {
        const job = await this.queue.getJob(id);
        return job ? this.view(job) : { id, run: id.split('-')[0]!, shard: '', state: 'missing' as const, attemptsMade: 0, attempts: 0, stalls: 0 };
      }),
    );
  }

  /** Every job in the queue (all runs), each with its state. */
  async allViews(): Promise<ShardJobView[]> {
    const jobs = (await this.queue.getJobs(['wait', 'prioritized', 'waiting-children', 'active', 'delayed', 'completed', 'failed'])).filter((j): j is ShardJob => j !== undefined);
    return Promise.all(jobs.map((j) => this.view(j)));
  }

  private async view(job: ShardJob): Promise<ShardJobView> {
    const state = toState(await job.getState());
    const progress = typeof job.progress === 'object' && job.progress !== null ? (job.progress as unknown as ShardProgress) : undefined;
    return {
      id: job.id!,
      run: job.data.run,
      shard: job.data.shard,
      state,
      ...(job.processedBy ? { worker: job.processedBy } : {}),
      ...(progress ? { progress } : {}),
      attemptsMade: job.attemptsMade,
      attempts: job.opts.attempts ?? 1,
      stalls: job.stalledCounter,
      ...(job.failedReason ? { failedReason: job.failedReason } : {}),
      ...(state === 'completed' && job.returnvalue ? { result: job.returnvalue } : {}),
      ...(job.finishedOn ? { finishedOn: job.finishedOn } : {}),
    };
  }

  /** Names of the workers connected now (a killed worker's connection closes, so it drops out). */
  async workers(): Promise<string[]> {
    const clients = (await this.queue.getWorkers()) as { rawname?: string }[];
    return clients.map((c) => c.rawname?.split(':w:')[1] ?? '(unnamed)').sort();
  }

  /** Puts a completed job back to waiting (its results never reached the store). */
  async rerun(id: string): Promise<void> {
    await (await this.queue.getJob(id))?.retry('completed');
  }

  /** Puts failed jobs (of one run, or all) back to waiting with their attempts reset; returns how many. */
  async retryFailed(run?: string): Promise<number> {
    const failed = (await this.queue.getJobs(['failed'])).filter((j): j is ShardJob => j !== undefined && (run === undefined || j.data.run === run));
    await Promise.all(failed.map((j) => j.retry('failed', { resetAttemptsMade: true })));
    return failed.length;
  }

  /**
   * Removes the waiting and delayed jobs (shards being scored finish; nothing new starts). With
   * `everything`, removes every job of the queue, finished ones and their history included, and the
   * run specs: the queue is then as new.
   */
  async drain(everything = false): Promise<number> {
    const counts = await this.queue.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'completed', 'failed');
    if (!everything) {
      await this.queue.drain(true);
      return (counts.wait ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0);
    }
    await this.queue.obliterate({ force: true });
    await this.redis.del(this.runsKey);
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.redis.disconnect();
  }
}
