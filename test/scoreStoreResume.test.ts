/**
 * Crash safety: a child process writes fixture samples as fast as it can and is SIGKILLed mid-run
 * (twice), then finishes. After each kill every sample it reported committed is stored, every stored
 * sample is complete and exact, nothing partial or orphaned is left, and the finished store is the
 * same as one written without interruption.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScoreStore } from '../storage/store/index.js';
import { digest, dumpSample, dumpStore, fixtureKey, makeSample } from './fixtures/scoreStoreSamples.js';
import { tempDir } from './helpers/paths.js';

const WRITER = fileURLToPath(new URL('./fixtures/scoreStoreWriter.js', import.meta.url));
const N = 3000;
const DIM = 64;

interface WriterRun {
  committed: number[];
  signal: NodeJS.Signals | null;
  finished: boolean;
  stderr: string;
}

/** Runs the writer; with `killAfter`, SIGKILLs it `delayMs` after that many more samples are reported committed. */
function runWriter(dir: string, killAfter?: number, delayMs = 0): Promise<WriterRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, String(N), String(DIM)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const committed: number[] = [];
    let finished = false;
    let pending = '';
    let stderr = '';
    let killing = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line === 'done') finished = true;
        else committed.push(Number(line.split(' ')[1]));
      }
      if (killAfter !== undefined && committed.length >= killAfter && !killing) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (_code, signal) => resolve({ committed, signal, finished, stderr }));
  });
}

function storeDir(t: ExecutionContext, name: string): string {
  const dir = tempDir('ddps-resume-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

/** Checks the store after a kill; returns how many samples it holds. */
async function checkAfterKill(t: ExecutionContext, dir: string, run: WriterRun, expected: Map<string, string>): Promise<number> {
  t.is(run.signal, 'SIGKILL', run.stderr);
  t.false(run.finished);
  const store = ScoreStore.open(dir, { readOnly: true });
  try {
    const stored = new Set<string>();
    const perClass = new Map<number, { samples: number; patches: number }>();
    let exact = 0;
    for (const s of store.samples()) {
      stored.add(s.key);
      if (dumpSample(s) === expected.get(s.key)) exact++;
      const c = perClass.get(s.cls) ?? { samples: 0, patches: 0 };
      perClass.set(s.cls, { samples: c.samples + 1, patches: c.patches + s.patches.length });
    }
    t.is(exact, stored.size, 'every stored sample is complete and exact');
    t.deepEqual(run.committed.filter((i) => !stored.has(fixtureKey(i))), [], 'every reported commit survived');
    t.true(stored.size < N, 'the kill landed before the end');

    // No orphan patches: each class scan holds exactly its stored samples' patches.
    for (const [cls, c] of perClass) {
      const scanned = [...store.classPatches(cls)];
      t.is(scanned.length, c.patches);
      t.true(scanned.every((p) => stored.has(p.key)));
    }
    const counts = store.counts();
    t.deepEqual([...counts.perClass].sort(([a], [b]) => a - b), [...perClass].sort(([a], [b]) => a - b));
    t.is(counts.samples, stored.size);
    return stored.size;
  } finally {
    await store.close();
  }
}

test('kill -9 mid-run loses no committed sample, leaves nothing partial, and resuming matches an uninterrupted run', async (t) => {
  const expected = new Map(Array.from({ length: N }, (_, i) => [fixtureKey(i), dumpSample(makeSample(i, DIM))] as const));

  const referenceDir = storeDir(t, 'reference');
  const reference = await runWriter(referenceDir);
  t.true(reference.finished, reference.stderr);
  t.is(reference.committed.length, N);

  const dir = storeDir(t, 'killed');
  const held1 = await checkAfterKill(t, dir, await runWriter(dir, 100), expected);
  const second = await runWriter(dir, 300, 10);
  t.false(second.committed.some((i) => i < 0 || i >= N));
  const held2 = await checkAfterKill(t, dir, second, expected);
  t.true(held2 > held1, `the second run added samples (${held1} -> ${held2})`);
  t.log(`samples held after the kills: ${held1}, ${held2} of ${N}`);

  const last = await runWriter(dir);
  t.true(last.finished, last.stderr);
  t.is(last.committed.length, N - held2, 'the resumed run wrote only what was missing');

  const [a, b] = [ScoreStore.open(referenceDir, { readOnly: true }), ScoreStore.open(dir, { readOnly: true })];
  t.teardown(() => Promise.all([a.close(), b.close()]).then(() => undefined));
  const [dumpA, dumpB] = [dumpStore(a), dumpStore(b)];
  t.is(digest(dumpB), digest(dumpA));
  t.is(b.counts().samples, N);
});
