import test from 'ava';
import { Flow } from '../operators/flow.js';
import { readShards } from '../operators/readShards.js';
import { toyWorld } from './helpers/toyWorld.js';

test('Flow: at most `window` tickets at once; a release lets the next one in; release is idempotent', async (t) => {
  const flow = new Flow(2);
  const a = await flow.acquire();
  await flow.acquire();
  let third = false;
  const pending = flow.acquire().then((tk) => {
    third = true;
    return tk;
  });
  await new Promise((r) => setTimeout(r, 20));
  t.false(third);
  a.release();
  a.release();
  await pending;
  t.true(third);
  t.is(flow.alive, 2);
});

test('readShards reads no further than the window while nothing downstream finishes a sample', async (t) => {
  const world = await toyWorld();
  const flow = new Flow(5);
  const seen: string[] = [];
  const sub = readShards(world.shards, { flow }).subscribe((s) => seen.push(s.key));
  // Wait for the window to fill, however long reading takes; then give the reader time to overrun it.
  while (seen.length < 5) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 200));
  t.is(seen.length, 5);
  t.is(flow.alive, 5);
  sub.unsubscribe();
});
