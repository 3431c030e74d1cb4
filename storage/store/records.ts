/**
 * A store's content as a stream of per-sample records, and back: what result files (one per shard
 * scored by a queue worker) and merges carry, so that samples reach a store without LMDB ever being
 * shared between processes or machines.
 *
 * Import is idempotent per sample: a record replaces the state stored under its key, except that a
 * skip never replaces a scored sample (scored somewhere stays scored). Importing the same records
 * twice, or two sources in either order, leaves the same store.
 *
 * A result file is a WebDataset tar (written by ShardWriter: deterministic, fsynced, renamed into
 * place, so a reader never sees half of one): first the sample `run` holding the run identity as
 * `run.json`, then one sample per record in the order written, `<n>.sample` (schema.ts's
 * encodeSampleRecord) or `<n>.skip` (JSON).
 */
import { DdpsError } from '../../core/errors.js';
import { readSamples, ShardWriter, type WdsSample } from '../webdataset/index.js';
import { describeMismatch, type RunIdentity } from './meta.js';
import { validateSample } from './samples.js';
import { decodeSampleRecord, encodeSampleRecord } from './schema.js';
import type { ScoreStore } from './scoreStore.js';
import type { SampleRecord, SkippedRecord } from './types.js';

export type StoreRecord = { sample: SampleRecord } | { skip: SkippedRecord };

/** Samples put into a store by an import or a merge: scored ones, and skip records. */
export interface ImportCounts {
  scored: number;
  skipped: number;
}

/** Scored samples in key order, then skip records in key order. Not a snapshot. */
export function* storeRecords(store: ScoreStore): Generator<StoreRecord> {
  for (const sample of store.samples()) yield { sample };
  for (const skip of store.skipped()) yield { skip };
}

/** Samples per group of concurrent writes: lmdb-js commits a group with one sync. */
const WRITE_GROUP = 64;

/** Puts every record into `store`; counts what was written (a skip of a scored key is not). */
export async function importRecords(store: ScoreStore, records: Iterable<StoreRecord> | AsyncIterable<StoreRecord>): Promise<ImportCounts> {
  const counts: ImportCounts = { scored: 0, skipped: 0 };
  let group: Promise<void>[] = [];
  // Keys whose write is still in flight: has() cannot see them yet.
  let scoring = new Set<string>();
  for await (const r of records) {
    if ('sample' in r) {
      group.push(store.putSample(r.sample));
      scoring.add(r.sample.key);
      counts.scored++;
    } else if (r.skip.key === undefined || !(scoring.has(r.skip.key) || store.has(r.skip.key))) {
      group.push(store.putSkipped(r.skip));
      counts.skipped++;
    }
    if (group.length >= WRITE_GROUP) {
      await Promise.all(group);
      group = [];
      scoring = new Set();
    }
  }
  await Promise.all(group);
  return counts;
}

const RUN_KEY = 'run';

/**
 * A result file being written, taking samples the way a store does (has, putSample, putSkipped), so
 * the scoring pipeline can write a shard straight into it. The file is `pattern` (one `%d`, replaced
 * by `number`) and gets that name only in close(), complete and on disk; abort() leaves nothing.
 */
export class RecordFileWriter {
  private n = 0;
  /** Samples written: a key seen again is passed over, as a store passes over what it holds. */
  private readonly scoredKeys = new Set<string>();
  readonly counts: ImportCounts = { scored: 0, skipped: 0 };

  private constructor(private readonly writer: ShardWriter) {}

  static async open(pattern: string, identity: RunIdentity, opts: { number?: number } = {}): Promise<RecordFileWriter> {
    const writer = new ShardWriter(pattern, { maxcount: Number.MAX_SAFE_INTEGER, maxsize: Number.MAX_SAFE_INTEGER, startShard: opts.number ?? 0 });
    try {
      await writer.write({ __key__: RUN_KEY, json: { config: identity.config, pack: identity.pack } });
    } catch (e) {
      await writer.abort();
      throw e;
    }
    return new RecordFileWriter(writer);
  }

  has(key: string): boolean {
    return this.scoredKeys.has(key);
  }

  async putSample(rec: SampleRecord): Promise<void> {
    validateSample(rec);
    this.scoredKeys.add(rec.key);
    this.counts.scored++;
    await this.writer.write({ __key__: this.nextKey(), sample: encodeSampleRecord(rec) });
  }

  async putSkipped(rec: SkippedRecord): Promise<void> {
    this.counts.skipped++;
    await this.writer.write({ __key__: this.nextKey(), skip: rec });
  }

  /** Gives the file its final name; returns it. */
  async close(): Promise<string> {
    const [path] = await this.writer.close();
    return path!;
  }

  /** Drops the file: nothing of it is left. */
  abort(): Promise<void> {
    return this.writer.abort();
  }

  private nextKey(): string {
    return String(this.n++).padStart(9, '0');
  }
}

/** Writes `records` (a store's, say) as one result file; see RecordFileWriter. When `signal` aborts first, nothing is left and its reason is thrown. */
export async function writeRecordFile(
  pattern: string,
  identity: RunIdentity,
  records: Iterable<StoreRecord>,
  opts: { number?: number; signal?: AbortSignal } = {},
): Promise<{ path: string } & ImportCounts> {
  const file = await RecordFileWriter.open(pattern, identity, opts);
  try {
    for (const r of records) {
      opts.signal?.throwIfAborted();
      await ('sample' in r ? file.putSample(r.sample) : file.putSkipped(r.skip));
    }
    opts.signal?.throwIfAborted();
  } catch (e) {
    await file.abort();
    throw e;
  }
  return { path: await file.close(), ...file.counts };
}

function toRecord(s: WdsSample, path: string): StoreRecord {
  if (s.sample instanceof Uint8Array) return { sample: decodeSampleRecord(s.sample, path) };
  if (s.skip instanceof Uint8Array) return { skip: JSON.parse(Buffer.from(s.skip).toString('utf8')) as SkippedRecord };
  throw new DdpsError('STORE_MISMATCH', `${path}: record ${s.__key__} is neither a sample nor a skip (is this a ddps result file?)`, { file: path });
}

/**
 * A result file's run identity and its records, read as the consumer pulls. A truncated or damaged
 * file throws (BAD_SHARD) instead of yielding part of it. Consume `records` to the end or call its
 * return() to close the file.
 */
export async function openRecordFile(path: string): Promise<{ identity: RunIdentity; records: AsyncGenerator<StoreRecord> }> {
  const samples = readSamples([path], { onError: 'fail' });
  const first = await samples.next();
  const json = first.done ? undefined : first.value.json;
  if (first.done || first.value.__key__ !== RUN_KEY || !(json instanceof Uint8Array)) {
    await samples.return(undefined);
    throw new DdpsError('STORE_MISMATCH', `${path} is not a ddps result file: it does not start with the run's identity`, { file: path });
  }
  const identity = JSON.parse(Buffer.from(json).toString('utf8')) as RunIdentity;
  async function* records(): AsyncGenerator<StoreRecord> {
    for await (const s of samples) yield toRecord(s, path);
  }
  return { identity, records: records() };
}

/**
 * Imports one result file into the store `storeFor` gives for the file's identity (so a store can be
 * created by the first file that arrives). Refuses a file of another configuration or pack.
 */
export async function importRecordFile(path: string, storeFor: (identity: RunIdentity) => ScoreStore): Promise<ImportCounts> {
  const { identity, records } = await openRecordFile(path);
  try {
    const store = storeFor(identity);
    const mismatches = describeMismatch({ config: store.config, pack: store.pack }, identity);
    if (mismatches.length > 0) {
      throw new DdpsError('STORE_MISMATCH', `result file ${path} was scored by a different run than score store ${store.dir}: ${mismatches.join('; ')}`, { file: path });
    }
    return await importRecords(store, records);
  } finally {
    await records.return(undefined);
  }
}
