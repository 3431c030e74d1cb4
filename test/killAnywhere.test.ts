/**
 * Kill-anywhere resume (issue 14). While the store is created, strace kills `ddps score` (SIGKILL,
 * the write not made) just before its n-th write to data.mdb: an exact point of the store's life,
 * whatever the machine's speed, with no timing at all. n = 1 leaves a 0-byte data.mdb, n = 2 LMDB's
 * header without any of ddps's sub-databases. In every such state a read-only open (inspect, select,
 * report) must say the store is incomplete, exit 1 and never die by a signal. Later kills wait for the
 * store to hold so many samples, however long that takes. Each time the re-run must complete the store
 * to exactly what an uninterrupted run writes.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { ScoreStore } from '../storage/store/index.js';
import { digest, dumpStore } from './fixtures/scoreStoreSamples.js';
import { needs } from './helpers/needs.js';
import { REPO, tempDir } from './helpers/paths.js';
import { toyWorld } from './helpers/toyWorld.js';

const CLI = join(REPO, 'dist/cli/ddps.js');

interface Ran {
  /** 'exit N' or the signal that ended it. */
  end: string;
  stderr: string;
}

function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ end: signal ?? `exit ${code}`, stderr })));
}

const ddps = (...args: string[]): Promise<Ran> => run([process.execPath, CLI, ...args]);

/** `ddps score` under strace, killed (SIGKILL, the write not made) just before a thread's n-th write to data.mdb. */
function tracedScore(scoreArgs: string[], store: string, n: number): Promise<Ran> {
  const kill = ['-e', 'trace=pwrite64', '-e', `inject=pwrite64:error=EIO:signal=SIGKILL:when=${n}`];
  return run(['strace', '-f', '-qq', '-o', '/dev/null', '-P', join(store, 'data.mdb'), ...kill, process.execPath, CLI, ...scoreArgs, '--store', store]);
}

function dumpOf(dir: string): string {
  const store = ScoreStore.open(dir, { readOnly: true });
  try {
    return digest(dumpStore(store));
  } finally {
    void store.close();
  }
}

const INCOMPLETE = /is incomplete: .*Re-run `ddps score` with the same arguments to complete it/s;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The toy shards, the score command line, and what an uninterrupted run stores (once per file). */
let reference: Promise<{ scoreArgs: string[]; expected: string; samples: number }> | undefined;
const uninterrupted = () =>
  (reference ??= (async () => {
    const world = await toyWorld();
    const scoreArgs = ['score', '--shards', world.shards.join('::'), '--model', world.pack, '--image-size', '128', '--patch-size', '56', '--timesteps', '2', '--batch-size', '2', '--quiet'];
    const full = join(tempDir('ddps-full-'), 'store');
    const done = await ddps(...scoreArgs, '--store', full);
    if (done.end !== 'exit 0') throw new Error(`the uninterrupted run failed: ${done.stderr}`);
    const store = ScoreStore.open(full, { readOnly: true });
    const samples = store.counts().samples;
    await store.close();
    return { scoreArgs, expected: dumpOf(full), samples };
  })());

/** Re-runs the killed run's command line and checks the store is what the uninterrupted run wrote. */
async function resumes(t: ExecutionContext, store: string, what: string): Promise<void> {
  const { scoreArgs, expected } = await uninterrupted();
  const resumed = await ddps(...scoreArgs, '--store', store);
  t.is(resumed.end, 'exit 0', `${what}: ${resumed.stderr}`);
  t.is(dumpOf(store), expected, `${what}, then resumed`);
}

needs('strace')('killed while it creates the store (0-byte data.mdb, then no sub-databases, ...): every reader says incomplete, exits 1, never crashes; the re-run completes it exactly', async (t) => {
  const { scoreArgs } = await uninterrupted();
  const seen = new Set<string>();
  // The creation writes are the main thread's first (strace counts per thread), so these points are exact.
  for (const n of [1, 2, 5, 12]) {
    const store = join(tempDir('ddps-killed-'), 'store');
    const killed = await tracedScore(scoreArgs, store, n);
    t.is(killed.end, 'SIGKILL', `write ${n}: ${killed.stderr}`);
    const inspect = await ddps('inspect', '--store', store, '--json');
    t.is(inspect.end, 'exit 1', `write ${n}: inspect ended by ${inspect.end}: ${inspect.stderr}`);
    t.regex(inspect.stderr, INCOMPLETE, `write ${n}`);
    t.true(inspect.stderr.includes(store));
    if (statSync(join(store, 'data.mdb')).size === 0) seen.add('0-byte data.mdb');
    if (/none of its sub-databases/.test(inspect.stderr)) seen.add('data.mdb without sub-databases');
    for (const other of [
      ['select', '--store', store, '--out', join(store, '..', 'sel'), '--ipc', '1'],
      ['report', '--store', store, '--out', join(store, '..', 'report')],
    ]) {
      const r = await ddps(...other);
      t.is(r.end, 'exit 1', `write ${n}: ${other[0]}: ${r.stderr}`);
      t.regex(r.stderr, INCOMPLETE, `write ${n}: ${other[0]}`);
    }
    await resumes(t, store, `killed before write ${n} to data.mdb`);
  }
  t.deepEqual([...seen].sort(), ['0-byte data.mdb', 'data.mdb without sub-databases']);
});

test('killed after its first sample and half-way: the store reads, and the re-run completes it exactly', async (t) => {
  const { scoreArgs, samples } = await uninterrupted();
  for (const wanted of [1, Math.floor(samples / 2)]) {
    const store = join(tempDir('ddps-killed-'), 'store');
    const child = spawn(process.execPath, [CLI, ...scoreArgs, '--store', store], { stdio: 'ignore' });
    const ended = new Promise<string>((resolve) => child.on('close', (code, signal) => resolve(signal ?? `exit ${code}`)));
    // Wait for the state, however long it takes; open only once LMDB's header is long written.
    let stored = 0;
    while (stored < wanted) {
      await sleep(20);
      let size = 0;
      try {
        size = statSync(join(store, 'data.mdb')).size;
      } catch {
        continue;
      }
      if (size < 1 << 16) continue;
      try {
        const s = ScoreStore.open(store, { readOnly: true });
        stored = s.counts().samples;
        await s.close();
      } catch {
        // still being set up
      }
    }
    child.kill('SIGKILL');
    t.is(await ended, 'SIGKILL', `the run ended before the kill after ${wanted} samples`);
    const inspect = await ddps('inspect', '--store', store, '--json');
    t.is(inspect.end, 'exit 0', inspect.stderr);
    const partial = ScoreStore.open(store, { readOnly: true });
    const held = partial.counts().samples;
    await partial.close();
    t.true(held >= wanted && held < samples, `killed holding ${held} of ${samples}`);
    await resumes(t, store, `killed holding at least ${wanted} samples`);
  }
});

test('a hand-made 0-byte data.mdb is incomplete; someone else\'s LMDB is not a ddps score store; neither crashes a reader', async (t) => {
  const empty = tempDir('ddps-empty-');
  writeFileSync(join(empty, 'data.mdb'), '');
  for (const args of [['inspect', '--store', empty], ['select', '--store', empty, '--out', join(empty, 'sel')], ['report', '--store', empty, '--out', join(empty, 'r')]]) {
    const r = await ddps(...args);
    t.is(r.end, 'exit 1', r.stderr);
    t.regex(r.stderr, INCOMPLETE);
  }

  const foreign = tempDir('ddps-foreign-');
  const db = open(foreign, {});
  await db.put('hello', 'world');
  await db.close();
  const r = await ddps('inspect', '--store', foreign);
  t.is(r.end, 'exit 1', r.stderr);
  t.regex(r.stderr, /is not a ddps score store: it holds "hello", which ddps never writes/);

  const notLmdb = tempDir('ddps-notlmdb-');
  writeFileSync(join(notLmdb, 'data.mdb'), 'x'.repeat(10000));
  const n = await ddps('inspect', '--store', notLmdb);
  t.is(n.end, 'exit 1', n.stderr);
  t.regex(n.stderr, /is not a ddps score store: its data.mdb is not an LMDB file/);
});
