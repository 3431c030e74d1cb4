export { ScoreStore, type ScoreStoreOptions } from './scoreStore.js';
export type { RunIdentity } from './meta.js';
export type * from './types.js';
