import test from 'ava';
import { seededRandom } from '../models/noise.js';
import { SmallestK } from '../operators/math/smallestK.js';

test('SmallestK keeps the k smallest scores of a stream, sorted, ties in arrival order', (t) => {
  const next = seededRandom(9);
  const scores = Array.from({ length: 1000 }, () => Math.floor(next() * 200));
  const heap = new SmallestK<number>(25);
  scores.forEach((s, i) => heap.push(s, i));
  const expected = scores.map((s, i) => ({ score: s, item: i })).sort((a, b) => a.score - b.score || a.item - b.item).slice(0, 25);
  t.deepEqual(heap.sorted(), expected);
  t.is(heap.size, 25);
});

test('SmallestK with fewer items than k keeps them all; k = 0 keeps none', (t) => {
  const heap = new SmallestK<string>(5);
  t.true(heap.push(3, 'c'));
  t.true(heap.push(1, 'a'));
  t.deepEqual(heap.sorted().map((e) => e.item), ['a', 'c']);
  const none = new SmallestK<string>(0);
  t.false(none.push(1, 'x'));
  t.deepEqual(none.sorted(), []);
});
