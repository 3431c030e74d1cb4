/**
 * More than one machine: `ddps score --queue URL` submits and follows a run, `ddps worker --queue URL`
 * scores its shards anywhere, `ddps queue status|retry|drain URL` look at and change the queue.
 */
import sharp from 'sharp';
import { DdpsError } from '../../core/errors.js';
import { parseProviders } from '../../models/runtime.js';
import { DEFAULT_ATTEMPTS, DEFAULT_LOCK_SETTINGS, DEFAULT_QUEUE_NAME, drainQueue, parseQueueUrl, queueStatus, retryFailed, runWorker, submitRun } from '../../queue/index.js';
import { expandShards } from '../../storage/webdataset/index.js';
import { flag, num, required, str, type OptionSpec, type Parsed } from '../args.js';
import type { Command } from '../command.js';
import { Progress } from '../progress.js';
import { queueProgressLine, statusLines, submitSummaryLines, workerEventLine } from '../queueOutput.js';
import { findClassMap, score, scoreConfigFrom } from './score.js';

const NAME_OPTION = { 'queue-name': { type: 'string', value: 'name', help: 'queue name: submitters and workers must agree', default: DEFAULT_QUEUE_NAME } } as const;

/** The options `ddps score` takes on top of its own to run through a queue. */
export const SUBMIT_OPTIONS = {
  queue: { type: 'string', value: 'URL', help: 'score on workers through this Redis queue: redis://host:port[/db] or unix:///path/redis.sock (see ddps worker)' },
  results: { type: 'string', value: '<dir>', help: 'with --queue: a folder every worker machine writes and this one reads, at the same path (finished shards land there)' },
  ...NAME_OPTION,
  attempts: { type: 'string', value: 'N', help: 'with --queue: tries of a failing shard before it ends failed', default: String(DEFAULT_ATTEMPTS.attempts) },
  backoff: { type: 'string', value: 'seconds', help: 'with --queue: wait before the first retry of a failed shard, doubling after', default: String(DEFAULT_ATTEMPTS.backoff / 1000) },
  poll: { type: 'string', value: 'seconds', help: 'with --queue: how often the queue and the results folder are looked at', default: '1' },
  'lost-after': { type: 'string', value: 'seconds', help: 'with --queue: a completed shard whose result is nowhere after this long is scored again', default: '60' },
} satisfies Record<string, OptionSpec>;

const seconds = (args: Parsed, name: string, min = 0): number | undefined => {
  const v = num(args, name, { min });
  return v === undefined ? undefined : Math.round(v * 1000);
};

/** `ddps score --queue URL ...`: enqueue, follow with one progress line, import into --store, summarise. */
export async function submitFromArgs(args: Parsed): Promise<number> {
  const url = required(args, 'queue', 'score');
  const results = required(args, 'results', 'score');
  const shardsArg = required(args, 'shards', 'score');
  const pack = required(args, 'model', 'score');
  const store = required(args, 'store', 'score');
  for (const local of ['workers', 'threads', 'providers', 'batch-size'] as const) {
    if (str(args, local) !== undefined && str(args, local) !== SCORE_DEFAULTS[local]) {
      throw new DdpsError('BAD_ARGUMENT', `--${local} sets how this machine scores; with --queue the workers score: give it to ddps worker`);
    }
  }
  if (flag(args, 'allow-mismatch')) throw new DdpsError('BAD_ARGUMENT', '--allow-mismatch is not for queued runs: submit into a store of the same run, or use another store and ddps merge');
  const policy = str(args, 'on-error') ?? 'skip';
  if (policy !== 'skip' && policy !== 'fail') throw new DdpsError('BAD_ARGUMENT', `--on-error must be skip or fail, got '${policy}'`);
  const config = scoreConfigFrom(args);
  const shards = await expandShards(shardsArg);
  const classMap = await findClassMap(str(args, 'classes'), shards);
  const teacher = config.scorer === 'classifier' ? { model: required(args, 'teacher', 'score'), config: required(args, 'teacher-config', 'score') } : undefined;
  const display = parseQueueUrl(url).display;
  const progress = new Progress('score', process.stderr, flag(args, 'quiet'));
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const summary = await submitRun({
      queue: url,
      queueName: str(args, 'queue-name')!,
      shards,
      pack,
      config,
      classMap,
      onError: policy,
      ...(teacher ? { teacher } : {}),
      store,
      results,
      attempts: { attempts: num(args, 'attempts', { integer: true, min: 1 })!, backoff: seconds(args, 'backoff')! },
      pollMs: seconds(args, 'poll', 0.01)!,
      lostAfterMs: seconds(args, 'lost-after')!,
      signal: stop.signal,
      onProgress: (p) => progress.draw(() => queueProgressLine(p, progress.elapsed()), p.fraction === 1),
      onEvent: (e) => {
        if (flag(args, 'quiet') || flag(args, 'json')) return;
        if (e.type === 'queued') process.stderr.write(`run ${e.digest}: ${e.added} of ${e.total} shards queued (${e.total - e.added} were already there) at ${display}\n`);
        if (e.type === 'failed') process.stderr.write(`\nshard failed: ${e.shard}: ${e.reason}\n`);
        if (e.type === 'rerun') process.stderr.write(`\nscoring ${e.shard} again: ${e.reason}\n`);
        if (e.type === 'rejected') process.stderr.write(`\nresult file set aside: ${e.file}: ${e.reason}\n`);
        if (e.type === 'error') process.stderr.write(`\nqueue: ${e.message} (retrying)\n`);
      },
    });
    progress.end();
    if (flag(args, 'json')) console.log(JSON.stringify(summary));
    else for (const line of submitSummaryLines(summary, display)) console.log(line);
    return summary.failed.length || summary.removed.length || summary.stopped ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `ddps score`, which with --queue submits to workers instead of scoring here. */
export const scoreOrSubmit: Command = {
  spec: {
    ...score.spec,
    usage: `${score.spec.usage}\n       ddps score --queue URL --results <dir> --shards <pattern> --model <pack> --store <dir> [options]`,
    options: { ...score.spec.options, ...SUBMIT_OPTIONS },
    notes: `${score.spec.notes ?? ''}\nWith --queue, one job per shard goes to the workers (ddps worker, on any machine) and this command\nfollows them, importing each finished shard into --store. Killed, it carries on when run again.`,
  },
  run: (args) => (str(args, 'queue') !== undefined ? submitFromArgs(args) : score.run(args)),
};

/** Defaults of the score options that only a worker may set (given explicitly with --queue, they are refused). */
const SCORE_DEFAULTS: Record<string, string | undefined> = { workers: '1', 'batch-size': '4', threads: undefined, providers: undefined };

export const worker: Command = {
  spec: {
    name: 'worker',
    summary: 'score shards from a queue, on this machine, until stopped (run one per machine or GPU)',
    usage: 'ddps worker --queue URL [--model <pack>] [--workers N --threads N --providers list --batch-size N] [options]',
    options: {
      queue: { type: 'string', value: 'URL', help: 'the Redis queue: redis://host:port[/db] or unix:///path/redis.sock' },
      ...NAME_OPTION,
      model: { type: 'string', value: '<pack>', help: "this machine's copy of the run's pack (default: the path the submitter gave)" },
      workers: { type: 'string', value: 'N', help: 'model worker threads, each with its own sessions', default: '1' },
      threads: { type: 'string', value: 'N', help: 'ONNX Runtime threads per model worker (default: cores / workers)' },
      providers: { type: 'string', value: 'list', help: "execution providers, e.g. 'cuda,cpu' or 'webgpu,cpu' (default: cpu)" },
      'batch-size': { type: 'string', value: 'N', help: 'images per model call', default: '4' },
      jobs: { type: 'string', value: 'N', help: "shards scored at once (2 overlaps one shard's tail with the next one's start)", default: '1' },
      results: { type: 'string', value: '<dir>', help: "this machine's path of the results folder (default: the submitter's path)" },
      'lock-duration': { type: 'string', value: 'seconds', help: "how long this worker's lock on a shard lasts unrenewed (renewed every half of it)", default: String(DEFAULT_LOCK_SETTINGS.lockDuration / 1000) },
      'stalled-interval': { type: 'string', value: 'seconds', help: 'how often shards whose worker died are looked for and put back', default: String(DEFAULT_LOCK_SETTINGS.stalledInterval / 1000) },
      'max-stalled-count': { type: 'string', value: 'N', help: 'times a shard may lose its worker before it ends failed', default: String(DEFAULT_LOCK_SETTINGS.maxStalledCount) },
      name: { type: 'string', value: 'name', help: 'this worker in status and job records (default: host:pid)' },
      quiet: { type: 'boolean', help: 'no log lines' },
    },
    notes: [
      'A shard is scored into one result file in the results folder, which gets its final name when complete;',
      'the submitter imports it. A worker that dies mid-shard (kill -9, a lost machine) loses its lock; about',
      '--lock-duration + --stalled-interval later another worker takes the shard over. Ctrl-C once: finish the',
      'shards in hand, then stop; twice: stop now (those shards go back to the queue when their lock expires).',
    ].join('\n'),
  },
  async run(args) {
    const providers = str(args, 'providers');
    const threads = num(args, 'threads', { integer: true, min: 1 });
    const quiet = flag(args, 'quiet');
    const results = str(args, 'results');
    const model = str(args, 'model');
    const name = str(args, 'name');
    sharp.cache(false);
    const handle = await runWorker({
      queue: required(args, 'queue', 'worker'),
      queueName: str(args, 'queue-name')!,
      ...(model ? { model } : {}),
      workers: num(args, 'workers', { integer: true, min: 1 })!,
      ...(threads ? { threads } : {}),
      ...(providers ? { providers: parseProviders(providers) } : {}),
      batchSize: num(args, 'batch-size', { integer: true, min: 1 })!,
      jobs: num(args, 'jobs', { integer: true, min: 1 })!,
      ...(results ? { results } : {}),
      ...(name ? { name } : {}),
      lock: {
        lockDuration: seconds(args, 'lock-duration', 0.1)!,
        stalledInterval: seconds(args, 'stalled-interval', 0.1)!,
        maxStalledCount: num(args, 'max-stalled-count', { integer: true, min: 0 })!,
      },
      onEvent: (e) => {
        const line = quiet ? undefined : workerEventLine(e);
        if (line) process.stderr.write(`${line}\n`);
      },
    });
    if (!quiet) process.stderr.write(`worker ${handle.name} waiting for shards at ${parseQueueUrl(required(args, 'queue', 'worker')).display}\n`);
    let signals = 0;
    const onSignal = (): void => {
      signals++;
      if (!quiet) process.stderr.write(signals === 1 ? 'finishing the shards in hand, then stopping (Ctrl-C again: stop now)\n' : 'stopping now\n');
      void handle.close(signals > 1);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await handle.done;
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

/** `ddps queue <verb> URL [options]`: the queue URL is the one positional argument. */
function queueCommand(
  verb: string,
  spec: { summary: string; usage: string; options: Record<string, OptionSpec> },
  act: (url: string, opts: { name: string }, args: Parsed) => Promise<void>,
): Command {
  return {
    spec: { name: `queue ${verb}`, summary: spec.summary, usage: spec.usage, options: { ...NAME_OPTION, ...spec.options } },
    async run(args) {
      const url = args.positionals[0];
      if (!url) throw new DdpsError('BAD_ARGUMENT', `ddps queue ${verb} needs the queue URL (redis://host:port[/db] or unix:///path/redis.sock)`);
      await act(url, { name: str(args, 'queue-name')! }, args);
      return 0;
    },
  };
}

export const queueStatusCommand = queueCommand(
  'status',
  {
    summary: 'what a queue holds: shards waiting, active (worker, progress), done, failed (reason); workers connected',
    usage: 'ddps queue status URL [--json]',
    options: { json: { type: 'boolean', help: 'print one JSON object' } },
  },
  async (url, opts, args) => {
    const status = await queueStatus(url, opts);
    if (flag(args, 'json')) console.log(JSON.stringify(status));
    else for (const line of statusLines(status)) console.log(line);
  },
);

export const queueRetryCommand = queueCommand(
  'retry',
  {
    summary: 'put failed shards back to waiting with fresh attempts (a running submitter picks them up)',
    usage: 'ddps queue retry URL [--run DIGEST]',
    options: { run: { type: 'string', value: 'digest', help: "only this run's shards (ddps queue status shows the digests)" } },
  },
  async (url, opts, args) => {
    const run = str(args, 'run');
    const n = await retryFailed(url, { ...opts, ...(run ? { run } : {}) });
    console.log(`${n} failed shard${n === 1 ? '' : 's'} back to waiting`);
  },
);

export const queueDrainCommand = queueCommand(
  'drain',
  {
    summary: 'remove the waiting shards (those being scored finish); --all empties the queue, history included',
    usage: 'ddps queue drain URL [--all]',
    options: { all: { type: 'boolean', help: 'also remove active, done and failed shards and the runs: the queue is then as new' } },
  },
  async (url, opts, args) => {
    const n = await drainQueue(url, { ...opts, everything: flag(args, 'all') });
    console.log(flag(args, 'all') ? `queue emptied: ${n} jobs removed` : `${n} waiting shard${n === 1 ? '' : 's'} removed`);
  },
);
