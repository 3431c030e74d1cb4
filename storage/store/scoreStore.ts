/**
 * The score store: what scoring produced, per sample and per class, in one LMDB directory. Idempotent
 * and resumable: a sample is one transaction, a re-run asks `has(key)` and skips what is stored, and
 * an interrupted run (kill -9 included) finds every committed sample complete and nothing partial.
 */
import { DdpsError } from '../../core/errors.js';
import { getClassClusters, getClassRanking, getRankingColumns, putClassClusters } from './clusters.js';
import { bindIdentity, describeMismatch, readIdentity, recordMixedRun, toJson, type RunIdentity, type StoreIdentity } from './meta.js';
import { incompleteStore, openEnvironment, type StoreDbs } from './open.js';
import { classPatchIds, classPatches, classPatchViews } from './patches.js';
import { classCounts, getSample, iterateKeys, iterateSamples, iterateSkipped, putSample, putSkipped, sampleStatus, storeCounts } from './samples.js';
import { importKey, metaKey, sampleKey } from './schema.js';
import type { ClassClusters, ClassCounts, ClassPatch, ClassPatchView, ClassRanking, RankingColumns, JsonObject, PackIdentity, RunLog, SampleRecord, SampleStatus, SkippedRecord, StoreCounts } from './types.js';

/** How to open a store: for writing with the run's identity, or read-only. */
export type ScoreStoreOptions =
  | {
      /** The run's scoring configuration (any JSON object); stored on first open, compared after. */
      config: object;
      pack: PackIdentity;
      /** Take samples from a run whose configuration or pack differs from the store's. */
      allowMismatch?: boolean;
      readOnly?: false;
    }
  | {
      readOnly: true;
      /** When given, compared with the store's like a writer's (for readers that must match). */
      config?: object;
      pack?: PackIdentity;
      allowMismatch?: boolean;
    };

/** The LMDB score store: per sample its score map, patches and DIFT features; skips; per-class clusters and ranks; the run log. */
export class ScoreStore {
  private constructor(
    private readonly dbs: StoreDbs,
    private readonly identity: StoreIdentity,
    /** The differences allowMismatch let through at open, one line each (empty when the run matches). */
    readonly mismatches: readonly string[],
    readonly readOnly: boolean,
  ) {}

  /**
   * Opens (creating when writable) the store in directory `dir`. Throws STORE_MISMATCH naming the
   * differing config keys or pack digests when the store holds another run, unless allowMismatch.
   * A reader gets INCOMPLETE_STORE for a store whose first run stopped while creating it (a writer
   * with the same configuration completes it), and STORE_MISMATCH for someone else's LMDB.
   */
  static open(dir: string, opts: ScoreStoreOptions): ScoreStore {
    const readOnly = opts.readOnly === true;
    const given: Partial<RunIdentity> = {
      ...(opts.config === undefined ? {} : { config: toJson(opts.config) as JsonObject }),
      ...(opts.pack === undefined ? {} : { pack: toJson(opts.pack) as PackIdentity }),
    };
    if (!readOnly) checkRun(dir, given);
    const dbs = openEnvironment(dir, readOnly);
    try {
      let identity = readOnly ? readIdentity(dbs) : bindIdentity(dbs, given as RunIdentity);
      // Only a reader can find none: a writer records its own. The identity is the last thing a new store gets.
      if (identity === undefined) throw incompleteStore(dir, 'it records no configuration or model pack yet');
      const mismatches = describeMismatch(identity, given);
      if (mismatches.length > 0 && opts.allowMismatch !== true) {
        throw new DdpsError(
          'STORE_MISMATCH',
          `score store ${dir} was written by a different run: ${mismatches.join('; ')}. Use another store, or allow mixing runs (--allow-mismatch)`,
          { file: dir },
        );
      }
      if (mismatches.length > 0 && !readOnly) identity = recordMixedRun(dbs, identity, given as RunIdentity);
      return new ScoreStore(dbs, identity, mismatches, readOnly);
    } catch (e) {
      void dbs.root.close();
      throw e;
    }
  }

  get dir(): string {
    return this.dbs.dir;
  }

  /** The configuration the store was created with. */
  get config(): JsonObject {
    return this.identity.config;
  }

  /** The model pack the store was created with. */
  get pack(): PackIdentity {
    return this.identity.pack;
  }

  /** Other runs let in with allowMismatch (empty for a store of one run). */
  get mixed(): readonly RunIdentity[] {
    return this.identity.mixed;
  }

  /** True when the sample is scored and stored (a skipped sample is not). */
  has(key: string): boolean {
    return sampleStatus(this.dbs, key) === 'scored';
  }

  status(key: string): SampleStatus | undefined {
    return sampleStatus(this.dbs, key);
  }

  /** One transaction: the sample, its score map, patches, features and class counters; replaces a stored one. */
  putSample(rec: SampleRecord): Promise<void> {
    return this.writable().then(() => putSample(this.dbs, rec));
  }

  putSkipped(rec: SkippedRecord): Promise<void> {
    return this.writable().then(() => putSkipped(this.dbs, rec));
  }

  /** `{ patches: false }`: the record with its score map and an empty patch list. */
  getSample(key: string, opts: { patches?: boolean } = {}): SampleRecord | undefined {
    return getSample(this.dbs, key, opts.patches ?? true);
  }

  /** The shard a scored sample came from, without reading its score map or patches. */
  sampleShard(key: string): string | undefined {
    return this.dbs.samples.get(sampleKey(key))?.shard;
  }

  /** Scored samples in key order (UTF-8 byte order), with score maps, patches and features. */
  samples(): Generator<SampleRecord> {
    return iterateSamples(this.dbs);
  }

  keys(): Generator<string> {
    return iterateKeys(this.dbs);
  }

  skipped(): Generator<SkippedRecord> {
    return iterateSkipped(this.dbs);
  }

  /**
   * Exactly class `cls`'s patches, one range scan, ordered by sample key then patch index.
   * `{ features: false }` leaves the DIFT features out (boxes and scores only, much less to copy).
   */
  classPatches(cls: number, opts: { features?: boolean } = {}): Generator<ClassPatch> {
    return classPatches(this.dbs, cls, opts.features ?? true);
  }

  /**
   * classPatches with each feature as a view of the store's bytes, valid only until the next patch:
   * for readers that copy features straight into a matrix (Stage II's k-means).
   */
  classPatchViews(cls: number): Generator<ClassPatchView> {
    return classPatchViews(this.dbs, cls);
  }

  /** Class `cls`'s patch ids in classPatches' order, from the keys alone (no feature is read). */
  classPatchIds(cls: number): Generator<{ key: string; index: number }> {
    return classPatchIds(this.dbs, cls);
  }

  counts(): StoreCounts {
    return storeCounts(this.dbs);
  }

  /** Class `cls`'s samples and patches (one read; undefined for a class without samples). */
  classCounts(cls: number): ClassCounts | undefined {
    return classCounts(this.dbs, cls);
  }

  putClassClusters(cls: number, rec: ClassClusters): Promise<void> {
    return this.writable().then(() => putClassClusters(this.dbs, cls, rec));
  }

  /** Appends a run's summary to the store's history (one small JSON list in meta). */
  async addRun(log: RunLog): Promise<void> {
    await this.writable();
    await this.dbs.root.transaction(() => {
      const runs = (this.dbs.meta.get(metaKey('runs')) as RunLog[] | undefined) ?? [];
      void this.dbs.meta.put(metaKey('runs'), [...runs, log]);
    });
  }

  runs(): RunLog[] {
    return (this.dbs.meta.get(metaKey('runs')) as RunLog[] | undefined) ?? [];
  }

  getClassClusters(cls: number): ClassClusters | undefined {
    return getClassClusters(this.dbs, cls);
  }

  /** The class's compact ranking as columns, no object per member (undefined where getClassRanking falls back to the clusters record). */
  getRankingColumns(cls: number): RankingColumns | undefined {
    return getRankingColumns(this.dbs, cls);
  }

  /** The class's ranking without reading its centroids (what selection needs). */
  getClassRanking(cls: number): ClassRanking | undefined {
    return getClassRanking(this.dbs, cls);
  }

  /** What was recorded when result file `id` was imported, or undefined if it never was. */
  imported(id: string): JsonObject | undefined {
    return this.dbs.meta.get(importKey(id)) as JsonObject | undefined;
  }

  /** Remembers that result file `id` is in the store (after its samples are committed). */
  async recordImport(id: string, info: JsonObject): Promise<void> {
    await this.writable();
    await this.dbs.meta.put(importKey(id), info);
  }

  /** Waits for pending writes, then closes the environment. */
  async close(): Promise<void> {
    await this.dbs.root.committed;
    await this.dbs.root.close();
  }

  private async writable(): Promise<void> {
    if (this.readOnly) throw new DdpsError('BAD_ARGUMENT', `score store ${this.dir} was opened read-only`, { file: this.dir });
  }
}

function checkRun(dir: string, run: Partial<RunIdentity>): void {
  if (typeof run.config !== 'object' || run.config === null || Array.isArray(run.config)) {
    throw new DdpsError('BAD_ARGUMENT', `score store ${dir}: a writer must give its configuration as a JSON object`, { file: dir });
  }
  if (typeof run.pack?.name !== 'string' || typeof run.pack.digest !== 'string' || run.pack.digest === '') {
    throw new DdpsError('BAD_ARGUMENT', `score store ${dir}: a writer must give its model pack as { name, digest }, got ${JSON.stringify(run.pack)}`, { file: dir });
  }
}
