/**
 * Where k-means runs: a pool of worker threads (one MatMul session each, one intra-op thread, so
 * workers = cores), or this thread. Classes are independent, so a pool clusters as many at once as it
 * has workers; the result never depends on which worker ran a class (operators/math/kmeans.ts).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DdpsError } from '../core/errors.js';
import { MatMul } from '../models/matmul.js';
import { RpcClient } from '../models/workerRpc.js';
import type { ClassClusters, ScoreStore } from '../storage/store/index.js';
import { clusterFeatures, loadClassFeatures, type ClusterOptions } from './classClusters.js';
import type { KMeansRequest, KMeansWorkerInit } from './kmeansWorker.js';
import { kmeans, type KMeansOptions, type KMeansResult } from './math/kmeans.js';

/** A k-means run's settings (K, seed, iteration cap): the engine brings the dot products. */
export type KMeansJob = Omit<KMeansOptions, 'dots'>;

/** Where k-means runs: worker threads (openKMeans(n)) or this thread (openKMeans(0)); same results either way. */
export interface KMeansEngine {
  /** `points` may be handed over to another thread: do not use it after the call. */
  kmeans(points: Float32Array, n: number, dim: number, opts: KMeansJob): Promise<KMeansResult>;
  /** Reads class `cls` of the store and clusters it (classClusters.ts); a pool's worker reads it itself. */
  clusterStored(store: ScoreStore, cls: number, opts: ClusterOptions): Promise<ClassClusters | undefined>;
  /** Classes worth having in flight at once. */
  readonly concurrency: number;
  close(): Promise<void>;
}

/** One per core. */
export function defaultKMeansWorkers(): number {
  return availableParallelism();
}

class InThread implements KMeansEngine {
  readonly concurrency = 1;

  constructor(private readonly matmul: MatMul) {}

  kmeans(points: Float32Array, n: number, dim: number, opts: KMeansJob): Promise<KMeansResult> {
    return kmeans(points, n, dim, { ...opts, dots: (p, rows, d, c, k) => this.matmul.dots(p, rows, d, c, k) });
  }

  clusterStored(store: ScoreStore, cls: number, opts: ClusterOptions): Promise<ClassClusters | undefined> {
    return clusterFeatures(loadClassFeatures(store, cls), opts, (p, n, d, job) => this.kmeans(p, n, d, job));
  }

  close(): Promise<void> {
    return this.matmul.release();
  }
}

class Pool implements KMeansEngine {
  constructor(private readonly clients: RpcClient[]) {}

  get concurrency(): number {
    // One more than the workers: the next class is read from the store while the others compute.
    return this.clients.length + 1;
  }

  private pick(): RpcClient {
    return this.clients.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  kmeans(points: Float32Array, n: number, dim: number, opts: KMeansJob): Promise<KMeansResult> {
    const req: KMeansRequest = { op: 'kmeans', points, n, dim, ...opts };
    return this.pick().call<KMeansResult>(req, [points.buffer as ArrayBuffer]);
  }

  clusterStored(store: ScoreStore, cls: number, opts: ClusterOptions): Promise<ClassClusters | undefined> {
    const req: KMeansRequest = { op: 'class', store: store.dir, cls, opts: { ...(opts.clusters === undefined ? {} : { clusters: opts.clusters }), ...(opts.seed === undefined ? {} : { seed: opts.seed }), ...(opts.maxIterations === undefined ? {} : { maxIterations: opts.maxIterations }) } };
    return this.pick().call<ClassClusters | undefined>(req);
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.call({ op: 'close' }).catch(() => undefined)));
    await Promise.all(this.clients.map((c) => c.worker.terminate()));
  }
}

/** `workers` threads (default: one per core), or 0 for this thread. */
export async function openKMeans(workers = defaultKMeansWorkers()): Promise<KMeansEngine> {
  if (!Number.isSafeInteger(workers) || workers < 0) throw new DdpsError('BAD_ARGUMENT', `k-means workers ${workers}: expected a whole number >= 0`);
  if (workers === 0) return new InThread(await MatMul.open());
  const init: KMeansWorkerInit = { threads: 1 };
  const url = new URL('./kmeansWorker.js', import.meta.url);
  const clients = Array.from({ length: workers }, () => new RpcClient(new Worker(url, { workerData: init }), 'k-means worker'));
  const started = await Promise.allSettled(clients.map((c) => c.ready()));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(clients.map((c) => c.worker.terminate()));
    throw failed.reason;
  }
  return new Pool(clients);
}
