/**
 * Pure rasterisation helpers for the toy world: hard-edged shapes, ellipses and thick lines painted
 * into an interleaved HxWx3 RGB buffer. No randomness here; the caller decides every parameter.
 * Pixels are sampled at their centres (x + 0.5, y + 0.5), and everything is clipped to the image.
 */
import type { ToyShape } from './classes.js';
import type { Box, RgbImage } from '../core/geometry.js';

export type Rgb = readonly [number, number, number];

export type { RgbImage };

// Exact pixel-centre samples can land on a shape's edge (e.g. a diamond's vertex); without the
// tolerance floating-point rounding decides whether such a pixel is painted.
const EDGE_EPS = 1e-9;
const RING_INNER_RADIUS = 0.28;
const CROSS_HALF_ARM = 1 / 6;

/**
 * Whether the point (u, v) of the unit box [0, 1]^2 (u rightwards, v downwards) lies in `shape`.
 * Every shape reaches all four sides of the box, so the box is the shape's bounding box.
 */
export function shapeContains(shape: ToyShape, u: number, v: number): boolean {
  const a = Math.abs(u - 0.5);
  const b = v - 0.5;
  const r2 = a * a + b * b;
  switch (shape) {
    case 'disk':
      return r2 <= 0.25 + EDGE_EPS;
    case 'square':
      return u >= 0 && u <= 1 && v >= 0 && v <= 1;
    case 'triangle':
      // Apex at the top centre, base along the bottom side.
      return v >= 0 && v <= 1 && a <= v / 2 + EDGE_EPS;
    case 'diamond':
      return a + Math.abs(b) <= 0.5 + EDGE_EPS;
    case 'ring':
      return r2 <= 0.25 + EDGE_EPS && r2 >= RING_INNER_RADIUS * RING_INNER_RADIUS;
    case 'cross':
      return (a <= CROSS_HALF_ARM && Math.abs(b) <= 0.5) || (Math.abs(b) <= CROSS_HALF_ARM && a <= 0.5);
  }
}

/** Mask (row-major, 1 = inside) of `shape` rasterised into a w x h box. */
export function shapeMask(shape: ToyShape, w: number, h: number): Uint8Array {
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const v = (y + 0.5) / h;
    for (let x = 0; x < w; x++) {
      if (shapeContains(shape, (x + 0.5) / w, v)) mask[y * w + x] = 1;
    }
  }
  return mask;
}

/** Tight bounding box of the set pixels of a w x h mask, or null when none is set. */
export function maskBounds(mask: Uint8Array, w: number, h: number): Box | null {
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x] === 0) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

export function fillImage(img: RgbImage, color: Rgb): void {
  const { rgb } = img;
  for (let i = 0; i < rgb.length; i += 3) {
    rgb[i] = color[0];
    rgb[i + 1] = color[1];
    rgb[i + 2] = color[2];
  }
}

function setPixel(img: RgbImage, x: number, y: number, color: Rgb): void {
  const o = (y * img.width + x) * 3;
  img.rgb[o] = color[0];
  img.rgb[o + 1] = color[1];
  img.rgb[o + 2] = color[2];
}

/** Axis-aligned solid ellipse centred at (cx, cy) with radii rx, ry (pixels). */
export function fillEllipse(img: RgbImage, cx: number, cy: number, rx: number, ry: number, color: Rgb): void {
  if (rx <= 0 || ry <= 0) return;
  const xa = Math.max(0, Math.floor(cx - rx));
  const xb = Math.min(img.width - 1, Math.ceil(cx + rx));
  const ya = Math.max(0, Math.floor(cy - ry));
  const yb = Math.min(img.height - 1, Math.ceil(cy + ry));
  for (let y = ya; y <= yb; y++) {
    const dy = (y + 0.5 - cy) / ry;
    for (let x = xa; x <= xb; x++) {
      const dx = (x + 0.5 - cx) / rx;
      if (dx * dx + dy * dy <= 1) setPixel(img, x, y, color);
    }
  }
}

/** Segment from (x0, y0) to (x1, y1) with round caps, painted where the distance is <= thickness / 2. */
export function drawLine(
  img: RgbImage,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  thickness: number,
  color: Rgb,
): void {
  const half = thickness / 2;
  const xa = Math.max(0, Math.floor(Math.min(x0, x1) - half));
  const xb = Math.min(img.width - 1, Math.ceil(Math.max(x0, x1) + half));
  const ya = Math.max(0, Math.floor(Math.min(y0, y1) - half));
  const yb = Math.min(img.height - 1, Math.ceil(Math.max(y0, y1) + half));
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  for (let y = ya; y <= yb; y++) {
    const py = y + 0.5;
    for (let x = xa; x <= xb; x++) {
      const px = x + 0.5;
      const t = len2 === 0 ? 0 : Math.min(1, Math.max(0, ((px - x0) * dx + (py - y0) * dy) / len2));
      const ex = px - (x0 + t * dx);
      const ey = py - (y0 + t * dy);
      if (ex * ex + ey * ey <= half * half) setPixel(img, x, y, color);
    }
  }
}

/** Clamp every channel of every pixel into [centre - radius, centre + radius] (and [0, 255]). */
export function clampAround(img: RgbImage, centre: Rgb, radius: number): void {
  const { rgb } = img;
  for (let i = 0; i < rgb.length; i += 3) {
    for (let c = 0; c < 3; c++) {
      const lo = Math.max(0, centre[c] - radius);
      const hi = Math.min(255, centre[c] + radius);
      const v = rgb[i + c];
      rgb[i + c] = v < lo ? lo : v > hi ? hi : v;
    }
  }
}
