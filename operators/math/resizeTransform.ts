/**
 * Stage 0 geometry (METHOD.md): how an image is resized for the VAE, and how boxes move between
 * original and resized pixels.
 *
 * Each axis is resized to a whole number of pixels, so its true scale is (resized / original) and the
 * two axes differ slightly even when the aspect ratio is "kept" (500 -> 341 is 0.682, 375 -> 256 is
 * 0.68267). The transform records both (`scaleY` only when it differs from `scale`), which makes box
 * mapping exact to the resampler's pixel grid and keeps a mapped box inside the original image.
 */
import { DdpsError } from '../../core/errors.js';
import { LATENT_FACTOR, UNET_ALIGN, type Box, type ResizeTransform } from '../../core/geometry.js';


/** Slack for floating-point noise when rounding mapped coordinates outward. */
const EPS = 1e-6;

function checkSize(width: number, height: number, imageSize: number, align: number): void {
  if (!Number.isSafeInteger(align) || align < LATENT_FACTOR || align % LATENT_FACTOR !== 0) {
    throw new DdpsError('BAD_ARGUMENT', `alignment ${align}: expected a positive multiple of ${LATENT_FACTOR}`);
  }
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new DdpsError('BAD_ARGUMENT', `image size ${width}x${height}: expected positive whole pixels`);
  }
  if (!Number.isSafeInteger(imageSize) || imageSize < align || imageSize % align !== 0) {
    throw new DdpsError('BAD_ARGUMENT', `imageSize ${imageSize}: expected a positive multiple of ${align}`);
  }
}

function transform(width: number, height: number, scaledW: number, scaledH: number, align: number): ResizeTransform {
  const trimW = scaledW - (scaledW % align);
  const trimH = scaledH - (scaledH % align);
  const scale = scaledW / width;
  const scaleY = scaledH / height;
  return {
    scale,
    ...(scaleY === scale ? {} : { scaleY }),
    offsetX: Math.floor((scaledW - trimW) / 2),
    offsetY: Math.floor((scaledH - trimH) / 2),
    width: trimW,
    height: trimH,
  };
}

/**
 * Short edge to `imageSize` keeping the aspect ratio (long edge round(long * imageSize / short)),
 * then the long edge trimmed symmetrically to a multiple of `align` (default UNET_ALIGN, 64: what an SD
 * UNet accepts; 8, the latent grid, suits a VAE alone).
 */
export function planResize(width: number, height: number, imageSize: number, align = UNET_ALIGN): ResizeTransform {
  checkSize(width, height, imageSize, align);
  const short = Math.min(width, height);
  const long = Math.round((Math.max(width, height) * imageSize) / short);
  return width <= height ? transform(width, height, imageSize, long, align) : transform(width, height, long, imageSize, align);
}

/** Low-resolution data: the whole image stretched to imageSize x imageSize, nothing trimmed. */
export function planWholeImage(width: number, height: number, imageSize: number, align = UNET_ALIGN): ResizeTransform {
  checkSize(width, height, imageSize, align);
  return transform(width, height, imageSize, imageSize, align);
}

/** The resized image before trimming, [width, height]: what the resampler produces from the original. */
export function scaledSize(t: ResizeTransform, width: number, height: number): [number, number] {
  return [Math.round(width * t.scale), Math.round(height * (t.scaleY ?? t.scale))];
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** [x0, x1) rounded outward to whole pixels. */
function outward(x0: number, x1: number): [number, number] {
  return [Math.floor(x0 + EPS), Math.ceil(x1 - EPS)];
}

/**
 * A box in resized pixels -> original pixels. The box is first clamped to the resized window (what
 * lies outside it was never seen), then rounded outward so the original box covers all it showed.
 */
export function toOriginal(box: Box, t: ResizeTransform): Box {
  const sy = t.scaleY ?? t.scale;
  const x0 = clamp(box[0], 0, t.width);
  const x1 = clamp(box[0] + box[2], x0, t.width);
  const y0 = clamp(box[1], 0, t.height);
  const y1 = clamp(box[1] + box[3], y0, t.height);
  const [ox0, ox1] = outward((x0 + t.offsetX) / t.scale, (x1 + t.offsetX) / t.scale);
  const [oy0, oy1] = outward((y0 + t.offsetY) / sy, (y1 + t.offsetY) / sy);
  return [ox0, oy0, ox1 - ox0, oy1 - oy0];
}

/** A box in original pixels -> resized pixels, rounded outward and clamped to the resized window. */
export function toResized(box: Box, t: ResizeTransform): Box {
  const sy = t.scaleY ?? t.scale;
  const [rx0, rx1] = outward(box[0] * t.scale - t.offsetX, (box[0] + box[2]) * t.scale - t.offsetX);
  const [ry0, ry1] = outward(box[1] * sy - t.offsetY, (box[1] + box[3]) * sy - t.offsetY);
  const x0 = clamp(rx0, 0, t.width);
  const y0 = clamp(ry0, 0, t.height);
  return [x0, y0, clamp(rx1, x0, t.width) - x0, clamp(ry1, y0, t.height) - y0];
}
