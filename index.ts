/**
 * ddps: dataset distillation via diffusion-driven patch selection, as RxJS operators streaming
 * WebDataset shards into an LMDB score store. Everything a library user needs is exported here; the
 * subpaths `ddps/core`, `ddps/storage`, `ddps/models`, `ddps/operators`, `ddps/pipelines`, `ddps/toy`
 * and `ddps/queue` (scoring on many machines) export the same things by layer (`ddps/storage` loads
 * no model runtime).
 */
export * from './core/index.js';
export * from './storage/index.js';
export * from './models/index.js';
export * from './operators/index.js';
export * from './pipelines/index.js';
export * from './toy/index.js';
export * from './queue/index.js';
