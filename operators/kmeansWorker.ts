/**
 * One worker thread of the k-means pool: one long-lived MatMul session, one class at a time. Given a
 * store, it reads the class itself (its own read-only handle on the store: LMDB serves many threads),
 * so the main thread neither reads features nor sends them.
 */
import { workerData } from 'node:worker_threads';
import { MatMul } from '../models/matmul.js';
import { serveRpc } from '../models/workerRpc.js';
import { ScoreStore, type ClassClusters } from '../storage/store/index.js';
import { clusterFeatures, loadClassFeatures, type ClusterOptions } from './classClusters.js';
import { kmeans, type KMeansResult } from './math/kmeans.js';

export interface KMeansWorkerInit {
  threads: number;
}

export type KMeansRequest =
  | { op: 'kmeans'; points: Float32Array; n: number; dim: number; k: number; seed: number; maxIterations?: number }
  | { op: 'class'; store: string; cls: number; opts: ClusterOptions }
  | { op: 'close' };

interface Context {
  matmul: MatMul;
  stores: Map<string, ScoreStore>;
}

async function handle(ctx: Context, req: KMeansRequest): Promise<KMeansResult | ClassClusters | null | undefined> {
  const run = (points: Float32Array, n: number, dim: number, job: { k: number; seed: number; maxIterations?: number }): Promise<KMeansResult> =>
    kmeans(points, n, dim, { ...job, dots: (p, rows, d, c, k) => ctx.matmul.dots(p, rows, d, c, k) });
  switch (req.op) {
    case 'kmeans':
      return run(req.points, req.n, req.dim, { k: req.k, seed: req.seed, ...(req.maxIterations === undefined ? {} : { maxIterations: req.maxIterations }) });
    case 'class': {
      let store = ctx.stores.get(req.store);
      if (store === undefined) ctx.stores.set(req.store, (store = ScoreStore.open(req.store, { readOnly: true })));
      return clusterFeatures(loadClassFeatures(store, req.cls), req.opts, run);
    }
    case 'close':
      for (const s of ctx.stores.values()) await s.close();
      await ctx.matmul.release();
      return null;
  }
}

/** The big arrays of a result move back instead of being copied. */
function transfer(r: unknown): ArrayBuffer[] {
  if (r === null || r === undefined) return [];
  if ('centroids' in (r as object) && 'members' in (r as object)) return [(r as ClassClusters).centroids.data.buffer as ArrayBuffer];
  const { centroids, clusters, distances } = r as KMeansResult;
  return [centroids.buffer, clusters.buffer, distances.buffer] as ArrayBuffer[];
}

serveRpc<Context>({
  start: async () => ({ context: { matmul: await MatMul.open({ intraOpThreads: (workerData as KMeansWorkerInit).threads }), stores: new Map() }, hello: null }),
  handle: (ctx, req) => handle(ctx, req as KMeansRequest),
  transfer,
});
