/**
 * A DiffusionModel spread over worker threads, each holding its own long-lived Pack. Calls go to the
 * least busy worker; results do not depend on which worker ran them, so the store is the same for
 * any number of workers.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DiffusionModel, ModelIdentity } from './diffusion.js';
import { DdpsError, type ErrorCode } from '../core/errors.js';
import type { LoadPackOptions, NoisePrediction } from './pack.js';
import { mergeReports, type StageTime } from './stageTimer.js';
import type { WorkerError, WorkerInit, WorkerRequest } from './packWorker.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };
type Body<R> = R extends unknown ? Omit<R, 'id'> : never;

class PackWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  busy = 0;

  constructor(readonly worker: Worker) {
    worker.on('message', (msg: { id: number; ok: boolean; result?: unknown; error?: WorkerError }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      this.busy--;
      if (msg.ok) p.resolve(msg.result);
      else p.reject(fromWire(msg.error!));
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => {
      if (this.pending.size) this.failAll(new Error(`pack worker exited with code ${code}`));
    });
  }

  ready(): Promise<{ identity: ModelIdentity; alphabar: Float64Array }> {
    this.busy++;
    return new Promise((resolve, reject) => this.pending.set(0, { resolve: resolve as (v: unknown) => void, reject }));
  }

  call<T>(req: Body<WorkerRequest>): Promise<T> {
    const id = this.nextId++;
    this.busy++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  private failAll(e: unknown): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

function fromWire(e: WorkerError): Error {
  return e.code ? new DdpsError(e.code as ErrorCode, e.message, { file: e.file, sample: e.sample }) : new Error(e.message);
}

/** Options of PackPool.open: Pack.load's, and how many worker threads (each loads the pack once). */
export interface PackPoolOptions extends LoadPackOptions {
  workers?: number;
}

/** A DiffusionModel over worker threads, one long-lived Pack each, so model calls run beside decoding and I/O. */
export class PackPool implements DiffusionModel {
  private readonly textCache = new Map<string, Promise<Float32Array>>();

  private constructor(
    private readonly workers: PackWorker[],
    readonly identity: ModelIdentity,
    readonly alphabar: Float64Array,
  ) {}

  static async open(dir: string, opts: PackPoolOptions = {}): Promise<PackPool> {
    const n = Math.max(1, opts.workers ?? 1);
    // Workers x threads = cores: more threads than cores only makes the sessions fight.
    const threads = opts.intraOpThreads ?? Math.max(1, Math.floor(availableParallelism() / n));
    const { workers: _unused, ...rest } = opts;
    const init: WorkerInit = { dir, options: { ...rest, intraOpThreads: threads } };
    const url = new URL('./packWorker.js', import.meta.url);
    // The first worker writes the DIFT-tapped UNet if needed; the others start once it exists.
    const first = new PackWorker(new Worker(url, { workerData: init }));
    const info = await first.ready().catch(async (e: unknown) => {
      await first.worker.terminate();
      throw e;
    });
    const others = Array.from({ length: n - 1 }, () => new PackWorker(new Worker(url, { workerData: init })));
    await Promise.all(others.map((w) => w.ready()));
    return new PackPool([first, ...others], info.identity, info.alphabar);
  }

  private pick(): PackWorker {
    return this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  textEmbedding(prompt: string): Promise<Float32Array> {
    let p = this.textCache.get(prompt);
    if (!p) {
      p = this.pick().call<Float32Array>({ op: 'text', prompt });
      this.textCache.set(prompt, p);
    }
    return p;
  }

  encodeImages(pixels: Float32Array, n: number, height: number, width: number): Promise<Float32Array> {
    return this.pick().call({ op: 'encode', pixels, n, height, width });
  }

  predictNoise(zt: Float32Array, n: number, h: number, w: number, ts: readonly number[], contexts: readonly Float32Array[], withDift = false): Promise<NoisePrediction> {
    return this.pick().call({ op: 'unet', zt, n, h, w, ts: [...ts], contexts: [...contexts], withDift });
  }

  async stats(): Promise<Record<string, StageTime>> {
    return mergeReports(await Promise.all(this.workers.map((w) => w.call<Record<string, StageTime>>({ op: 'stats' }))));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ op: 'close' }).catch(() => undefined)));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
