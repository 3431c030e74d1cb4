import type { Command } from 'commander';
import { drainQueue, queueStatus, retryFailed } from '../../queue/index.js';
import { defineCommand, defineGroup } from '../define.js';
import { opt } from '../options.js';
import { statusLines } from '../queueOutput.js';

const URL_ARG = [['<url>', 'the Redis queue: redis://[:password@]host:port[/db], rediss:// (TLS) or unix:///path/redis.sock']] as const;

const statusCommand = (): Command =>
  defineCommand({
    name: 'status',
    summary: 'what a queue holds: shards waiting, active (worker, progress), done, failed (reason); workers connected',
    args: URL_ARG,
    options: { queueName: opt.queueName, json: opt.json },
    async action(o, [url]) {
      const status = await queueStatus(url!, { name: o.queueName });
      if (o.json) console.log(JSON.stringify(status));
      else for (const line of statusLines(status)) console.log(line);
    },
  });

const retryCommand = (): Command =>
  defineCommand({
    name: 'retry',
    summary: 'put failed shards back to waiting with fresh attempts (a running submitter picks them up)',
    args: URL_ARG,
    options: { queueName: opt.queueName, run: opt.run },
    async action(o, [url]) {
      const n = await retryFailed(url!, { name: o.queueName, ...(o.run ? { run: o.run } : {}) });
      console.log(`${n} failed shard${n === 1 ? '' : 's'} back to waiting`);
    },
  });

const drainCommand = (): Command =>
  defineCommand({
    name: 'drain',
    summary: 'remove the waiting shards (those being scored finish); --all empties the queue, history included',
    args: URL_ARG,
    options: { queueName: opt.queueName, all: opt.all },
    async action(o, [url]) {
      const everything = o.all === true;
      const n = await drainQueue(url!, { name: o.queueName, everything });
      console.log(everything ? `queue emptied: ${n} jobs removed` : `${n} waiting shard${n === 1 ? '' : 's'} removed`);
    },
  });

export const queueCommand = (): Command =>
  defineGroup('queue', 'look at a queue of shard jobs (status), put failed shards back (retry), empty it (drain)', [statusCommand(), retryCommand(), drainCommand()]);
