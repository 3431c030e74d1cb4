import test from 'ava';
import { isDdpsError } from '../core/errors.js';
import { iou, toPixelBox, topPatches, type CellBox } from '../operators/math/nms.js';
import { poolScores, type PooledScores } from '../operators/math/pooling.js';
import { seededRandom } from '../models/noise.js';
import { type Box } from '../core/geometry.js';


function grid(scores: number[], rows: number, cols: number, window: number, stride = 1): PooledScores {
  return { scores: Float64Array.from(scores), rows, cols, windowH: window, windowW: window, stride };
}

const where = (boxes: CellBox[]) => boxes.map((b) => [b.row, b.col]);

test('iou: hand-worked pairs', (t) => {
  t.is(iou([0, 0, 2, 2], [1, 1, 2, 2]), 1 / 7);
  t.is(iou([0, 0, 2, 2], [0, 0, 2, 2]), 1);
  t.is(iou([0, 0, 4, 4], [1, 1, 2, 2]), 0.25);
  t.is(iou([0, 0, 2, 2], [2, 0, 2, 2]), 0); // sharing an edge
  t.is(iou([0, 0, 2, 2], [5, 5, 1, 1]), 0);
  t.is(iou([0, 0, 32, 32], [8, 0, 32, 32]), 0.6);
  t.is(iou([3, 3, 0, 0], [3, 3, 0, 0]), 0);
});

test('count 1 is the argmax, as a cell box and a pixel box', (t) => {
  const d = new Float32Array(8 * 8);
  d[5 * 8 + 6] = 1; // peak at row 5, col 6
  const pool = poolScores(d, 8, 8, 4, 2);
  const [best, ...rest] = topPatches(pool, { count: 1 });
  t.is(rest.length, 0);
  // windows at stride 2 containing (5,6): top-left rows 2 or 4, cols 4 (6 would not fit: 6+4 > 8)
  t.deepEqual(best, { row: 2, col: 4, height: 4, width: 4, score: 1 / 16 });
  t.deepEqual(toPixelBox(best), [32, 16, 32, 32]);
  t.deepEqual(toPixelBox(best, 16), [64, 32, 64, 64]);
});

test('greedy suppression at IoU > 0.5 between 4x4 windows in a row', (t) => {
  // Shift 1: IoU 12/20 = 0.6 (suppressed); shift 2: 8/24 (kept); shift 3: 4/28 (kept).
  const pool = grid([1, 5, 4, 3, 2, 0], 1, 6, 4);
  const got = topPatches(pool, { count: 3 });
  t.deepEqual(where(got), [[0, 1], [0, 3], [0, 5]]);
  t.deepEqual(got.map((b) => b.score), [5, 3, 0]);
});

test('count larger than what suppression leaves returns fewer', (t) => {
  const pool = grid([1, 5, 4, 3, 2, 0], 1, 6, 4);
  t.deepEqual(where(topPatches(pool, { count: 10 })), [[0, 1], [0, 3], [0, 5]]);
  // iou 0: any overlap suppresses; shift 4 only touches
  t.deepEqual(where(topPatches(pool, { count: 10, iou: 0 })), [[0, 1], [0, 5]]);
});

test('the threshold is strict and exact: IoU exactly 0.6 is kept at iou 0.6', (t) => {
  const pool = grid([1, 5, 4, 3, 2, 0], 1, 6, 4);
  t.deepEqual(where(topPatches(pool, { count: 3, iou: 0.6 })), [[0, 1], [0, 2], [0, 3]]);
  t.deepEqual(where(topPatches(pool, { count: 6, iou: 1 })), [[0, 1], [0, 2], [0, 3], [0, 4], [0, 0], [0, 5]]);
});

test('stride scales window offsets into cells', (t) => {
  // stride 2 between 4x4 windows: neighbours overlap 8/24, so nothing is suppressed
  const pool = grid([3, 1, 2, 4], 2, 2, 4, 2);
  const got = topPatches(pool, { count: 4 });
  t.deepEqual(where(got), [[2, 2], [0, 0], [2, 0], [0, 2]]);
});

test('ties go to the lower row, then the lower column', (t) => {
  const pool = grid([0, 0, 7, 0, 0, 0, 7, 0, 0, 7, 0, 0], 3, 4, 1);
  t.deepEqual(where(topPatches(pool, { count: 1 })), [[0, 2]]);
  t.deepEqual(where(topPatches(pool, { count: 3 })), [[0, 2], [1, 2], [2, 1]]);
  t.deepEqual(where(topPatches(pool, { count: 5 })), [[0, 2], [1, 2], [2, 1], [0, 0], [0, 1]]);
});

test('all-equal map: windows in reading order, suppression still applies', (t) => {
  const pool = poolScores(new Float32Array(36).fill(0.25), 6, 6, 4, 1); // 3x3 windows of 4x4
  t.deepEqual(topPatches(pool, { count: 1 }), [{ row: 0, col: 0, height: 4, width: 4, score: 0.25 }]);
  // (0,0); (0,1) 0.6 out; (0,2) 1/3 in; (1,0) out; (1,1) 9/23 in; (1,2) vs (0,2) 0.6 out; (2,0) in; ...
  t.deepEqual(where(topPatches(pool, { count: 9 })), [[0, 0], [0, 2], [1, 1], [2, 0], [2, 2]]);
});

test('NaN scores rank last', (t) => {
  const pool = grid([NaN, 1, NaN, 2], 1, 4, 1);
  t.deepEqual(where(topPatches(pool, { count: 1 })), [[0, 3]]);
  t.deepEqual(where(topPatches(pool, { count: 4 })), [[0, 3], [0, 1], [0, 0], [0, 2]]);
});

test('64x64 map, count 10: same as a brute-force greedy NMS with iou() on pixel boxes', (t) => {
  for (const [seed, k, s] of [[1, 28, 1], [2, 8, 2], [3, 16, 3]] as const) {
    const rnd = seededRandom(seed);
    const d = new Float32Array(64 * 64);
    for (let i = 0; i < d.length; i++) d[i] = Math.round(rnd() * 4) / 4; // coarse values: many ties
    const pool = poolScores(d, 64, 64, k, s);
    const got = topPatches(pool, { count: 10 });

    const cand: Array<{ box: Box; score: number; i: number }> = [];
    for (let i = 0; i < pool.scores.length; i++) {
      const b = toPixelBox({ row: Math.floor(i / pool.cols) * s, col: (i % pool.cols) * s, height: k, width: k, score: 0 });
      cand.push({ box: b, score: pool.scores[i], i });
    }
    cand.sort((a, b) => b.score - a.score || a.i - b.i);
    const ref: typeof cand = [];
    for (const c of cand) {
      if (ref.length === 10) break;
      if (ref.every((r) => iou(r.box, c.box) <= 0.5)) ref.push(c);
    }
    t.deepEqual(got.map((b) => toPixelBox(b)), ref.map((r) => r.box), `seed ${seed}`);
    t.deepEqual(got.map((b) => b.score), ref.map((r) => r.score));
    t.deepEqual(topPatches(pool, { count: 1 })[0], got[0]);
  }
});

test('bad options are DdpsErrors', (t) => {
  const pool = grid([1, 2], 1, 2, 1);
  const bad = (f: () => unknown) => t.true(isDdpsError(t.throws(f), 'BAD_ARGUMENT'));
  bad(() => topPatches(pool, { count: 0 }));
  bad(() => topPatches(pool, { count: 1.5 }));
  bad(() => topPatches(pool, { count: 2, iou: 1.5 }));
  bad(() => topPatches(pool, { count: 2, iou: NaN }));
  bad(() => topPatches({ ...pool, rows: 2 }, { count: 1 }));
});
