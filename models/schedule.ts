import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DdpsError } from '../core/errors.js';

/** The fields of a diffusers `scheduler_config.json` that fix the training noise schedule. */
export interface SchedulerConfig {
  beta_schedule?: string;
  beta_start?: number;
  beta_end?: number;
  num_train_timesteps?: number;
  trained_betas?: number[] | null;
}

const f32 = Math.fround;

/**
 * float32 `linspace` in numpy's order of operations (start + i*step, last = end exactly). Every step
 * is rounded to float32 because diffusers builds the schedule as float32 tensors: a float64 schedule
 * misses the METHOD.md reference alphabar values by up to 3e-7, this one reproduces all of them.
 */
function linspace32(start: number, end: number, n: number): Float64Array {
  const s = f32(start);
  const e = f32(end);
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (n - 1));
  for (let i = 0; i < n - 1; i++) out[i] = f32(f32(i * step) + s);
  out[n - 1] = e;
  return out;
}

/** diffusers `betas_for_alpha_bar` with the cosine alphabar (`squaredcos_cap_v2`), max beta 0.999. */
function cosineBetas(n: number): Float64Array {
  const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * Math.PI * 0.5) ** 2;
  const betas = new Float64Array(n);
  for (let i = 0; i < n; i++) betas[i] = f32(Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999));
  return betas;
}

function badConfig(file: string | undefined, what: string): DdpsError {
  return new DdpsError('BAD_CONFIG', `${file ?? 'scheduler config'}: ${what}`, { file });
}

function positiveNumber(config: SchedulerConfig, field: 'beta_start' | 'beta_end', file?: string): number {
  const v = config[field];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v >= 1) {
    throw badConfig(file, `${field} is ${JSON.stringify(v)}, expected a number in [0, 1)`);
  }
  return v;
}

/**
 * alphabar_t = prod_{s<=t} (1 - beta_s) for t = 0..num_train_timesteps-1, computed in float32 as
 * diffusers does (values are float32 numbers held in a Float64Array). `file` only names the source
 * in error messages.
 */
export function alphasCumprod(config: SchedulerConfig, file?: string): Float64Array {
  let betas: Float64Array;
  if (Array.isArray(config.trained_betas) && config.trained_betas.length > 0) {
    betas = Float64Array.from(config.trained_betas, (b, i) => {
      if (typeof b !== 'number' || !(b >= 0 && b < 1)) {
        throw badConfig(file, `trained_betas[${i}] is ${JSON.stringify(b)}, expected a number in [0, 1)`);
      }
      return f32(b);
    });
  } else {
    const n = config.num_train_timesteps ?? 1000;
    if (!Number.isInteger(n) || n < 1) {
      throw badConfig(file, `num_train_timesteps is ${JSON.stringify(n)}, expected a positive integer`);
    }
    const schedule = config.beta_schedule ?? 'linear';
    if (schedule === 'linear') {
      betas = linspace32(positiveNumber(config, 'beta_start', file), positiveNumber(config, 'beta_end', file), n);
    } else if (schedule === 'scaled_linear') {
      const lo = Math.sqrt(positiveNumber(config, 'beta_start', file));
      const hi = Math.sqrt(positiveNumber(config, 'beta_end', file));
      betas = linspace32(lo, hi, n).map((r) => f32(r * r));
    } else if (schedule === 'squaredcos_cap_v2') {
      betas = cosineBetas(n);
    } else {
      throw badConfig(
        file,
        `beta_schedule is ${JSON.stringify(schedule)}, expected "scaled_linear", "linear", ` +
          `"squaredcos_cap_v2" or a trained_betas array`,
      );
    }
  }
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc = f32(acc * f32(1 - betas[i]));
    out[i] = acc;
  }
  return out;
}

/** Reads `<packDir>/scheduler/scheduler_config.json` and returns its alphabar table. */
export async function loadSchedule(packDir: string): Promise<Float64Array> {
  const file = join(packDir, 'scheduler', 'scheduler_config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new DdpsError('MISSING_FILE', `${file}: cannot read the scheduler config (${String(cause)}); ` +
      'expected a diffusers scheduler_config.json', { file, cause });
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (cause) {
    throw new DdpsError('BAD_CONFIG', `${file}: not valid JSON (${String(cause)})`, { file, cause });
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw badConfig(file, 'expected a JSON object');
  }
  return alphasCumprod(config as SchedulerConfig, file);
}

/**
 * Stratified timestep grid: the centre of each of K equal strata of [lo, hi] x T, rounded half up
 * (METHOD.md: t_k = round(100 + (k + 0.5) x 600 / K)).
 */
export function timestepGrid(K: number, range: readonly [number, number] = [0.1, 0.7], T = 1000): number[] {
  const [lo, hi] = range;
  if (!Number.isInteger(K) || K < 1) {
    throw new DdpsError('BAD_ARGUMENT', `timesteps is ${K}, expected a positive integer`);
  }
  if (!Number.isInteger(T) || T < 1) {
    throw new DdpsError('BAD_ARGUMENT', `num_train_timesteps is ${T}, expected a positive integer`);
  }
  if (!(lo >= 0 && lo < hi && hi <= 1)) {
    throw new DdpsError('BAD_ARGUMENT', `timestep range is [${lo}, ${hi}], expected 0 <= lo < hi <= 1`);
  }
  const grid: number[] = [];
  for (let k = 0; k < K; k++) {
    const t = T * lo + ((k + 0.5) * (T * (hi - lo))) / K;
    // Snap to 1e-9 first: 0.7 - 0.1 etc. are not exact in binary, and an exact .5 must round up.
    const snapped = Math.round(t * 1e9) / 1e9;
    grid.push(Math.min(T - 1, Math.max(0, Math.round(snapped))));
  }
  return grid;
}

/** z_t = sqrt(alphabar) z0 + sqrt(1 - alphabar) eps, elementwise. */
export function noisyLatent(z0: Float32Array, eps: Float32Array, alphabar: number, out?: Float32Array): Float32Array {
  if (eps.length !== z0.length) {
    throw new DdpsError('BAD_ARGUMENT', `noise has ${eps.length} values, expected ${z0.length} (the latent's size)`);
  }
  if (!(alphabar > 0 && alphabar <= 1)) {
    throw new DdpsError('BAD_ARGUMENT', `alphabar is ${alphabar}, expected a number in (0, 1]`);
  }
  const res = out ?? new Float32Array(z0.length);
  if (res.length !== z0.length) {
    throw new DdpsError('BAD_ARGUMENT', `output has ${res.length} values, expected ${z0.length}`);
  }
  const a = Math.sqrt(alphabar);
  const b = Math.sqrt(1 - alphabar);
  for (let i = 0; i < z0.length; i++) res[i] = a * z0[i] + b * eps[i];
  return res;
}
