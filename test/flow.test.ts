/**
 * Composition that cannot stall: standard RxJS operators spliced between the source and the sink
 * (filter, take, first, a user's async mergeMap, errors the user catches, unsubscribe) on 1000 toy
 * samples. Each run completes or stops with the read-ahead bounded by the window, every place free
 * again, and the shard file closed.
 */
import test from 'ava';
import { readdirSync, readlinkSync } from 'node:fs';
import { EMPTY, type Observable, type OperatorFunction, catchError, filter, first, lastValueFrom, map, mergeMap, of, take, tap, toArray } from 'rxjs';
import { resolveScoreConfig } from '../core/config.js';
import { Pack } from '../models/pack.js';
import { batch } from '../operators/batch.js';
import { decode } from '../operators/decode.js';
import { Flow, Ticket } from '../operators/flow.js';
import { mapOrdered } from '../operators/mapOrdered.js';
import { readShards } from '../operators/readShards.js';
import { resize } from '../operators/resize.js';
import type { StoredSummary } from '../operators/toStore.js';
import type { Decoded } from '../operators/types.js';
import { ScoreStore } from '../storage/store/index.js';
import { loadClassMap } from '../storage/webdataset/index.js';
import { TOY_CLASSES } from '../toy/classes.js';
import { writeToyDataset } from '../toy/toyData.js';
import { tempDir } from './helpers/paths.js';
import { modelStages } from './helpers/stages.js';
import { TOY_SCORE, toyWorld } from './helpers/toyWorld.js';

const WINDOW = 16;
const config = resolveScoreConfig(TOY_SCORE);

/** 1000 samples in one shard: 5 toy classes x 200. */
let thousand: Promise<{ shard: string; classes: string }> | undefined;
function data(): Promise<{ shard: string; classes: string }> {
  thousand ??= writeToyDataset(tempDir('ddps-1000-'), { perClass: 200, classes: TOY_CLASSES.slice(0, 5), shards: 1 }).then((r) => {
    if (r.samples !== 1000 || r.shards.length !== 1) throw new Error(`expected 1000 samples in one shard, got ${r.samples} in ${r.shards.length}`);
    return { shard: r.shards[0]!, classes: r.classesPath };
  });
  return thousand;
}

/** Whether this process has `path` open (Linux: /proc/self/fd). */
function isOpen(path: string): boolean {
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) return true;
    } catch {
      // closed while listing
    }
  }
  return false;
}

/** Waits for the shard to be closed: the test fails by ava's timeout if it never is. */
async function closed(path: string): Promise<void> {
  while (isOpen(path)) await new Promise((r) => setTimeout(r, 10));
}

/** j of a toy key `train_<name>_<j>`. */
const indexOf = (key: string): number => Number(key.slice(key.lastIndexOf('_') + 1));

interface Counts {
  read: number;
  /** Samples that left for good: stored, or dropped by the user's operators. */
  done: number;
  /** Samples inside the user's asynchronous operator (RxJS's own queue, which the window cannot see). */
  userQueue: number;
  /** The most samples read and not done, less those in the user's queue, at any time. */
  maxAhead: number;
}

/**
 * The scoring pipeline on the toy pack with `yours` spliced in after decode; `counts` tracks the
 * read-ahead at every sample the source reads.
 */
async function pipeline(yours: OperatorFunction<Decoded, Decoded>, opts: { limitPerClass?: number } = {}) {
  const { shard, classes } = await data();
  const world = await toyWorld();
  const classMap = await loadClassMap(classes);
  const pack = await Pack.load(world.pack, { dift: true, intraOpThreads: 1 });
  const store = ScoreStore.open(tempDir('ddps-flow-store-'), { config, pack: { name: pack.identity.name, digest: pack.identity.digest } });
  const flow = new Flow(WINDOW);
  const counts: Counts = { read: 0, done: 0, userQueue: 0, maxAhead: 0 };
  const labels = classMap.names;
  const stored: Observable<StoredSummary> = readShards(shard, { classMap, flow, ...(opts.limitPerClass !== undefined ? { limitPerClass: opts.limitPerClass } : {}) })
    .pipe(
      tap(() => {
        counts.read++;
        counts.maxAhead = Math.max(counts.maxAhead, counts.read - counts.done - counts.userQueue);
      }),
      decode(),
      yours,
      resize({ imageSize: config.imageSize }),
      batch(4),
    )
    .pipe(
      modelStages(pack, store, config, labels),
      tap(() => counts.done++),
    );
  const close = async (): Promise<void> => {
    await store.close();
    await pack.close();
  };
  return { shard, flow, counts, stored, store, close };
}

const dropOdd = (counts: () => Counts): OperatorFunction<Decoded, Decoded> =>
  filter((img) => {
    if (indexOf(img.key) % 2 === 0) return true;
    counts().done++;
    return false;
  });

test('Flow: a ticket holds one place however many operators hold it; the last drop frees it, a later hold takes it again', async (t) => {
  const flow = new Flow(2);
  const a = await flow.acquire();
  t.true(a instanceof Ticket);
  a.hold();
  a.release();
  a.release();
  t.is(flow.alive, 1, 'an operator still holds it after the source let go (twice)');
  a.drop();
  t.is(flow.alive, 0);
  a.drop();
  t.is(flow.alive, 0, 'a drop too many changes nothing');
  a.hold();
  t.is(flow.alive, 1, 'back from an operator of yours: it takes a place again');
  await flow.acquire();
  let third = false;
  const pending = flow.acquire().then((tk) => ((third = true), tk));
  await new Promise((r) => setImmediate(r));
  t.false(third, 'the window is full');
  a.drop();
  await pending;
  t.true(third);
  t.is(flow.peak, 2);
});

test('Flow: an aborted wait resolves undefined and leaves no waiter behind', async (t) => {
  const flow = new Flow(1);
  const first = await flow.acquire();
  const stop = new AbortController();
  const waiting = flow.acquire(stop.signal);
  t.is(flow.waiting, 1);
  stop.abort();
  t.is(await waiting, undefined);
  t.is(flow.waiting, 0);
  first.release();
  t.is(flow.alive, 0);
  const next = await flow.acquire();
  t.is(flow.alive, 1, 'the aborted waiter took nothing');
  next.release();
});

test.serial('readShards reads no further than the window while an operator holds every sample; unsubscribing frees them and closes the shard', async (t) => {
  const { shard } = await data();
  const flow = new Flow(5);
  let read = 0;
  const sub = readShards(shard, { flow })
    .pipe(
      tap(() => read++),
      mapOrdered(() => new Promise<never>(() => {}), 1000),
    )
    .subscribe();
  // Parked: the source has read one more sample and waits for a place for it.
  while (flow.waiting === 0) await new Promise((r) => setImmediate(r));
  t.is(read, 5);
  t.is(flow.alive, 5);
  t.true(isOpen(shard));
  sub.unsubscribe();
  t.is(flow.alive, 0);
  t.is(flow.waiting, 0, 'nothing stays parked');
  await closed(shard);
  t.is(read, 5);
});

test.serial('a filter that drops every other sample: the run completes, the read-ahead stays within the window, the shard is closed', async (t) => {
  let c: Counts | undefined;
  const run = await pipeline(dropOdd(() => c!));
  c = run.counts;
  const keys = await lastValueFrom(run.stored.pipe(map((s) => s.key), toArray()));
  t.is(keys.length, 500);
  t.true(keys.every((k) => indexOf(k) % 2 === 0));
  t.is(run.store.counts().samples, 500);
  t.is(c.read, 1000);
  t.true(c.maxAhead <= WINDOW, `read ahead by ${c.maxAhead}`);
  t.is(run.flow.peak, WINDOW, 'the model is the bottleneck, so the window fills');
  t.is(run.flow.alive, 0);
  t.is(run.flow.waiting, 0);
  await closed(run.shard);
  await run.close();
});

test.serial('take(10) and first(): the run stops early, reads at most the window beyond what it needed, frees every place and closes the shard', async (t) => {
  for (const [name, end, wanted] of [
    ['take(10)', take<StoredSummary>(10), 10],
    ['first()', first<StoredSummary>(), 1],
  ] as const) {
    const run = await pipeline((s) => s);
    const got = await lastValueFrom(run.stored.pipe(end, toArray()));
    t.is(got.length, wanted, name);
    t.true(run.counts.read <= wanted + WINDOW, `${name}: read ${run.counts.read}`);
    t.is(run.flow.alive, 0, name);
    t.is(run.flow.waiting, 0, name);
    await closed(run.shard);
    await run.close();
  }
});

test.serial('unsubscribe mid-run: the source stops, every place is free, the shard is closed', async (t) => {
  const run = await pipeline((s) => s);
  let seen = 0;
  await new Promise<void>((resolve) => {
    const sub = run.stored.subscribe(() => {
      if (++seen === 50) {
        sub.unsubscribe();
        resolve();
      }
    });
  });
  t.is(run.flow.alive, 0);
  t.is(run.flow.waiting, 0);
  await closed(run.shard);
  t.true(run.counts.read <= 50 + WINDOW, `read ${run.counts.read}`);
  await run.close();
});

test.serial("a user's async mergeMap with its own concurrency, and errors the user catches per sample or for the run", async (t) => {
  // mergeMap: every sample comes back out of the user's queue and is stored.
  let c: Counts | undefined;
  let maxQueue = 0;
  const async = await pipeline(
    (s) =>
      s.pipe(
        tap(() => (maxQueue = Math.max(maxQueue, ++c!.userQueue))),
        mergeMap(async (img) => {
          await new Promise((r) => setImmediate(r));
          return { ...img };
        }, 3),
        tap(() => c!.userQueue--),
      ),
    { limitPerClass: 40 },
  );
  c = async.counts;
  t.is((await lastValueFrom(async.stored.pipe(toArray()))).length, 200);
  t.true(c.maxAhead <= WINDOW, `read ahead by ${c.maxAhead} besides the user's queue`);
  t.log(`the user's mergeMap held at most ${maxQueue} samples`);
  t.is(async.flow.alive, 0);
  t.is(async.flow.waiting, 0);
  await closed(async.shard);
  await async.close();

  // An error caught per sample drops that sample only.
  const caught: string[] = [];
  const perSample = await pipeline(
    mergeMap((img) =>
      of(img).pipe(
        map((x) => {
          if (indexOf(x.key) % 10 === 3) throw new Error(`bad ${x.key}`);
          return x;
        }),
        catchError(() => {
          caught.push(img.key);
          perSample.counts.done++;
          return EMPTY;
        }),
      ),
    ),
    { limitPerClass: 40 },
  );
  const kept = await lastValueFrom(perSample.stored.pipe(toArray()));
  t.is(kept.length + caught.length, 200);
  t.true(caught.length > 0 && caught.every((k) => indexOf(k) % 10 === 3));
  t.false(kept.some((s) => indexOf(s.key) % 10 === 3));
  t.true(perSample.counts.maxAhead <= WINDOW);
  t.is(perSample.flow.alive, 0);
  t.is(perSample.flow.waiting, 0);
  await closed(perSample.shard);
  await perSample.close();

  // An error the user catches for the whole run ends it cleanly.
  const whole = await pipeline((s) => s);
  let n = 0;
  const end = await lastValueFrom(
    whole.stored.pipe(
      map((s) => {
        if (++n === 20) throw new Error('enough');
        return s.key;
      }),
      catchError((err: Error) => of(`stopped: ${err.message}`)),
      toArray(),
    ),
  );
  t.is(end.length, 20);
  t.is(end.at(-1), 'stopped: enough');
  t.is(whole.flow.alive, 0);
  t.is(whole.flow.waiting, 0);
  await closed(whole.shard);
  t.true(whole.counts.read <= 20 + WINDOW);
  await whole.close();
});
