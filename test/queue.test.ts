/**
 * The queue through the library, on a real redis-server and the toy world: a distributed run stores
 * exactly what a local run stores; submitting again adds nothing; lost results are scored again; a
 * shard that keeps failing ends failed with its reason and completes once fixed and retried; drain;
 * a worker that loses its lock publishes nothing. Waits are on states, never on durations.
 */
import test from 'ava';
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { resolveScoreConfig } from '../core/config.js';
import { PackPool } from '../models/packPool.js';
import { runScore, scoreStoreConfig, scoreStorePack } from '../pipelines/score.js';
import { drainQueue, parseQueueUrl, queueStatus, redactUrl, retryFailed, runSpec, runWorker, shardJobId, ShardQueue, submitRun, type SubmitOptions, type WorkerEvent } from '../queue/index.js';
import { ScoreStore, storeDigest } from '../storage/store/index.js';
import { loadClassMap } from '../storage/webdataset/index.js';
import { ensureToyWorld, type ToyWorld } from '../toy/index.js';
import { tempDir } from './helpers/paths.js';
import { HeldShard } from './helpers/heldShard.js';
import { needs } from './helpers/needs.js';
import { freshQueue, lazyRedis, type RedisServer } from './helpers/redis.js';
import { TOY_SCORE } from './helpers/toyWorld.js';
import { waitFor } from './helpers/waitFor.js';

const CONFIG = resolveScoreConfig(TOY_SCORE);
/** Short locks so that a lost one is noticed soon; many allowed stalls so that a busy machine never fails a shard. */
const LOCK = { lockDuration: 2000, stalledInterval: 500, maxStalledCount: 20 };

const server = lazyRedis();
let redis: RedisServer;
let world: ToyWorld;
let setup: Promise<void> | undefined;
const scratch = tempDir('ddps-queue-test-');

/** The redis-server and the toy world the redis tests share, made by the first one that runs. */
function ready(): Promise<void> {
  return (setup ??= (async () => {
    redis = await server.server();
    world = await ensureToyWorld({ dir: join(scratch, 'toy'), perClass: 6, shards: 6 });
  })());
}

test.after.always(async () => {
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function options(queueName: string, dir: string, shards: readonly string[], over: Partial<SubmitOptions> = {}): Promise<SubmitOptions> {
  return {
    queue: redis.url,
    queueName,
    shards,
    pack: world.pack,
    config: CONFIG,
    classMap: await loadClassMap(world.classes),
    store: join(dir, 'store'),
    results: join(dir, 'results'),
    attempts: { attempts: 2, backoff: 50 },
    pollMs: 100,
    ...over,
  };
}

/** The digest of a local single-process run on the same shard paths. */
async function localDigest(shards: readonly string[]): Promise<{ digest: string; samples: number }> {
  const classMap = await loadClassMap(world.classes);
  const model = await PackPool.open(world.pack, { workers: 1, intraOpThreads: 1, dift: true });
  const dir = tempDir('ddps-local-');
  const store = ScoreStore.open(dir, { config: scoreStoreConfig(CONFIG, classMap.names), pack: scoreStorePack(model.identity) });
  try {
    await runScore({ shards: [...shards], model, store, config: CONFIG, labels: classMap.names, classMap, batchSize: 4 });
    return { digest: storeDigest(store), samples: store.counts().samples };
  } finally {
    await store.close();
    await model.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function digestOf(dir: string): Promise<string> {
  const store = ScoreStore.open(dir, { readOnly: true });
  try {
    return storeDigest(store);
  } finally {
    await store.close();
  }
}

test('queue URLs: host, port, db, socket; the password never shows', (t) => {
  const a = parseQueueUrl('redis://ddps:s3cr%40t@gpu-head:6380/2');
  t.deepEqual(a.options, { host: 'gpu-head', port: 6380, db: 2, username: 'ddps', password: 's3cr@t' });
  t.is(a.display, 'redis://ddps:***@gpu-head:6380/2');
  t.deepEqual(parseQueueUrl('redis://localhost').options, { host: 'localhost', port: 6379, db: 0 });
  t.deepEqual(parseQueueUrl('rediss://:pw@[::1]:7000').options, { host: '::1', port: 7000, db: 0, password: 'pw', tls: {} });
  t.deepEqual(parseQueueUrl('unix:///run/redis/r.sock?db=3').options, { path: '/run/redis/r.sock', db: 3 });
  t.is(redactUrl('redis://u:pw@h:1/0?password=pw2'), 'redis://u:***@h:1/0?password=***');
  const err = t.throws(() => parseQueueUrl('http://u:topsecret@h:1'), { code: 'BAD_ARGUMENT' } as never);
  t.regex(err!.message, /unknown scheme http:/);
  t.false(err!.message.includes('topsecret'));
  t.throws(() => parseQueueUrl('redis://h/x'), { message: /database "x"/ });
});

test('an unreachable Redis is one clear error naming the URL, never its password', async (t) => {
  const missing = await t.throwsAsync(ShardQueue.open(`unix://${join(scratch, 'nobody.sock')}`), { code: 'QUEUE_UNREACHABLE' } as never);
  t.regex(missing!.message, /cannot reach Redis at unix:\/\/.*nobody\.sock: .*ENOENT/);
  const refused = await t.throwsAsync(ShardQueue.open('redis://ddps:hunter2@127.0.0.1:1/0'), { code: 'QUEUE_UNREACHABLE' } as never);
  t.regex(refused!.message, /cannot reach Redis at redis:\/\/ddps:\*\*\*@127\.0\.0\.1:1\/0: .*ECONNREFUSED/);
  t.false(refused!.message.includes('hunter2'));
});

needs('redis').serial('a run through the queue stores exactly what a local run stores; again adds nothing; a fresh store gets lost results scored again', async (t) => {
  await ready();
  const { queueName, dir } = freshQueue(scratch, 'flow');
  const reference = await localDigest(world.shards);
  const worker = await runWorker({ queue: redis.url, queueName, lock: LOCK, name: 'w1' });
  try {
    const events: string[] = [];
    const progress: number[] = [];
    const opts = await options(queueName, dir, world.shards, { onEvent: (e) => events.push(e.type === 'queued' ? `queued ${e.added}/${e.total}` : e.type), onProgress: (p) => progress.push(p.fraction) });
    const summary = await submitRun(opts);
    t.like(summary, { shards: 6, stored: 6, failed: [], removed: [], stopped: false, imported: { scored: reference.samples, skipped: 0 }, storeSamples: reference.samples });
    t.is(summary.unetPasses, reference.samples * (2 * CONFIG.timesteps + 1));
    t.is(events[0], 'queued 6/6');
    t.is(events.filter((e) => e === 'imported').length, 6);
    t.is(progress.at(-1), 1);
    t.is(await digestOf(opts.store), reference.digest);
    t.deepEqual(readdirSync(opts.results).filter((f) => f.endsWith('.tar')), []);

    // Submitting again adds nothing and scores nothing.
    const again: string[] = [];
    const second = await submitRun({ ...opts, onEvent: (e) => again.push(e.type === 'queued' ? `queued ${e.added}/${e.total}` : e.type) });
    t.deepEqual(again, ['queued 0/6']);
    t.like(second, { stored: 6, imported: { scored: 0, skipped: 0 } });
    const status = await queueStatus(redis.url, { name: queueName });
    t.deepEqual(status.workers, ['w1']);
    t.like(status.runs, [{ shards: 6, counts: { completed: 6, waiting: 0, active: 0, failed: 0 } }]);
    t.true(status.jobs.every((j) => j.attemptsMade === 1 && j.result?.worker === 'w1'));

    // The same run into a new store: the queue says done, the results are gone, so every shard is scored again.
    const other = { ...opts, store: join(dir, 'store2'), lostAfterMs: 0, onEvent: undefined };
    const third = await submitRun(other);
    t.like(third, { stored: 6, imported: { scored: reference.samples } });
    t.is(await digestOf(other.store), reference.digest);
  } finally {
    await worker.close();
  }
});

needs('redis').serial('a shard that keeps failing ends failed with its reason; fixed and retried, it completes', async (t) => {
  await ready();
  const { queueName, dir } = freshQueue(scratch, 'poison');
  const shards = world.shards.slice(0, 3).map((s, i) => {
    const copy = join(dir, `shard-${i}.tar`);
    copyFileSync(s, copy);
    return copy;
  });
  writeFileSync(shards[1]!, Buffer.alloc(4096, 7));
  // The default (long) locks: a try that stalls on a loaded machine would count differently, and the attempts are what is checked.
  const worker = await runWorker({ queue: redis.url, queueName });
  try {
    const opts = await options(queueName, dir, shards);
    const summary = await submitRun(opts);
    t.is(summary.stored, 2);
    t.deepEqual(summary.failed.map((f) => [f.shard, f.attempts]), [[shards[1], 2]]);
    t.regex(summary.failed[0]!.reason, /shard .*shard-1\.tar is corrupt \(a tar header fails its checksum\) before its first sample/);
    const status = await queueStatus(redis.url, { name: queueName });
    t.like(status.jobs.find((j) => j.state === 'failed'), { shard: shards[1], attemptsMade: 2 });

    copyFileSync(world.shards[1]!, shards[1]!);
    t.is(await retryFailed(redis.url, { name: queueName }), 1);
    const again = await submitRun(opts);
    t.like(again, { stored: 3, failed: [] });
    t.is(await digestOf(opts.store), (await localDigest(shards)).digest);
  } finally {
    await worker.close();
  }
});

needs('redis').serial('drain removes the waiting shards; drain everything leaves an empty queue', async (t) => {
  await ready();
  const { queueName, dir } = freshQueue(scratch, 'drain');
  const stop = new AbortController();
  const summary = await submitRun(await options(queueName, dir, world.shards, { signal: stop.signal, onEvent: (e) => e.type === 'queued' && stop.abort() }));
  t.true(summary.stopped);
  t.like((await queueStatus(redis.url, { name: queueName })).runs, [{ counts: { waiting: 6 } }]);
  t.is(await drainQueue(redis.url, { name: queueName }), 6);
  const drained = await queueStatus(redis.url, { name: queueName });
  t.deepEqual(drained.jobs, []);
  t.like(drained.runs, [{ shards: 6, counts: { waiting: 0, missing: 6 } }]);
  t.is(await drainQueue(redis.url, { name: queueName, everything: true }), 0);
  t.deepEqual((await queueStatus(redis.url, { name: queueName })).runs, []);
});

needs('redis').serial('a worker that loses its lock mid-shard stops and publishes nothing for it; the shard is scored again and stored once', async (t) => {
  await ready();
  const { queueName, dir } = freshQueue(scratch, 'lost-lock');
  const shards = world.shards.slice(0, 2).map((s, i) => {
    const copy = join(dir, `shard-${i}.tar`);
    copyFileSync(s, copy);
    return copy;
  });
  const opts = await options(queueName, dir, shards);
  const id = shardJobId(runSpec(opts).digest, shards[0]!);
  // Held before its end-of-archive blocks: every sample but the last reaches the pipeline (a batch of 4 fills).
  const bytes = readFileSync(world.shards[0]!);
  const held = new HeldShard(shards[0]!, bytes, bytes.length - 1024);
  const events: WorkerEvent[] = [];
  const worker = await runWorker({
    queue: redis.url,
    queueName,
    lock: LOCK,
    onEvent: (e) => {
      events.push(e);
      // Before the worker can take the shard again, the path becomes the plain shard file.
      if (e.type === 'lost-lock') held.detach();
    },
  });
  try {
    const run = submitRun(opts);
    const q = await ShardQueue.open(redis.url, { name: queueName });
    const client = new Redis(parseQueueUrl(redis.url).options);
    try {
      await waitFor('the first try mid-way through the held shard', async () => held.held && ((await q.views([id]))[0]!.progress?.done ?? 0) >= 1);
      // What an expired lock looks like to its worker: the key is gone when it renews.
      t.is(await client.del(`ddps:${queueName}:${id}:lock`), 1);
      const summary = await run;
      t.like(summary, { stored: 2, failed: [] });
    } finally {
      client.disconnect();
      await q.close();
    }
    const store = ScoreStore.open(opts.store, { readOnly: true });
    t.like(store.imported(id), { file: `${id}.2.tar` });
    t.is(storeDigest(store), (await localDigest(shards)).digest);
    await store.close();
    const seen = events.flatMap((e) => (e.type === 'lost-lock' || e.type === 'finished' ? [`${e.type} ${e.shard}`] : []));
    t.deepEqual(seen.filter((x) => x.startsWith('lost-lock')), [`lost-lock ${shards[0]}`]);
    t.deepEqual(seen.filter((x) => x.startsWith('finished')).sort(), [`finished ${shards[0]}`, `finished ${shards[1]}`]);
    t.true(seen.indexOf(`lost-lock ${shards[0]}`) < seen.indexOf(`finished ${shards[0]}`));
    // Neither the first try's file nor its temporary is left.
    t.deepEqual(readdirSync(opts.results).filter((f) => f.startsWith(`${id}.1.`)), []);
  } finally {
    await held.stop();
    await worker.close();
  }
});
