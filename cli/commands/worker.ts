import type { Command } from 'commander';
import sharp from 'sharp';
import { parseProviders } from '../../models/runtime.js';
import { parseQueueUrl, runWorker } from '../../queue/index.js';
import { defineCommand, type Values } from '../define.js';
import { opt } from '../options.js';
import { workerEventLine } from '../queueOutput.js';
import { handlingInterrupts } from '../signals.js';

const OPTIONS = {
  queue: opt.queue.required(),
  queueName: opt.queueName,
  model: opt.model.defaultShownAs('the path the submitter gave'),
  workers: opt.workers,
  threads: opt.threads,
  providers: opt.providers,
  batchSize: opt.batchSize,
  jobs: opt.jobs,
  results: opt.results.defaultShownAs("the submitter's path"),
  lockDuration: opt.lockDuration,
  stalledInterval: opt.stalledInterval,
  maxStalledCount: opt.maxStalledCount,
  workerName: opt.workerName,
  quiet: opt.quiet,
};

/** Scores shards until stopped: Ctrl-C once finishes the shards in hand, twice stops at once. */
async function work(o: Values<typeof OPTIONS>): Promise<void> {
  const log = (line: string): void => {
    if (!o.quiet) process.stderr.write(`${line}\n`);
  };
  // Every image is seen once: libvips' operation cache would only hold memory.
  sharp.cache(false);
  const handle = await runWorker({
    queue: o.queue,
    queueName: o.queueName,
    ...(o.model ? { model: o.model } : {}),
    workers: o.workers,
    ...(o.threads ? { threads: o.threads } : {}),
    ...(o.providers ? { providers: parseProviders(o.providers) } : {}),
    batchSize: o.batchSize,
    jobs: o.jobs,
    ...(o.results ? { results: o.results } : {}),
    ...(o.workerName ? { name: o.workerName } : {}),
    lock: { lockDuration: o.lockDuration * 1000, stalledInterval: o.stalledInterval * 1000, maxStalledCount: o.maxStalledCount },
    onEvent: (e) => {
      const line = workerEventLine(e);
      if (line) log(line);
    },
  });
  log(`worker ${handle.name} waiting for shards at ${parseQueueUrl(o.queue).display}`);
  let signals = 0;
  await handlingInterrupts(() => {
    signals++;
    log(signals === 1 ? 'finishing the shards in hand, then stopping (Ctrl-C again: stop now)' : 'stopping now');
    void handle.close(signals > 1);
  }, () => handle.done);
}

export const workerCommand = (): Command =>
  defineCommand({
    name: 'worker',
    summary: 'score shards from a queue on this machine until stopped (one per machine or GPU; see ddps score --queue)',
    description:
      'Score shards from a queue on this machine until stopped: one per machine or GPU, as many machines as you like.\n\n' +
      'Each shard is scored into one result file in the results folder, which gets its final name when complete; ' +
      'the submitter (ddps score --queue) imports it. A worker that dies mid-shard (kill -9, a lost machine) loses ' +
      'its lock; about --lock-duration + --stalled-interval later another worker takes the shard over. Ctrl-C ' +
      'once: finish the shards in hand, then stop; twice: stop now (those shards go back to the queue when their ' +
      'lock expires).',
    options: OPTIONS,
    action: work,
  });
