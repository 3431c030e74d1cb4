export { ScoreStore, type ScoreStoreOptions } from './scoreStore.js';
export type { RunIdentity } from './meta.js';
export type * from './types.js';
export { storeDigest } from './digest.js';
export { mergeStores, type MergeSummary } from './merge.js';
export { importRecordFile, importRecords, openRecordFile, RecordFileWriter, storeRecords, writeRecordFile, type ImportCounts, type StoreRecord } from './records.js';
