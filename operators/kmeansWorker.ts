/** One worker thread of the k-means pool: one long-lived MatMul session, one class at a time. */
import { workerData } from 'node:worker_threads';
import { MatMul } from '../models/matmul.js';
import { serveRpc } from '../models/workerRpc.js';
import { kmeans, type KMeansResult } from './math/kmeans.js';

export interface KMeansWorkerInit {
  threads: number;
}

export type KMeansRequest =
  | { op: 'kmeans'; points: Float32Array; n: number; dim: number; k: number; seed: number; maxIterations?: number }
  | { op: 'close' };

async function handle(matmul: MatMul, req: KMeansRequest): Promise<KMeansResult | null> {
  if (req.op === 'close') {
    await matmul.release();
    return null;
  }
  const { points, n, dim, k, seed, maxIterations } = req;
  return kmeans(points, n, dim, { k, seed, ...(maxIterations === undefined ? {} : { maxIterations }), dots: (p, rows, d, c, kk) => matmul.dots(p, rows, d, c, kk) });
}

serveRpc<MatMul>({
  start: async () => ({ context: await MatMul.open({ intraOpThreads: (workerData as KMeansWorkerInit).threads }), hello: null }),
  handle: (matmul, req) => handle(matmul, req as KMeansRequest),
  transfer: (r) => {
    if (r === null) return [];
    const { centroids, clusters, distances } = r as KMeansResult;
    return [centroids.buffer, clusters.buffer, distances.buffer] as ArrayBuffer[];
  },
});
