/**
 * DIFT feature of a patch (METHOD.md Stage II): the UNet up_blocks.1 map, averaged over the cells
 * a patch covers, L2-normalised.
 */
import { DdpsError } from '../../core/errors.js';
import { type Box } from '../../core/geometry.js';

/** Half-open cell ranges [x0, x1) x [y0, y1) of a feature map. */
export interface CellRange {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

function axisCells(start: number, length: number, cells: number, image: number, what: string): [number, number] {
  if (!(start >= 0 && length >= 0 && start + length <= image)) {
    throw new DdpsError(
      'BAD_ARGUMENT',
      `poolFeature: box ${what} span [${start}, ${start + length}) lies outside the image [0, ${image})`,
    );
  }
  // Every cell the box touches, even partly; a box inside one cell (or empty) still gets that cell.
  const a = Math.min(Math.floor((start * cells) / image), cells - 1);
  const b = Math.max(Math.min(Math.ceil(((start + length) * cells) / image), cells), a + 1);
  return [a, b];
}

/** The cells of a w x h feature map (of an imageW x imageH image) that a pixel box covers. */
export function boxCells(box: Box, w: number, h: number, imageW: number, imageH: number): CellRange {
  const [x0, x1] = axisCells(box[0], box[2], w, imageW, 'x');
  const [y0, y1] = axisCells(box[1], box[3], h, imageH, 'y');
  return { x0, x1, y0, y1 };
}

/** In place: v / |v|. A zero vector stays zero rather than becoming NaN. */
export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  if (s > 0) {
    const norm = Math.sqrt(s);
    for (let i = 0; i < v.length; i++) v[i] /= norm;
  }
  return v;
}

/**
 * Element-wise mean of equal-length vectors. For `diftEnsemble`, average the draws' feature maps
 * with this, then poolFeature the mean: average first, normalise once.
 */
export function meanOf(vectors: readonly Float32Array[], out?: Float32Array): Float32Array {
  if (vectors.length === 0) {
    throw new DdpsError('BAD_ARGUMENT', 'meanOf: no vectors, expected at least one');
  }
  const n = vectors[0].length;
  const target = out ?? new Float32Array(n);
  if (target.length !== n) {
    throw new DdpsError('BAD_ARGUMENT', `meanOf: out has length ${target.length}, expected ${n}`);
  }
  for (const v of vectors) {
    if (v.length !== n) {
      throw new DdpsError('BAD_ARGUMENT', `meanOf: vector of length ${v.length}, expected ${n} like the first`);
    }
  }
  const m = vectors.length;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < m; j++) s += vectors[j][i];
    target[i] = s / m;
  }
  return target;
}

/**
 * The L2-normalised per-channel mean of a C x H x W feature map over the cells a pixel box covers.
 * The map may be at any fraction of the image side (1/16 for SD 1.5 up_blocks.1): cells are mapped
 * with the ratio w / imageW, h / imageH.
 */
export function poolFeature(
  map: Float32Array,
  c: number,
  h: number,
  w: number,
  box: Box,
  imageW: number,
  imageH: number,
  out: Float32Array = new Float32Array(c),
): Float32Array {
  for (const [name, v] of [['c', c], ['h', h], ['w', w], ['imageW', imageW], ['imageH', imageH]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new DdpsError('BAD_ARGUMENT', `poolFeature: ${name} = ${v}, expected a positive integer`);
    }
  }
  if (map.length !== c * h * w) {
    throw new DdpsError('BAD_ARGUMENT', `poolFeature: feature map has ${map.length} values, expected ${c}x${h}x${w}`);
  }
  if (out.length !== c) {
    throw new DdpsError('BAD_ARGUMENT', `poolFeature: out has length ${out.length}, expected ${c} channels`);
  }
  const { x0, x1, y0, y1 } = boxCells(box, w, h, imageW, imageH);
  const n = (x1 - x0) * (y1 - y0);
  const hw = h * w;
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let y = y0; y < y1; y++) {
      const row = ch * hw + y * w;
      for (let x = x0; x < x1; x++) s += map[row + x];
    }
    out[ch] = s / n;
  }
  return l2normalize(out);
}
