/**
 * One worker thread = one long-lived Pack. ONNX Runtime runs synchronously on the thread that calls
 * it, so inference lives here while the main thread decodes, batches and writes.
 */
import { workerData } from 'node:worker_threads';
import { Pack, type LoadPackOptions } from './pack.js';
import { serveRpc } from './workerRpc.js';

export interface WorkerInit {
  dir: string;
  options: LoadPackOptions;
}

export type WorkerRequest =
  | { id: number; op: 'text'; prompt: string }
  | { id: number; op: 'encode'; pixels: Float32Array; n: number; height: number; width: number }
  | { id: number; op: 'unet'; zt: Float32Array; n: number; h: number; w: number; ts: number[]; contexts: Float32Array[]; withDift: boolean }
  | { id: number; op: 'stats' }
  | { id: number; op: 'close' };

function start(): Promise<{ context: Pack; hello: unknown }> {
  const init = workerData as WorkerInit;
  return Pack.load(init.dir, init.options).then((pack) => ({ context: pack, hello: { identity: pack.identity, alphabar: pack.alphabar } }));
}

async function handle(pack: Pack, req: WorkerRequest): Promise<unknown> {
  switch (req.op) {
    case 'text':
      return pack.textEmbedding(req.prompt);
    case 'encode':
      return pack.encodeImages(req.pixels, req.n, req.height, req.width);
    case 'unet':
      return pack.predictNoise(req.zt, req.n, req.h, req.w, req.ts, req.contexts, req.withDift);
    case 'stats':
      return pack.stats();
    case 'close':
      await pack.close();
      setImmediate(() => process.exit(0));
      return null;
  }
}

serveRpc({ start, handle: (pack, req) => handle(pack, req as WorkerRequest) });
