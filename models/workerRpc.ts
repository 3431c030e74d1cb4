/**
 * Requests and replies over a worker thread, for pools of long-lived workers (packPool, the k-means
 * pool): the client side on the main thread and the serving loop inside the worker. A worker first
 * says it is ready (or why it could not start) as reply 0; after that each request gets one reply
 * with its id. Errors cross as data and come back as DdpsErrors with their code, file and sample.
 */
import { parentPort, type Transferable, type Worker } from 'node:worker_threads';
import { DdpsError, type ErrorCode } from '../core/errors.js';

export interface WireError {
  code?: string;
  message: string;
  file?: string;
  sample?: string;
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: WireError;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };

export function toWire(e: unknown): WireError {
  if (e instanceof DdpsError) return { code: e.code, message: e.message, file: e.file, sample: e.sample };
  return { message: e instanceof Error ? (e.stack ?? e.message) : String(e) };
}

export function fromWire(e: WireError): Error {
  return e.code ? new DdpsError(e.code as ErrorCode, e.message, { file: e.file, sample: e.sample }) : new Error(e.message);
}

export class RpcClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Requests sent and not answered yet (the ready reply included). */
  busy = 0;

  constructor(
    readonly worker: Worker,
    private readonly what = 'worker',
  ) {
    worker.on('message', (msg: Reply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      this.busy--;
      if (msg.ok) p.resolve(msg.result);
      else p.reject(fromWire(msg.error!));
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => {
      if (this.pending.size) this.failAll(new Error(`${this.what} exited with code ${code}`));
    });
  }

  /** What the worker said once it started (reply 0). */
  ready<T>(): Promise<T> {
    this.busy++;
    return new Promise<T>((resolve, reject) => this.pending.set(0, { resolve: resolve as (v: unknown) => void, reject }));
  }

  /** `transfer` moves those buffers to the worker instead of copying them (they are unusable here after). */
  call<T>(req: object, transfer: readonly Transferable[] = []): Promise<T> {
    const id = this.nextId++;
    this.busy++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id }, [...transfer]);
    });
  }

  private failAll(e: unknown): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

export interface Served<C> {
  /** Loads what the worker keeps (a model, a session); its `hello` is the ready reply. */
  start(): Promise<{ context: C; hello: unknown }>;
  handle(context: C, req: { op: string }): Promise<unknown>;
  /** Buffers of a result to move rather than copy back. */
  transfer?(result: unknown): Transferable[];
}

/**
 * The worker's loop. One request at a time: ONNX Runtime computes on this thread anyway, and serving
 * in order keeps the measured times free of queueing.
 */
export function serveRpc<C>(served: Served<C>): void {
  const port = parentPort!;
  void served.start().then(
    ({ context, hello }) => {
      port.postMessage({ id: 0, ok: true, result: hello });
      let queue: Promise<void> = Promise.resolve();
      port.on('message', (req: { id: number; op: string }) => {
        queue = queue.then(() =>
          served.handle(context, req).then(
            (result) => port.postMessage({ id: req.id, ok: true, result }, served.transfer?.(result) ?? []),
            (e: unknown) => port.postMessage({ id: req.id, ok: false, error: toWire(e) }),
          ),
        );
      });
    },
    (e: unknown) => port.postMessage({ id: 0, ok: false, error: toWire(e) }),
  );
}
