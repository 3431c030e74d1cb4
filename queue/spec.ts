/**
 * A distributed scoring run as the queue knows it: its identity (the digest of what changes the
 * stored result), one job per shard with an id made of that digest and the shard, and the settings
 * that make long GPU shards safe to run on machines that may die.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { ScoreConfig } from '../core/config.js';
import type { ErrorPolicy } from '../operators/skips.js';
import type { ClassEntry } from '../storage/webdataset/index.js';
import { canonicalJson } from '../storage/store/meta.js';
import type { JsonObject } from '../storage/store/index.js';

/** Everything a worker needs to score any shard of the run, stored once in Redis per run. */
export interface RunSpec {
  /** runDigest(): the run's identity; every job id starts with it. */
  digest: string;
  config: ScoreConfig;
  /** The classes.json entries (the prompts name the classes). */
  classes: ClassEntry[];
  /** The configuration the score store binds (the config plus class names), as the local `ddps score` binds it. */
  storeConfig: JsonObject;
  /** The pack folder as the submitter sees it (workers use it unless given --model) and its digest. */
  pack: { path: string; digest: string };
  onError: ErrorPolicy;
  /** The classifier scorer's teacher model and its preprocessing JSON. */
  teacher?: { model: string; config: string };
  /** The folder every machine sees where finished shards land as result files. */
  results: string;
  /** The submitter's score store (shown by status). */
  store: string;
  /** Absolute shard paths, in order. */
  shards: string[];
  /** ISO time of the (latest) submission. */
  submitted: string;
}

/** What a job carries: the run and the shard (the rest is in the run's spec). */
export interface ShardJobData {
  run: string;
  shard: string;
}

/** Progress a worker reports on its shard. */
export interface ShardProgress {
  done: number;
  skipped: number;
  /** Bytes of the shard read over its size, when the size is known. */
  fraction?: number;
}

/** What a finished shard job returns (kept in Redis with the job). */
export interface ShardResult {
  /** The result file's name in the results folder. */
  file: string;
  scored: number;
  skipped: number;
  seconds: number;
  unetPasses: number;
  stages: Record<string, { ms: number; calls: number; items: number }>;
  worker: string;
}

/** The digest of what changes the stored result: configuration with class names, pack, error policy. */
export function runDigest(storeConfig: JsonObject, packDigest: string, onError: ErrorPolicy): string {
  return createHash('sha256')
    .update(canonicalJson({ config: storeConfig, pack: packDigest, onError })!)
    .digest('hex')
    .slice(0, 16);
}

/** The job id of a shard in a run: the same shard and run always give the same id, so submitting again adds nothing. */
export function shardJobId(run: string, shard: string): string {
  return `${run}-${createHash('sha256').update(resolve(shard)).digest('hex').slice(0, 16)}`;
}

/** The job id a result file belongs to: its name up to the first dot (`<job id>.<attempt>.tar`). */
export function jobIdOfResultFile(name: string): string {
  return name.slice(0, name.indexOf('.'));
}

/**
 * Lock and stall settings (BullMQ Worker options), chosen for shards that take 10+ minutes on a GPU.
 * The lock is renewed every lockDuration / 2 by a timer on the worker's main thread, which the model
 * never blocks (it runs on PackPool's worker threads), so the shard's length does not matter: what
 * these set is how soon a dead worker's shard goes to another (about lockDuration + stalledInterval)
 * and how much event-loop stall or Redis latency is tolerated before a live worker is taken for dead.
 */
export interface LockSettings {
  /** ms a worker's lock on its shard lasts without renewal (BullMQ default 30 000). */
  lockDuration: number;
  /** ms between checks for shards whose lock expired; those go back to waiting (BullMQ default 30 000). */
  stalledInterval: number;
  /** Times a shard may go back to waiting that way before it fails (BullMQ default 1). */
  maxStalledCount: number;
}

/** Lock settings for long GPU shards: 60 s locks renewed every 30 s, a check every 30 s, 2 losses allowed. */
export const DEFAULT_LOCK_SETTINGS: LockSettings = { lockDuration: 60_000, stalledInterval: 30_000, maxStalledCount: 2 };

/** Retries of a shard that fails (an error, not a dead worker). */
export interface AttemptSettings {
  /** Tries in all before the shard ends failed (default 3). */
  attempts: number;
  /** ms before the first retry, doubling each time (default 30 000). */
  backoff: number;
}

/** 3 tries of a failing shard, the first retry after 30 s, doubling after. */
export const DEFAULT_ATTEMPTS: AttemptSettings = { attempts: 3, backoff: 30_000 };

/** How a submitter follows its run. */
export interface FollowSettings {
  /** ms between looks at the queue and the results folder (default 1000). */
  pollMs: number;
  /** ms after a shard completed before its missing result counts as lost and the shard is scored again (default 60 000: a network file system may show a new file late). */
  lostAfterMs: number;
}

/** A look at the queue and the results folder every second; a missing result counts as lost after a minute. */
export const DEFAULT_FOLLOW: FollowSettings = { pollMs: 1000, lostAfterMs: 60_000 };

/** Shards one worker scores at once (2 overlaps one shard's tail with the next one's start). */
export const DEFAULT_WORKER_JOBS = 1;

/** The file the submitter leaves in the results folder: a worker that cannot see it is looking at another folder. */
export function resultsMarker(run: string): string {
  return `.ddps-run-${run}`;
}

/** Queue name and Redis key prefix used unless told otherwise. */
export const DEFAULT_QUEUE_NAME = 'ddps-score';
export const KEY_PREFIX = 'ddps';
