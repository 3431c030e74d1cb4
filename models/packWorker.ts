/**
 * One worker thread = one long-lived Pack. ONNX Runtime runs synchronously on the thread that calls
 * it, so inference lives here while the main thread decodes, batches and writes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DdpsError } from '../core/errors.js';
import { Pack, type LoadPackOptions } from './pack.js';

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

export interface WorkerError {
  code?: string;
  message: string;
  file?: string;
  sample?: string;
}

async function serve(): Promise<void> {
  const port = parentPort!;
  const init = workerData as WorkerInit;
  let pack: Pack;
  try {
    pack = await Pack.load(init.dir, init.options);
  } catch (e) {
    port.postMessage({ id: 0, ok: false, error: toWire(e) });
    return;
  }
  port.postMessage({ id: 0, ok: true, result: { identity: pack.identity, alphabar: pack.alphabar } });
  // One request at a time: ONNX Runtime computes on this thread anyway, and serving in order keeps
  // the measured times free of queueing.
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (req: WorkerRequest) => {
    queue = queue.then(() =>
      handle(pack, req).then(
        (result) => port.postMessage({ id: req.id, ok: true, result }),
        (e: unknown) => port.postMessage({ id: req.id, ok: false, error: toWire(e) }),
      ),
    );
  });
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

function toWire(e: unknown): WorkerError {
  if (e instanceof DdpsError) return { code: e.code, message: e.message, file: e.file, sample: e.sample };
  return { message: e instanceof Error ? (e.stack ?? e.message) : String(e) };
}

void serve();
