/**
 * Stage IV: a teacher's soft labels for each distilled image (METHOD.md), and optionally FKD's
 * per-epoch soft labels of random resized crops, so a student can train on KL(student || teacher)
 * without running the teacher.
 */
import type { OperatorFunction } from 'rxjs';
import { type Classifier, type RgbImage, argmax, softmax } from '../models/classifier.js';
import { DdpsError } from '../core/errors.js';
import { keyedUniform } from '../models/noise.js';
import { cropRgb } from './math/crop.js';
import { mapOrdered } from './mapOrdered.js';
import { randomResizedCropBox } from './math/augment.js';
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

/** keyedUniform stream of an image's FKD crop in one epoch: FKD_STREAM + epoch. */
export const FKD_STREAM = 4_000_000;

/**
 * FKD's crop of one image in one epoch: RandomHorizontalFlip(0.5) (the stream's first draw), then
 * torchvision's RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) from the draws that follow, all from
 * keyedUniform(seed, key, FKD_STREAM + epoch). Counter-based, so a crop depends only on its own sample
 * and epoch, never on the order samples arrive in. (Before the one-PRNG move, crops came from a
 * MurmurHash of (seed, epoch, draw, key): same distribution, other values; stored crops stay valid,
 * since .soft.json records each box.)
 */
export function fkdCrop(width: number, height: number, seed: number, key: string, epoch: number): { crop: Box; flip: boolean } {
  const next = keyedUniform(seed, key, FKD_STREAM + epoch);
  const flip = next() < 0.5;
  return { crop: randomResizedCropBox(next, width, height, CROP_SCALE, CROP_RATIO), flip };
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
  const crops = Array.from({ length: fkdEpochs }, (_, epoch) => ({ epoch, ...fkdCrop(img.width, img.height, seed, key, epoch) }));
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
