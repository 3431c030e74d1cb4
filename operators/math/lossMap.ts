/**
 * Stage I loss maps and the score map D = (1/K) sum_k (L_u,k - L_c,k) (METHOD.md).
 * Tensors are NCHW float32; a map is h x w, row-major.
 */
import { DdpsError } from '../../core/errors.js';

function checkDims(c: number, h: number, w: number): void {
  for (const [name, v] of [['c', c], ['h', h], ['w', w]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new DdpsError('BAD_ARGUMENT', `lossMap: ${name} = ${v}, expected a positive integer`);
    }
  }
}

/**
 * Per-cell mean over channels of (eps - pred)^2 for batch item `item` of two NCHW tensors with the
 * same layout. Where eps and pred are batched differently (one eps for both prompts), pass
 * `subarray` views of the matching items with item 0.
 */
export function lossMapAt(
  eps: Float32Array,
  pred: Float32Array,
  item: number,
  c: number,
  h: number,
  w: number,
  out: Float32Array = new Float32Array(h * w),
): Float32Array {
  checkDims(c, h, w);
  if (!Number.isInteger(item) || item < 0) {
    throw new DdpsError('BAD_ARGUMENT', `lossMap: item = ${item}, expected a non-negative integer`);
  }
  const hw = h * w;
  const base = item * c * hw;
  if (eps.length < base + c * hw || pred.length < base + c * hw) {
    throw new DdpsError(
      'BAD_ARGUMENT',
      `lossMap: item ${item} of ${c}x${h}x${w} needs ${base + c * hw} values, found eps ${eps.length}, pred ${pred.length}`,
    );
  }
  if (out.length !== hw) {
    throw new DdpsError('BAD_ARGUMENT', `lossMap: out has ${out.length} cells, expected ${h}x${w} = ${hw}`);
  }
  // Sum in float64 and round once: the stored map does not depend on the channel order's rounding.
  for (let i = 0; i < hw; i++) {
    let s = 0;
    for (let ch = 0, j = base + i; ch < c; ch++, j += hw) {
      const d = eps[j] - pred[j];
      s += d * d;
    }
    out[i] = s / c;
  }
  return out;
}

/** lossMapAt for a single (unbatched) C x H x W pair. */
export function lossMap(
  eps: Float32Array,
  pred: Float32Array,
  c: number,
  h: number,
  w: number,
  out?: Float32Array,
): Float32Array {
  return lossMapAt(eps, pred, 0, c, h, w, out);
}

/** acc += weight * (lossU - lossC), in place; weight is 1/K for the mean over K timesteps. */
export function accumulateScore(
  acc: Float32Array,
  lossU: Float32Array,
  lossC: Float32Array,
  weight: number,
): Float32Array {
  const n = acc.length;
  if (lossU.length !== n || lossC.length !== n) {
    throw new DdpsError(
      'BAD_ARGUMENT',
      `accumulateScore: map sizes differ (acc ${n}, lossU ${lossU.length}, lossC ${lossC.length}), expected equal`,
    );
  }
  for (let i = 0; i < n; i++) acc[i] += weight * (lossU[i] - lossC[i]);
  return acc;
}
