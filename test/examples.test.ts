/** The examples run here, so they cannot rot. */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as customPipeline } from '../examples/customPipeline.js';
import { main as incremental } from '../examples/incremental.js';
import { main as workerSplit } from '../examples/workerSplit.js';
import { REPO, tempDir } from './helpers/paths.js';

process.env.DDPS_CACHE ??= tempDir('ddps-cache-');

test("the README's composition snippet is the marked part of examples/customPipeline.ts, as written", (t) => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Composing your own pipeline'));
  const snippet = section.slice(section.indexOf('```ts\n') + 6, section.indexOf('```\n', section.indexOf('```ts\n') + 6));
  const source = readFileSync(join(REPO, 'examples/customPipeline.ts'), 'utf8');
  const marked = source.slice(source.indexOf('// README: begin\n') + 17, source.indexOf('  // README: end'));
  const dedented = marked.split('\n').map((l) => l.replace(/^ {2}/, '')).join('\n');
  t.true(snippet.length > 200);
  t.is(snippet, dedented);
});

test('custom pipeline: a plain filter and an async mergeMap spliced in; the rest are stored, ranked and selected', async (t) => {
  const all = await customPipeline({ minBrightness: 0 });
  t.is(all.dropped, 0);
  t.is(all.stored, 144);
  const some = await customPipeline({ minBrightness: 125 });
  t.true(some.dropped > 0 && some.stored > 0);
  t.is(some.stored + some.dropped, all.stored);
  t.is(some.samples, some.stored);
  // IPC 2 is two 2x2 mosaics: 8 patches per class; a class with few bright images is short.
  t.deepEqual(all.selected.map((s) => [s.patches, s.needed]), Array(6).fill([8, 8]));
  t.is(some.selected.length, 6);
  t.true(some.selected.every((s) => s.needed === 8 && s.patches <= 8));
  t.true(some.selected.some((s) => s.patches < 8));
});

test('worker split: each rank reads only its shards and together they cover the dataset once', async (t) => {
  const [a, b] = await workerSplit(2);
  t.is(a!.shards.length + b!.shards.length, 2);
  t.notDeepEqual(a!.shards, b!.shards);
  t.is(a!.scored + b!.scored, 144);
});

test('incremental: new images alone are scored and folded into the clusters; a large addition re-clusters', async (t) => {
  const small = await incremental({ newPerClass: 2 });
  t.is(small.firstScored, 144);
  t.is(small.newScored, 12);
  t.deepEqual(small.ranks.incremental.sort(), [0, 1, 2, 3, 4, 5]);
  t.deepEqual(small.ranks.reclustered, []);
  for (const sel of small.after) t.is(sel.patches.length, 40);
  const big = await incremental({ newPerClass: 8 });
  t.is(big.newScored, 48);
  t.deepEqual(big.ranks.reclustered.sort(), [0, 1, 2, 3, 4, 5]);
  for (const sel of big.after) t.is(sel.patches.length, 40);
});
