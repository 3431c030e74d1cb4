/**
 * The geometry every layer shares: boxes, images, how a resized image maps back to its original, and
 * the latent grid of an SD-style VAE and UNet.
 */

/** [x, y, width, height] in pixels. */
export type Box = [number, number, number, number];

/** An 8-bit sRGB image: interleaved RGB, row-major, `width * height * 3` bytes (what decodeImage gives). */
export interface RgbImage {
  rgb: Uint8Array;
  width: number;
  height: number;
}

/**
 * Resized = original scaled by `scale` (`scaleY` vertically when the aspect ratio was not kept), then
 * the width x height window at (offsetX, offsetY).
 */
export interface ResizeTransform {
  scale: number;
  scaleY?: number;
  offsetX: number;
  offsetY: number;
  width: number;
  height: number;
}

/** The VAE's latent grid is 1/8 of the image side, so resized sides are multiples of this. */
export const LATENT_FACTOR = 8;

/** Channels of an SD latent. */
export const LATENT_CHANNELS = 4;

/**
 * What an exported SD UNet needs: its three downsamplers halve the latent three times and the
 * upsamplers double it back by a fixed factor, so a latent side that is not a multiple of 8 (an image
 * side that is not a multiple of 64) fails at the skip connections. Images are trimmed to this.
 */
export const UNET_ALIGN = 64;

/** Latent [h, w] of an image side pair that is on the latent grid. */
export function latentSize(width: number, height: number): { h: number; w: number } {
  return { h: height / LATENT_FACTOR, w: width / LATENT_FACTOR };
}
