import { type Box, type ResizeTransform } from '../../core/geometry.js';
/**
 * The report's score-map pictures: a colour map, min-max normalisation, and the score map D (latent
 * resolution, resized frame) laid over a picture of the original image through the stored resize
 * transform. Pure functions on raw HxWx3 bytes.
 */

export type Rgb = readonly [number, number, number];

/** An HxWx3 uint8 picture. */
export interface Raster {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** Row-major h x w values over the resized frame (one value per h/height x w/width block). */
export interface ValueMap {
  h: number;
  w: number;
  data: ArrayLike<number>;
}

/**
 * Viridis at nine even stops (R's viridisLite::viridis(9)): perceptually uniform and readable in
 * grey, so a 50 % blend with a photo still shows the order of the values.
 */
export const VIRIDIS: readonly Rgb[] = [
  [0x44, 0x01, 0x54],
  [0x47, 0x2d, 0x7b],
  [0x3b, 0x52, 0x8b],
  [0x2c, 0x72, 0x8e],
  [0x21, 0x90, 0x8c],
  [0x27, 0xad, 0x81],
  [0x5d, 0xc8, 0x63],
  [0xaa, 0xdc, 0x32],
  [0xfd, 0xe7, 0x25],
];

/** The colour of `v` in [0, 1] (clamped; NaN is the low end), linear between even stops. */
export function colormap(v: number, stops: readonly Rgb[] = VIRIDIS): [number, number, number] {
  const u = Number.isNaN(v) ? 0 : Math.min(1, Math.max(0, v)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  const f = u - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/**
 * Min-max to [0, 1] over the finite values. A flat map (or one with no finite value) has no order to
 * show and comes out all 0 rather than divided by a zero range; non-finite values come out 0.
 */
export function normalise(data: ArrayLike<number>): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const out = new Float32Array(data.length);
  const range = hi - lo;
  if (!(range > 0)) return out;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    out[i] = Number.isFinite(v) ? (v - lo) / range : 0;
  }
  return out;
}

/** Bilinear at (x, y) in cell coordinates (cell centres at integers), edges clamped. */
function bilinear(map: ValueMap, x: number, y: number): number {
  const cx = Math.min(map.w - 1, Math.max(0, x));
  const cy = Math.min(map.h - 1, Math.max(0, y));
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(map.w - 1, x0 + 1);
  const y1 = Math.min(map.h - 1, y0 + 1);
  const fx = cx - x0;
  const fy = cy - y0;
  const d = map.data;
  const top = d[y0 * map.w + x0]! * (1 - fx) + d[y0 * map.w + x1]! * fx;
  const bottom = d[y1 * map.w + x0]! * (1 - fx) + d[y1 * map.w + x1]! * fx;
  return top * (1 - fy) + bottom * fy;
}

/**
 * `photo` shows the whole original image (`original` = [width, height]) at any size; each of its
 * pixels is taken back to the resized frame through `t`, the normalised map is sampled there
 * (bilinear between cell centres) and its colour blended in with weight `alpha`. Pixels the resize
 * trimmed away were never scored and keep the photo's colour.
 */
export function overlayScoreMap(photo: Raster, original: readonly [number, number], map: ValueMap, t: ResizeTransform, alpha = 0.5): Uint8Array {
  const values: ValueMap = { h: map.h, w: map.w, data: normalise(map.data) };
  const sy = t.scaleY ?? t.scale;
  const cellW = t.width / map.w;
  const cellH = t.height / map.h;
  const out = new Uint8Array(photo.rgb);
  for (let y = 0; y < photo.height; y++) {
    const ry = ((y + 0.5) * original[1] * sy) / photo.height - t.offsetY;
    if (ry < 0 || ry >= t.height) continue;
    for (let x = 0; x < photo.width; x++) {
      const rx = ((x + 0.5) * original[0] * t.scale) / photo.width - t.offsetX;
      if (rx < 0 || rx >= t.width) continue;
      const c = colormap(bilinear(values, rx / cellW - 0.5, ry / cellH - 0.5));
      const p = 3 * (y * photo.width + x);
      for (let ch = 0; ch < 3; ch++) out[p + ch] = Math.round((1 - alpha) * photo.rgb[p + ch]! + alpha * c[ch]!);
    }
  }
  return out;
}

/** Paints the outline of `box` (raster pixels, [x, y, w, h]) `thickness` pixels wide inside its edge, clipped to the raster. */
export function strokeBox(img: Raster, box: Box, colour: Rgb, thickness: number): void {
  const x0 = Math.max(0, box[0]);
  const y0 = Math.max(0, box[1]);
  const x1 = Math.min(img.width, box[0] + box[2]);
  const y1 = Math.min(img.height, box[1] + box[3]);
  for (let y = y0; y < y1; y++) {
    const edgeRow = y < box[1] + thickness || y >= box[1] + box[3] - thickness;
    for (let x = x0; x < x1; x++) {
      if (!edgeRow && x >= box[0] + thickness && x < box[0] + box[2] - thickness) continue;
      const p = 3 * (y * img.width + x);
      img.rgb[p] = colour[0];
      img.rgb[p + 1] = colour[1];
      img.rgb[p + 2] = colour[2];
    }
  }
}
