/**
 * Stage IV: a teacher's soft labels for each distilled image (METHOD.md), and optionally FKD's
 * per-epoch soft labels of random resized crops, so a student can train on KL(student || teacher)
 * without running the teacher.
 */
import type { OperatorFunction } from 'rxjs';
import { type Classifier, type RgbImage, argmax, softmax } from '../models/classifier.js';
import { DdpsError } from '../core/errors.js';
import { murmur3x86_128 } from '../models/noise.js';
import { cropRgb } from './math/crop.js';
import { mapOrdered } from './mapOrdered.js';
import { type Box } from '../core/geometry.js';

/** The teacher's soft label of one FKD random-resized crop of an image, for one epoch. */
export interface FkdLabel {
  epoch: number;
  /** [x, y, w, h] in the image's pixels. */
  crop: Box;
  /** Whether the crop was mirrored left-right before the teacher saw it. */
  flip: boolean;
  probs: number[];
}

/** What `<key>.soft.json` holds. */
export interface SoftLabel {
  temperature: number;
  /** One per dataset class: softmax(teacher logits / temperature) of the whole image. */
  probs: number[];
  fkd?: FkdLabel[];
}

/** Options of relabel (softLabels): temperature, FKD epochs and the crops' seed. */
export interface SoftLabelOptions {
  temperature?: number;
  /** Epochs of FKD crop labels (0: none). */
  fkdEpochs?: number;
  seed?: number;
}

/** torchvision RandomResizedCrop's defaults, which FKD uses. */
export const CROP_SCALE: [number, number] = [0.08, 1];
export const CROP_RATIO: [number, number] = [3 / 4, 4 / 3];
const CROP_ATTEMPTS = 10;

const encoder = new TextEncoder();
const INV_2_32 = 1 / 4294967296;

/**
 * Four uniforms in [0, 1) for draw `draw` of (seed, key, epoch): the MurmurHash3_x86_128 of
 * [seed int64 LE][epoch int64 LE][draw int64 LE][UTF-8 key]. Counter-based, so a crop depends only
 * on its own sample and epoch, never on the order samples arrive in. Frozen: changing it changes
 * every stored crop.
 */
export function cropUniforms(seed: number, key: string, epoch: number, draw: number): [number, number, number, number] {
  const keyBytes = encoder.encode(key);
  const msg = new Uint8Array(24 + keyBytes.length);
  const view = new DataView(msg.buffer);
  view.setBigInt64(0, BigInt(seed), true);
  view.setBigInt64(8, BigInt(epoch), true);
  view.setBigInt64(16, BigInt(draw), true);
  msg.set(keyBytes, 24);
  const [a, b, c, d] = murmur3x86_128(msg);
  return [a * INV_2_32, b * INV_2_32, c * INV_2_32, d * INV_2_32];
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision's RandomResizedCrop.get_params (scale 0.08-1, ratio 3/4-4/3: up to ten tries of a
 * random area and log-uniform aspect ratio, then the centre crop clamped to the ratio range),
 * followed by RandomHorizontalFlip(0.5), with the randomness from cropUniforms: draw 0 decides the
 * flip, draw 1 + t is try t (area, log ratio, top, left).
 */
export function randomResizedCrop(width: number, height: number, seed: number, key: string, epoch: number): { crop: Box; flip: boolean } {
  const flip = cropUniforms(seed, key, epoch, 0)[0] < 0.5;
  const area = width * height;
  const [logLo, logHi] = CROP_RATIO.map(Math.log) as [number, number];
  for (let t = 0; t < CROP_ATTEMPTS; t++) {
    const [uArea, uRatio, uTop, uLeft] = cropUniforms(seed, key, epoch, 1 + t);
    const target = area * (CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * uArea);
    const ratio = Math.exp(logLo + (logHi - logLo) * uRatio);
    const w = roundHalfEven(Math.sqrt(target * ratio));
    const h = roundHalfEven(Math.sqrt(target / ratio));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const y = Math.floor(uTop * (height - h + 1));
      const x = Math.floor(uLeft * (width - w + 1));
      return { crop: [x, y, w, h], flip };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < CROP_RATIO[0]) h = roundHalfEven(w / CROP_RATIO[0]);
  else if (inRatio > CROP_RATIO[1]) w = roundHalfEven(h * CROP_RATIO[1]);
  return { crop: [Math.floor((width - w) / 2), Math.floor((height - h) / 2), w, h], flip };
}

/** Seven significant digits: float32's precision, without its long decimal tails in the JSON. */
function probsJson(probs: Float32Array): number[] {
  return Array.from(probs, (p) => Number(p.toPrecision(7)));
}

export function checkSoftLabelOptions(opts: SoftLabelOptions): Required<SoftLabelOptions> {
  const { temperature = 4, fkdEpochs = 0, seed = 0 } = opts;
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new DdpsError('BAD_ARGUMENT', `temperature ${temperature}: expected a positive number`);
  if (!Number.isSafeInteger(fkdEpochs) || fkdEpochs < 0) throw new DdpsError('BAD_ARGUMENT', `FKD epochs ${fkdEpochs}: expected an integer >= 0`);
  if (!Number.isSafeInteger(seed)) throw new DdpsError('BAD_ARGUMENT', `seed ${seed}: expected an integer`);
  return { temperature, fkdEpochs, seed };
}

/**
 * The soft label of one image: the whole image and its FKD crops go to the teacher in one call.
 * Also returns the teacher's top-1 class on the whole image.
 */
export async function softLabel(teacher: Classifier, img: RgbImage, key: string, opts: SoftLabelOptions = {}): Promise<{ soft: SoftLabel; top1: number }> {
  const { temperature, fkdEpochs, seed } = checkSoftLabelOptions(opts);
  const crops = Array.from({ length: fkdEpochs }, (_, epoch) => ({ epoch, ...randomResizedCrop(img.width, img.height, seed, key, epoch) }));
  const logits = await teacher.logits([img, ...crops.map((c) => cropRgb(img, c.crop, c.flip))]);
  const soft: SoftLabel = { temperature, probs: probsJson(softmax(logits[0]!, temperature)) };
  if (fkdEpochs > 0) soft.fkd = crops.map((c, i) => ({ ...c, probs: probsJson(softmax(logits[i + 1]!, temperature)) }));
  return { soft, top1: argmax(logits[0]!) };
}

/**
 * softLabel over a stream, one image at a time and in input order: the teacher is one session, and
 * labels must not depend on timing.
 */
export function softLabels<T extends RgbImage & { key: string }>(teacher: Classifier, opts: SoftLabelOptions = {}): OperatorFunction<T, T & { soft: SoftLabel; top1: number }> {
  checkSoftLabelOptions(opts);
  return mapOrdered(async (img: T) => ({ ...img, ...(await softLabel(teacher, img, img.key, opts)) }), 1);
}
