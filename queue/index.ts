export { parseQueueUrl, redactUrl, type QueueAddress } from './address.js';
export { drainQueue, queueStatus, retryFailed, type QueueStatus, type RunStatus } from './admin.js';
export { rateAndEta, runFraction } from './progress.js';
export { ShardQueue, type ShardJobView, type ShardState } from './shardQueue.js';
export {
  DEFAULT_ATTEMPTS,
  DEFAULT_FOLLOW,
  DEFAULT_LOCK_SETTINGS,
  DEFAULT_QUEUE_NAME,
  DEFAULT_WORKER_JOBS,
  runDigest,
  shardJobId,
  type AttemptSettings,
  type FollowSettings,
  type LockSettings,
  type RunSpec,
  type ShardProgress,
  type ShardResult,
} from './spec.js';
export { runSpec, submitRun, type FailedShard, type RunProgress, type SubmitEvent, type SubmitOptions, type SubmitSummary } from './submit.js';
export { runWorker, type WorkerEvent, type WorkerHandle, type WorkerOptions } from './worker.js';
