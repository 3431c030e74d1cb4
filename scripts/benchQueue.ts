/**
 * The bench's scale-out section (also runnable alone: `node dist/scripts/benchQueue.js`). On the toy
 * world (8 shards, 576 images, the paper's default knobs), end to end from the command to the filled
 * store, each process with 1 model thread and 1 ONNX Runtime thread:
 *
 *   - queue / direct: `ddps score --queue` with 1 `ddps worker` over a private redis-server, against
 *     one `ddps score` process (the same scoring process count; the submitter only imports);
 *   - 2 workers / 1 worker: two `ddps worker` processes against one, through the queue.
 *
 * Throughput is samples over wall seconds, from starting the processes (workers and submitter together)
 * to the last import, so process start-up and model loading count on both sides. The three setups run
 * in turn, three rounds, and each figure is its best round: a shared machine's load drifts over all.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureToyWorld } from '../toy/index.js';
import { startRedis } from './redisServer.js';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../cli/ddps.js');
const ONE_THREAD = ['--threads', '1'];
const ROUNDS = 3;

export interface QueueBench {
  samples: number;
  directPerSec: number;
  queue1PerSec: number;
  queue2PerSec: number;
  /** queue1PerSec / directPerSec (goal >= 0.95). */
  queueVsDirect: number;
  /** queue2PerSec / queue1PerSec (2 at best on 2 free cores). */
  twoVsOne: number;
}

function ddps(args: string[]): { exit: Promise<number>; stdout: () => string; kill: () => void } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return {
    exit: once(child, 'exit').then(([code]) => code as number),
    stdout: () => out,
    kill: () => child.kill('SIGTERM'),
  };
}

async function checked(p: ReturnType<typeof ddps>, what: string): Promise<string> {
  const code = await p.exit;
  if (code !== 0) throw new Error(`bench: ${what} exited with ${code}`);
  return p.stdout();
}

/** samples/s of one direct `ddps score` process. */
async function direct(shards: string, pack: string, dir: string): Promise<{ perSec: number; samples: number }> {
  const t0 = performance.now();
  const out = await checked(ddps(['score', '--shards', shards, '--model', pack, '--store', mkdtempSync(join(dir, 'direct-')), '--workers', '1', ...ONE_THREAD, '--quiet', '--json']), 'ddps score');
  const seconds = (performance.now() - t0) / 1000;
  const scored = (JSON.parse(out) as { scored: number }).scored;
  return { perSec: scored / seconds, samples: scored };
}

/** samples/s through the queue with `workers` worker processes, all started with the submitter. */
async function queued(shards: string, pack: string, dir: string, workers: number): Promise<number> {
  const redis = await startRedis();
  const ws: ReturnType<typeof ddps>[] = [];
  try {
    const t0 = performance.now();
    for (let i = 0; i < workers; i++) ws.push(ddps(['worker', '--queue', redis.url, '--workers', '1', ...ONE_THREAD, '--quiet']));
    const run = mkdtempSync(join(dir, 'queued-'));
    const out = await checked(
      ddps(['score', '--queue', redis.url, '--results', join(run, 'results'), '--shards', shards, '--model', pack, '--store', join(run, 'store'), '--poll', '0.2', '--quiet', '--json']),
      'ddps score --queue',
    );
    const seconds = (performance.now() - t0) / 1000;
    return (JSON.parse(out) as { imported: { scored: number } }).imported.scored / seconds;
  } finally {
    for (const w of ws) w.kill();
    await Promise.all(ws.map((w) => w.exit));
    await redis.stop();
  }
}

export async function queueBench(row: (k: string, v: string) => void): Promise<QueueBench> {
  const dir = mkdtempSync(join(tmpdir(), 'ddps-bench-queue-'));
  try {
    const world = await ensureToyWorld({ dir: join(dir, 'toy'), perClass: 96, shards: 8 });
    const shards = world.shards.join('::');
    let samples = 0;
    let directPerSec = 0;
    let queue1PerSec = 0;
    let queue2PerSec = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const d = await direct(shards, world.pack, dir);
      samples = d.samples;
      directPerSec = Math.max(directPerSec, d.perSec);
      queue1PerSec = Math.max(queue1PerSec, await queued(shards, world.pack, dir, 1));
      queue2PerSec = Math.max(queue2PerSec, await queued(shards, world.pack, dir, 2));
    }
    const result = { samples, directPerSec, queue1PerSec, queue2PerSec, queueVsDirect: queue1PerSec / directPerSec, twoVsOne: queue2PerSec / queue1PerSec };
    row(`toy world, ${samples} images, direct ddps score: samples/s`, directPerSec.toFixed(2));
    row('  through the queue, 1 worker: samples/s', queue1PerSec.toFixed(2));
    row('  through the queue, 2 workers: samples/s', queue2PerSec.toFixed(2));
    row('queue (1 worker) / direct (goal >= 0.95)', result.queueVsDirect.toFixed(3));
    row('2 worker processes / 1 (1 thread each)', result.twoVsOne.toFixed(3));
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await queueBench((k, v) => console.log(`${k.padEnd(48)} ${v}`))));
}
