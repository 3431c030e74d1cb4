import test from 'ava';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDdpsError } from '../core/errors.js';
import { alphasCumprod, loadSchedule, noisyLatent, timestepGrid } from '../models/schedule.js';
import { TINY_SD } from './helpers/paths.js';
import { needs } from './helpers/needs.js';


const SD15 = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, num_train_timesteps: 1000 };

// METHOD.md reference values, given to 8 decimals.
const REFERENCE: Array<[number, number]> = [
  [0, 0.99914998],
  [100, 0.89422321],
  [261, 0.65566933],
  [500, 0.27633256],
  [700, 0.08252078],
  [999, 0.00466009],
];

test('SD 1.5 scaled_linear alphabar matches the METHOD.md references to their 8 decimals', (t) => {
  const ab = alphasCumprod(SD15);
  t.is(ab.length, 1000);
  for (const [i, ref] of REFERENCE) {
    t.true(Math.abs(ab[i] - ref) <= 5.1e-9, `alphabar[${i}] = ${ab[i]}, expected ${ref}`);
  }
  for (let i = 1; i < ab.length; i++) t.true(ab[i] < ab[i - 1]);
});

needs('shared')('loadSchedule reads the pack scheduler config', async (t) => {
  const ab = await loadSchedule(TINY_SD);
  t.deepEqual(ab, alphasCumprod(SD15));
  t.true(Math.abs(ab[261] - 0.65566933) <= 5.1e-9);
});

test('linear schedule: hand-computed cumulative products', (t) => {
  // betas = 0.1, 0.2, 0.3 -> alphabar = 0.9, 0.9*0.8, 0.9*0.8*0.7 (float32 rounding only)
  const ab = alphasCumprod({ beta_schedule: 'linear', beta_start: 0.1, beta_end: 0.3, num_train_timesteps: 3 });
  const expected = [0.9, 0.72, 0.504];
  t.is(ab.length, 3);
  for (let i = 0; i < 3; i++) t.true(Math.abs(ab[i] - expected[i]) < 1e-7, `alphabar[${i}] = ${ab[i]}`);
  // scaled_linear over the same ends squares a linspace of square roots: sqrt betas 0.1, 0.2, 0.3.
  const sl = alphasCumprod({ beta_schedule: 'scaled_linear', beta_start: 0.01, beta_end: 0.09, num_train_timesteps: 3 });
  const expectedSl = [0.99, 0.99 * 0.96, 0.99 * 0.96 * 0.91];
  for (let i = 0; i < 3; i++) t.true(Math.abs(sl[i] - expectedSl[i]) < 1e-7, `scaled alphabar[${i}] = ${sl[i]}`);
});

test('trained_betas take precedence over beta_schedule', (t) => {
  const ab = alphasCumprod({ beta_schedule: 'scaled_linear', beta_start: 0.1, beta_end: 0.2, trained_betas: [0.5, 0.5, 0.75] });
  t.deepEqual(Array.from(ab), [0.5, 0.25, 0.0625]);
});

test('squaredcos_cap_v2: first beta from the cosine alphabar', (t) => {
  const ab = alphasCumprod({ beta_schedule: 'squaredcos_cap_v2', num_train_timesteps: 1000 });
  const f = (x: number): number => Math.cos(((x + 0.008) / 1.008) * Math.PI * 0.5) ** 2;
  t.true(Math.abs(ab[0] - f(0.001) / f(0)) < 1e-7);
  t.true(ab[999] < 1e-3);
});

test('unsupported schedule and missing config are errors naming the file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ddps-schedule-'));
  try {
    const missing = await t.throwsAsync(loadSchedule(dir));
    t.true(isDdpsError(missing, 'MISSING_FILE'));
    t.true(missing!.message.includes(join(dir, 'scheduler', 'scheduler_config.json')));

    await mkdir(join(dir, 'scheduler'));
    await writeFile(join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify({ ...SD15, beta_schedule: 'sigmoid' }));
    const bad = await t.throwsAsync(loadSchedule(dir));
    t.true(isDdpsError(bad, 'BAD_CONFIG'));
    t.true(bad!.message.includes('scheduler_config.json'));
    t.true(bad!.message.includes('"sigmoid"'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('timestep grid: METHOD.md values, half-way rounds up', (t) => {
  t.deepEqual(timestepGrid(8), [138, 213, 288, 363, 438, 513, 588, 663]);
  t.deepEqual(timestepGrid(1), [400]);
  t.deepEqual(timestepGrid(4), [175, 325, 475, 625]);
  t.deepEqual(timestepGrid(3), [200, 400, 600]);
  // 600/7 is not a half-integer grid: round(100 + 0.5*600/7) = round(142.857) = 143
  t.deepEqual(timestepGrid(7), [143, 229, 314, 400, 486, 571, 657]);
  for (let K = 1; K <= 64; K++) {
    const g = timestepGrid(K);
    for (let k = 0; k < K; k++) t.is(g[k], Math.round(100 + ((k + 0.5) * 600) / K));
  }
  t.deepEqual(timestepGrid(2, [0, 1], 10), [3, 8]);
  t.throws(() => timestepGrid(0), { code: 'BAD_ARGUMENT' });
  t.throws(() => timestepGrid(4, [0.7, 0.1]), { code: 'BAD_ARGUMENT' });
});

test('noisyLatent mixes latent and noise with sqrt(alphabar) weights', (t) => {
  const z0 = Float32Array.from([1, -2, 0.5]);
  const eps = Float32Array.from([0, 1, -1]);
  const z = noisyLatent(z0, eps, 0.64);
  const expected = [0.8, -1.6 + 0.6, 0.4 - 0.6];
  for (let i = 0; i < 3; i++) t.true(Math.abs(z[i] - expected[i]) < 1e-6, `z[${i}] = ${z[i]}`);
  const out = new Float32Array(3);
  t.is(noisyLatent(z0, eps, 1, out), out);
  t.deepEqual(Array.from(out), [1, -2, 0.5]);
  t.throws(() => noisyLatent(z0, new Float32Array(2), 0.5), { code: 'BAD_ARGUMENT' });
});
