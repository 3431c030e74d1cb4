/** `ddps queue status | retry | drain`: what the queue holds, and the two ways to change it by hand. */
import { ShardQueue, type OpenOptions, type ShardJobView, type ShardState } from './shardQueue.js';

/** One submitted run in the queue: its digest, store, results folder, and its shards counted by state. */
export interface RunStatus {
  digest: string;
  store: string;
  results: string;
  submitted: string;
  shards: number;
  counts: Record<ShardState, number>;
}

/** Everything `ddps queue status` shows: workers connected, runs, and every shard job. */
export interface QueueStatus {
  /** The URL without credentials. */
  queue: string;
  name: string;
  /** Workers connected now. */
  workers: string[];
  runs: RunStatus[];
  /** Every job, all runs: active first, then waiting, delayed, failed, completed. */
  jobs: ShardJobView[];
}

const ORDER: ShardState[] = ['active', 'waiting', 'delayed', 'failed', 'completed', 'missing'];

async function withQueue<T>(url: string, opts: OpenOptions, fn: (q: ShardQueue) => Promise<T>): Promise<T> {
  const q = await ShardQueue.open(url, opts);
  try {
    return await fn(q);
  } finally {
    await q.close();
  }
}

/** What the queue at `url` holds: workers connected, each run's shards by state, every job with its worker, progress and failure reason. */
export function queueStatus(url: string, opts: OpenOptions = {}): Promise<QueueStatus> {
  return withQueue(url, opts, async (q) => {
    const jobs = (await q.allViews()).sort((a, b) => ORDER.indexOf(a.state) - ORDER.indexOf(b.state) || a.shard.localeCompare(b.shard));
    const runs = (await q.runs()).map((spec) => {
      const counts = Object.fromEntries(ORDER.map((s) => [s, 0])) as Record<ShardState, number>;
      for (const j of jobs) if (j.run === spec.digest) counts[j.state]++;
      counts.missing = spec.shards.length - jobs.filter((j) => j.run === spec.digest).length;
      return { digest: spec.digest, store: spec.store, results: spec.results, submitted: spec.submitted, shards: spec.shards.length, counts };
    });
    return { queue: q.address.display, name: q.name, workers: await q.workers(), runs, jobs };
  });
}

/** Failed shards (of one run, or all) back to waiting with fresh attempts; returns how many. */
export function retryFailed(url: string, opts: OpenOptions & { run?: string } = {}): Promise<number> {
  return withQueue(url, opts, (q) => q.retryFailed(opts.run));
}

/** Removes waiting shards (or, with `everything`, every job and run); returns how many jobs went. */
export function drainQueue(url: string, opts: OpenOptions & { everything?: boolean } = {}): Promise<number> {
  return withQueue(url, opts, (q) => q.drain(opts.everything));
}
