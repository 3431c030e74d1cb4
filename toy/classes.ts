/**
 * The toy world shared by the synthetic dataset and the toy model pack. Each class is an object of
 * one saturated colour and shape; the background is low-saturation clutter around mid-grey. The toy
 * pack's text encoder maps a class word to the latent of that colour, and its unconditional prompt to
 * the latent of mid-grey, so "the label lowers the loss" exactly where the object is.
 */
export type ToyShape = 'disk' | 'square' | 'triangle' | 'diamond' | 'ring' | 'cross';

/** A toy class: its name, colour and shape. */
export interface ToyClass {
  index: number;
  /** A single lowercase word: one BPE token in the toy vocabulary (and in the real CLIP vocabulary). */
  name: string;
  rgb: [number, number, number];
  shape: ToyShape;
}

/** The six classes of the toy world. */
export const TOY_CLASSES: readonly ToyClass[] = [
  { index: 0, name: 'apple', rgb: [210, 30, 30], shape: 'disk' },
  { index: 1, name: 'frog', rgb: [40, 170, 50], shape: 'square' },
  { index: 2, name: 'sky', rgb: [40, 90, 220], shape: 'triangle' },
  { index: 3, name: 'banana', rgb: [235, 215, 40], shape: 'diamond' },
  { index: 4, name: 'grape', rgb: [130, 40, 160], shape: 'ring' },
  { index: 5, name: 'carrot', rgb: [245, 130, 20], shape: 'cross' },
];

/** Mid-grey: the colour the unconditional prompt "means" in the toy world. */
export const TOY_NEUTRAL_RGB: readonly [number, number, number] = [128, 128, 128];

/** Pixel value in [0, 255] -> the [-1, 1] range the VAE sees (METHOD.md Stage 0). */
export function toUnit(v: number): number {
  return v / 127.5 - 1;
}
