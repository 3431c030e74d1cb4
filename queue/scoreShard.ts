/**
 * One shard job's work, the same pipeline as a local `ddps score` (pipelines/score.ts), written
 * straight into a result file in the shared results folder instead of a store. The file takes its
 * final name only once every sample is in it (and only if the job still holds its lock), so the
 * submitter never sees half of one; LMDB is never shared, the submitter imports the file.
 *
 * A shard that cannot be read as a whole (missing on this machine, corrupt, truncated) fails the job
 * instead of being recorded as skipped: the next try may run on a machine that reads it, and a shard
 * that stays unreadable ends failed with that reason. Bad samples follow the run's error policy.
 */
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DdpsError, type ErrorCode } from '../core/errors.js';
import type { DiffusionModel } from '../models/diffusion.js';
import { subtractReport } from '../models/stageTimer.js';
import type { CropClassifier } from '../operators/classifierScore.js';
import type { SkipEvent } from '../operators/skips.js';
import { runScore } from '../pipelines/score.js';
import { RecordFileWriter, type RunIdentity } from '../storage/store/index.js';
import { classMapFrom, tarBytes } from '../storage/webdataset/index.js';
import type { RunSpec, ShardProgress, ShardResult } from './spec.js';

export interface ShardWork {
  spec: RunSpec;
  shard: string;
  /** The result file is `<stem>.<number>.tar` in `results`. */
  stem: string;
  number: number;
  results: string;
  model: DiffusionModel;
  /** What the result file says the samples were scored with (the store the submitter fills must match). */
  identity: RunIdentity;
  classifier?: CropClassifier;
  batchSize: number;
  /** Model calls in flight (the PackPool's worker count). */
  concurrency: number;
  worker: string;
  /** Aborted when the job's lock is lost: the run stops and no result file appears. */
  signal?: AbortSignal;
  onProgress?: (p: ShardProgress) => void;
}

export async function scoreShard(w: ShardWork): Promise<ShardResult> {
  // A named pipe has no size: progress then counts samples without a fraction.
  const size = (await stat(w.shard)).size;
  const classMap = classMapFrom(w.spec.classes, `run ${w.spec.digest}`);
  const file = await RecordFileWriter.open(join(w.results, `${w.stem}.%d.tar`), w.identity, { number: w.number });
  try {
    let bytes = 0;
    let done = 0;
    let skipped = 0;
    let shardFault: SkipEvent | undefined;
    const report = (): void => w.onProgress?.({ done, skipped, ...(size > 0 ? { fraction: Math.min(1, bytes / size) } : {}) });
    const before = await w.model.stats();
    const summary = await runScore({
      shards: [w.shard],
      model: w.model,
      store: file,
      config: w.spec.config,
      labels: classMap.names,
      classMap,
      batchSize: w.batchSize,
      concurrency: w.concurrency,
      onError: w.spec.onError,
      ...(w.classifier ? { classifier: w.classifier } : {}),
      ...(w.signal ? { signal: w.signal } : {}),
      onMember: (m) => {
        bytes += tarBytes(m);
      },
      onSkip: (e) => {
        if (e.stage === 'read' && e.key === undefined) shardFault ??= e;
        else skipped++;
        report();
      },
      onSample: () => {
        done++;
        report();
      },
    });
    if (shardFault) throw new DdpsError(shardFault.code as ErrorCode, shardFault.reason, { file: w.shard });
    w.signal?.throwIfAborted();
    const path = await file.close();
    const stages = subtractReport(summary.stages, before);
    return {
      file: basename(path),
      ...file.counts,
      seconds: summary.seconds,
      unetPasses: (stages.unet?.items ?? 0) + (stages.dift?.items ?? 0),
      stages,
      worker: w.worker,
    };
  } catch (e) {
    await file.abort();
    throw e;
  }
}
