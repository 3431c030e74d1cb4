/**
 * The queue as people run it: `ddps score --queue` and `ddps worker` as separate processes over a real
 * redis-server, on the toy world. A worker SIGKILLed mid-shard, the submitter killed and started again,
 * a corrupt shard among good ones: each time the store's digest equals a single-process `ddps score`
 * on the same shards. "Mid-shard" is a state the test makes (the shard is a named pipe that stops
 * half-way until told), never a guess about timing.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { ShardQueue, type ShardJobView } from '../queue/index.js';
import { ensureToyWorld } from '../toy/index.js';
import { HeldShard } from './helpers/heldShard.js';
import { REPO, tempDir } from './helpers/paths.js';
import { needs } from './helpers/needs.js';
import { freshQueue, lazyRedis, type RedisServer } from './helpers/redis.js';
import { TOY_SCORE } from './helpers/toyWorld.js';
import { waitFor } from './helpers/waitFor.js';

const CLI = join(REPO, 'dist/cli/ddps.js');
const SCORE_ARGS = ['--image-size', String(TOY_SCORE.imageSize), '--patch-size', String(TOY_SCORE.patchSize), '--timesteps', String(TOY_SCORE.timesteps), '--quiet'];
/** Test-only short locks (a dead worker's shard moves on within seconds); many stalls allowed, so a busy machine never fails a shard. */
const WORKER_ARGS = ['--lock-duration', '2', '--stalled-interval', '0.5', '--max-stalled-count', '20', '--threads', '1'];
const SUBMIT_ARGS = ['--poll', '0.2', '--backoff', '0.1'];

interface Proc {
  child: ChildProcess;
  name: string;
  output: () => string;
  stdout: () => string;
  exit: Promise<number | null>;
}

const scratch = tempDir('ddps-queue-proc-');
const server = lazyRedis();
let redis: RedisServer;
let setup: Promise<void> | undefined;
let shards: string[];
let pack: string;
let classes: string;
let reference: string;
/** Every process started, so that a failing test leaves none behind. */
const started: Proc[] = [];

function ddps(name: string, args: string[]): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    stdout += b.toString();
  });
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  const proc = { child, name, output: () => out, stdout: () => stdout, exit };
  started.push(proc);
  return proc;
}

async function finished(t: ExecutionContext, p: Proc): Promise<number | null> {
  const code = await p.exit;
  t.log(`--- ${p.name} (exit ${code})\n${p.output().trim()}`);
  return code;
}

/** `ddps score` in one process, then `ddps inspect --digest`: what every distributed run must equal. */
async function localDigest(t: ExecutionContext, shardList: string[], dir: string): Promise<string> {
  const store = join(dir, 'local-store');
  t.is(await finished(t, ddps('local score', ['score', '--shards', shardList.join('::'), '--model', pack, '--class-map', classes, '--store', store, ...SCORE_ARGS])), 0);
  return digestOf(store);
}

async function digestOf(store: string): Promise<string> {
  const p = ddps('inspect', ['inspect', '--store', store, '--digest']);
  await p.exit;
  return p.stdout().trim();
}

function workers(url: string, queueName: string, n: number): Proc[] {
  return Array.from({ length: n }, (_, i) => ddps(`worker w${i}`, ['worker', '--queue', url, '--queue-name', queueName, '--worker-name', `w${i}`, ...WORKER_ARGS]));
}

function submitter(url: string, queueName: string, dir: string, shardList: string[], extra: string[] = []): Proc {
  const args = ['score', '--queue', url, '--queue-name', queueName, '--results', join(dir, 'results'), '--shards', shardList.join('::'), '--model', pack, '--class-map', classes, '--store', join(dir, 'store'), ...SCORE_ARGS, ...SUBMIT_ARGS, ...extra];
  return ddps('submitter', args);
}

async function stopAll(t: ExecutionContext, procs: Proc[]): Promise<void> {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  for (const p of procs) await finished(t, p);
}

async function views(q: ShardQueue): Promise<ShardJobView[]> {
  return q.allViews();
}

/** The redis-server, the toy world and the single-process reference every redis test uses, made by the first one that runs. */
function ready(t: ExecutionContext): Promise<void> {
  return (setup ??= prepare(t));
}

async function prepare(t: ExecutionContext): Promise<void> {
  redis = await server.server();
  // 14 samples a shard: the first half of a held shard fills a batch of 4 and more, so progress shows.
  const world = await ensureToyWorld({ dir: join(scratch, 'toy'), perClass: 12, shards: 6 });
  pack = world.pack;
  classes = world.classes;
  // The tests' own copies: one of them becomes a named pipe.
  mkdirSync(join(scratch, 'shards'));
  shards = world.shards.map((s, i) => {
    const copy = join(scratch, 'shards', `train-${i}.tar`);
    copyFileSync(s, copy);
    return copy;
  });
  reference = await localDigest(t, shards, join(scratch, 'reference'));
}

test.after.always(async () => {
  for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
});

needs('redis').serial('kill test: a worker SIGKILLed mid-shard; another takes the shard over; the store equals a single-process run', async (t) => {
  await ready(t);
  t.regex(reference, /^[0-9a-f]{64}$/);
  const { queueName, dir } = freshQueue(scratch, 'kill');
  const held = new HeldShard(shards[2]!, readFileSync(join(scratch, 'toy', 'data', 'train-000002.tar')));
  const q = await ShardQueue.open(redis.url, { name: queueName });
  const ws = workers(redis.url, queueName, 3);
  const sub = submitter(redis.url, queueName, dir, shards);
  try {
    let victim: ShardJobView | undefined;
    await waitFor('a worker mid-way through the held shard', async () => {
      victim = (await views(q)).find((v) => v.shard === shards[2] && v.state === 'active' && (v.progress?.done ?? 0) >= 1);
      return held.held && victim !== undefined;
    });
    const killed = ws.find((w) => w.name === `worker ${victim!.worker}`)!;
    killed.child.kill('SIGKILL');
    await killed.exit;
    held.abandon();
    t.is(await finished(t, sub), 0);
    t.is(await digestOf(join(dir, 'store')), reference);
    const job = (await views(q)).find((v) => v.shard === shards[2])!;
    t.true(job.stalls >= 1, 'the shard went back to the queue when the killed worker’s lock expired');
    t.not(job.result?.worker, victim!.worker);
    t.regex(sub.output(), /6 of 6 shards in the store/);
  } finally {
    await held.stop();
    await stopAll(t, ws);
    await q.close();
  }
});

needs('redis').serial('restart test: the submitter killed and started again carries on from the queue and the store', async (t) => {
  await ready(t);
  const { queueName, dir } = freshQueue(scratch, 'restart');
  const held = new HeldShard(shards[4]!, readFileSync(join(scratch, 'toy', 'data', 'train-000004.tar')));
  const q = await ShardQueue.open(redis.url, { name: queueName });
  const ws = workers(redis.url, queueName, 2);
  try {
    const first = submitter(redis.url, queueName, dir, shards);
    const imported = (v: ShardJobView): boolean => v.state === 'completed' && v.result !== undefined && !existsSync(join(dir, 'results', v.result.file));
    await waitFor('one shard imported while another is held mid-way', async () => {
      const vs = await views(q);
      return held.held && vs.some(imported) && vs.some((v) => v.shard === shards[4] && v.state === 'active' && (v.progress?.done ?? 0) >= 1);
    });
    first.child.kill('SIGKILL');
    t.is(await finished(t, first), null);
    // With nobody importing, the held shard finishes: its result waits in the results folder.
    held.release();
    await waitFor('every shard completed', async () => (await views(q)).filter((v) => v.state === 'completed').length === shards.length);
    const waiting = (await views(q)).filter((v) => v.state === 'completed' && !imported(v));
    t.true(waiting.length >= 1);

    const second = submitter(redis.url, queueName, dir, shards, ['--json']);
    t.is(await finished(t, second), 0);
    const summary = JSON.parse(second.stdout()) as { added: number; stored: number; imported: { scored: number } };
    t.like(summary, { added: 0, stored: 6 });
    t.true(summary.imported.scored >= 12, 'the results that landed while no submitter ran are imported');
    t.is(await digestOf(join(dir, 'store')), reference);
    t.true((await views(q)).every((v) => v.attemptsMade === 1), 'no shard was scored twice');
  } finally {
    await held.stop();
    await stopAll(t, ws);
    await q.close();
  }
});

needs('redis').serial('poisoned shard: a corrupt shard ends failed with its reason after its attempts; every good shard is stored', async (t) => {
  await ready(t);
  const { queueName, dir } = freshQueue(scratch, 'poison');
  const good = [shards[0]!, shards[1]!, shards[3]!];
  const bad = join(dir, 'broken.tar');
  writeFileSync(bad, Buffer.alloc(10_000, 0x5a));
  const expected = await localDigest(t, good, dir);
  const ws = workers(redis.url, queueName, 2);
  try {
    const sub = submitter(redis.url, queueName, dir, [good[0]!, bad, good[1]!, good[2]!], ['--attempts', '2']);
    t.is(await finished(t, sub), 1);
    t.regex(sub.output(), /3 of 4 shards in the store/);
    t.regex(sub.output(), /1 shard failed:\n {2}.*broken\.tar \(after 2 attempts\): shard .*broken\.tar is corrupt \(a tar header fails its checksum\) before its first sample/);
    t.is(await digestOf(join(dir, 'store')), expected);
    const status = ddps('status', ['queue', 'status', redis.url, '--queue-name', queueName]);
    await status.exit;
    t.regex(status.output(), /3 done, 0 active, 0 waiting, 1 failed/);
    t.regex(status.output(), /failed +.*broken\.tar +after 2 attempts: shard .*is corrupt/);
  } finally {
    await stopAll(t, ws);
  }
});

test('an unreachable queue: one clear error naming the URL, never the password', async (t) => {
  const p = ddps('worker', ['worker', '--queue', 'redis://ddps:hunter2@127.0.0.1:1/0']);
  t.is(await p.exit, 1);
  t.regex(p.output(), /ddps worker: cannot reach Redis at redis:\/\/ddps:\*\*\*@127\.0\.0\.1:1\/0: .*ECONNREFUSED/);
  t.false(p.output().includes('hunter2'));
});

test('score --queue refuses what only a local run uses, and a local score refuses what only a queued run uses (exit 2, nothing runs)', async (t) => {
  const base = ['score', '--shards', 'nowhere-{0..1}.tar', '--model', 'no-pack', '--store', join(scratch, 'never')];
  const cases: Array<[string[], RegExp]> = [
    [['--queue', 'redis://h:1', '--results', 'r', '--workers', '2', '--batch-size', '8'], /ddps score: --workers, --batch-size set how this machine scores; with --queue the workers score: give them to ddps worker/],
    [['--queue', 'redis://h:1', '--results', 'r', '--allow-mismatch'], /ddps score: --allow-mismatch is not for queued runs/],
    [['--queue', 'redis://h:1'], /ddps score: --queue needs --results <dir>/],
    [['--results', 'r', '--attempts', '5'], /ddps score: --results, --attempts only go with --queue/],
  ];
  for (const [extra, message] of cases) {
    const p = ddps('score', [...base, ...extra]);
    t.is(await p.exit, 2, extra.join(' '));
    t.regex(p.output(), message);
  }
  t.false(existsSync(join(scratch, 'never')));
});
