/**
 * The students' training augmentation (RDED's validation/main.py: ShufflePatches -> RandomResizedCrop
 * -> horizontal flip, then CutMix on the batch) as explicit parameters, and how parameters become
 * pixels. ddps draws the parameters and renders the batch the teacher sees (replayed labels);
 * python/ddps_eval/augment.py renders the same parameters into the same pixels. The rendering is
 * specified in docs/REPLAY.md; change it in both places or neither.
 */
import type { PixelImage, RgbImage } from '../../models/classifier.js';
import { DdpsError } from '../../core/errors.js';
import { randomInt } from '../../models/noise.js';
import { resampleRgb } from '../../models/resample.js';
import type { Box } from '../../core/geometry.js';
import { cropRgb } from './crop.js';

/** RDED's per-image and per-batch augmentation settings (a profile's "augment"). */
export interface AugmentConfig {
  /** ShufflePatches factor: the image is cut into this many column strips and row strips, each set shuffled (1: off). */
  shufflePatches: number;
  /** RandomResizedCrop's area range, as fractions of the image. */
  rrcScale: [number, number];
  /** RandomResizedCrop's aspect-ratio range (w / h). */
  rrcRatio: [number, number];
  /** Probability of a horizontal flip. */
  flip: number;
  /** CutMix's Beta(beta, beta) for lambda; CutMix runs on every batch. */
  cutmixBeta: number;
}

/** One image's augmentation in one epoch. */
export interface ImageAug {
  /** ShufflePatches: the source strip shown at each column strip, then at each row strip (absent at factor 1). */
  cols?: number[];
  rows?: number[];
  /** [x, y, w, h] in the pixels of the (shuffled) source image. */
  crop: Box;
  flip: boolean;
}

/** One batch's CutMix: image i gets the box of image perm[i]. */
export interface CutMix {
  perm: number[];
  /** [x1, y1, x2, y2] in output pixels, half-open (columns x1..x2-1, rows y1..y2-1); may be empty. */
  box: [number, number, number, number];
  lam: number;
}

const CROP_ATTEMPTS = 10;

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A uniform permutation of 0..n-1 (Fisher-Yates from the last position down). */
export function randomPermutation(next: () => number, n: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(next, i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/**
 * torchvision's RandomResizedCrop.get_params: up to ten tries of an area uniform in scale x image area
 * and a log-uniform aspect ratio (four draws each: area, log ratio, top, left), sides rounded half to
 * even; the first that fits wins. Otherwise the whole image, or its centre clamped to the ratio range.
 * With scale [1, 1] (RDED's CIFAR factor 1) a try fits only as the whole image, so a square image is never cropped.
 */
export function randomResizedCropBox(next: () => number, width: number, height: number, scale: [number, number], ratio: [number, number]): Box {
  const area = width * height;
  const [logLo, logHi] = ratio.map(Math.log) as [number, number];
  for (let t = 0; t < CROP_ATTEMPTS; t++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * next());
    const r = Math.exp(logLo + (logHi - logLo) * next());
    const w = roundHalfEven(Math.sqrt(target * r));
    const h = roundHalfEven(Math.sqrt(target / r));
    const top = randomInt(next, height - h + 1);
    const left = randomInt(next, width - w + 1);
    if (w > 0 && w <= width && h > 0 && h <= height) return [left, top, w, h];
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = roundHalfEven(w / ratio[0]);
  else if (inRatio > ratio[1]) w = roundHalfEven(h * ratio[1]);
  return [Math.floor((width - w) / 2), Math.floor((height - h) / 2), w, h];
}

/** A standard normal from two uniforms (Box-Muller; 1 - u keeps log away from 0). */
function normal(next: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/** Gamma(shape, 1) by Marsaglia and Tsang (shape < 1 through Gamma(shape + 1) x u^(1 / shape)). */
function gammaSample(next: () => number, shape: number): number {
  if (shape < 1) return gammaSample(next, shape + 1) * Math.pow(1 - next(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(next);
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    if (Math.log(1 - next()) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** Beta(a, b); Beta(1, 1), CutMix's default, is one uniform draw. */
export function betaSample(next: () => number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new DdpsError('BAD_ARGUMENT', `Beta(${a}, ${b}): both parameters must be positive`);
  if (a === 1 && b === 1) return next();
  const x = gammaSample(next, a);
  return x / (x + gammaSample(next, b));
}

/** Draws in this order: column order, row order (factor > 1 only), flip, then the crop's tries. */
export function sampleImageAug(next: () => number, width: number, height: number, cfg: AugmentConfig): ImageAug {
  const f = cfg.shufflePatches;
  const shuffle = f > 1 ? { cols: randomPermutation(next, f), rows: randomPermutation(next, f) } : {};
  const flip = next() < cfg.flip;
  return { ...shuffle, crop: randomResizedCropBox(next, width, height, cfg.rrcScale, cfg.rrcRatio), flip };
}

/**
 * RDED's cutmix on an n-image batch of size x size images: lambda ~ Beta(beta, beta), a permutation,
 * then a box of side int(size * sqrt(1 - lambda)) centred on a uniform pixel, clipped to the image.
 */
export function sampleCutMix(next: () => number, n: number, size: number, beta: number): CutMix {
  const lam = betaSample(next, beta, beta);
  const perm = randomPermutation(next, n);
  const cut = Math.trunc(size * Math.sqrt(1 - lam));
  const cx = randomInt(next, size);
  const cy = randomInt(next, size);
  const clip = (v: number): number => Math.min(size, Math.max(0, v));
  const half = Math.floor(cut / 2);
  return { perm, box: [clip(cx - half), clip(cy - half), clip(cx + half), clip(cy + half)], lam };
}

/** [start, end) of each of `factor` strips of a side: equal strips, the last taking the remainder. */
export function stripBounds(side: number, factor: number): [number, number][] {
  const t = Math.floor(side / factor);
  return Array.from({ length: factor }, (_, k) => [k * t, k === factor - 1 ? side : (k + 1) * t]);
}

function checkPermutation(p: readonly number[], factor: number, what: string): void {
  if (p.length !== factor || [...p].sort((a, b) => a - b).some((v, i) => v !== i)) {
    throw new DdpsError('BAD_ARGUMENT', `ShufflePatches ${what} [${p.join(', ')}] is not a permutation of 0..${factor - 1}`);
  }
}

/** ShufflePatches with given orders: the column strips laid out in `cols` order, then the row strips in `rows` order. */
export function shuffleStrips(img: RgbImage, cols: readonly number[], rows: readonly number[]): RgbImage {
  const { width, height } = img;
  checkPermutation(cols, cols.length, 'column order');
  checkPermutation(rows, rows.length, 'row order');
  // Source column and row of every destination column and row.
  const colMap = cols.flatMap((s) => {
    const [a, b] = stripBounds(width, cols.length)[s]!;
    return Array.from({ length: b - a }, (_, i) => a + i);
  });
  const rowMap = rows.flatMap((s) => {
    const [a, b] = stripBounds(height, rows.length)[s]!;
    return Array.from({ length: b - a }, (_, i) => a + i);
  });
  const rgb = new Uint8Array(img.rgb.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (rowMap[y]! * width + colMap[x]!) * 3;
      const d = (y * width + x) * 3;
      rgb[d] = img.rgb[s]!;
      rgb[d + 1] = img.rgb[s + 1]!;
      rgb[d + 2] = img.rgb[s + 2]!;
    }
  }
  return { rgb, width, height };
}

/** Mirrors an HxWx3 float image left-right in place. */
function mirror(rgb: Float32Array, width: number, height: number): void {
  for (let y = 0; y < height; y++) {
    for (let a = y * width, b = a + width - 1; a < b; a++, b--) {
      for (let c = 0; c < 3; c++) {
        const t = rgb[3 * a + c]!;
        rgb[3 * a + c] = rgb[3 * b + c]!;
        rgb[3 * b + c] = t;
      }
    }
  }
}

/**
 * One augmented image, size x size x 3 floats on the 0..255 scale (not rounded): ShufflePatches,
 * the crop, resampleRgb to size x size, then the flip.
 */
export function renderAug(img: RgbImage, aug: ImageAug, size: number): PixelImage {
  const shuffled = aug.cols && aug.rows ? shuffleStrips(img, aug.cols, aug.rows) : img;
  const crop = cropRgb(shuffled, aug.crop);
  const rgb = resampleRgb(crop.rgb, crop.width, crop.height, size, size);
  if (aug.flip) mirror(rgb, size, size);
  return { rgb, width: size, height: size };
}

/** CutMix on rendered size x size images: new images, image i with the box of image perm[i]. */
export function applyCutMix(images: readonly PixelImage[], cut: CutMix): PixelImage[] {
  const [x1, y1, x2, y2] = cut.box;
  if (cut.perm.length !== images.length) throw new DdpsError('BAD_ARGUMENT', `CutMix permutation of ${cut.perm.length} for a batch of ${images.length}`);
  return images.map((img, i) => {
    const rgb = Float32Array.from(img.rgb);
    const other = images[cut.perm[i]!]!.rgb;
    for (let y = y1; y < y2; y++) {
      const a = (y * img.width + x1) * 3;
      const b = (y * img.width + x2) * 3;
      for (let k = a; k < b; k++) rgb[k] = other[k]!;
    }
    return { rgb, width: img.width, height: img.height };
  });
}
