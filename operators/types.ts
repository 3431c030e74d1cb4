/**
 * What flows between the scoring operators. Each stage adds fields and keeps the earlier ones, so an
 * operator can be spliced in anywhere its input type is available.
 */

import type { Ticket } from './flow.js';
import { type Box, type ResizeTransform } from '../core/geometry.js';


export interface SampleRef {
  key: string;
  /** The shard the sample came from. */
  url: string;
  cls: number;
  /** The sample's place in the pipeline's bounded window; released when the sample is stored or dropped. */
  ticket?: Ticket;
}

/** The original image, decoded to 3-channel sRGB, HxWx3. */
export interface Decoded extends SampleRef {
  rgb: Uint8Array;
  width: number;
  height: number;
}


/** Resized pixels ready for the VAE: float32 NCHW (3 x height x width) in [-1, 1]. */
export interface Prepared extends SampleRef {
  /** Original [width, height]. */
  size: [number, number];
  transform: ResizeTransform;
  pixels: Float32Array;
}

export interface Encoded extends Prepared {
  /** Scaled latent z0, 4 x (height/8) x (width/8). */
  latent: Float32Array;
}

export interface Scored extends Encoded {
  /** D = mean over timesteps of (L_uncond - L_cond), (height/8) x (width/8). */
  scoreMap: Float32Array;
}

export interface Patch {
  /** In resized pixels. */
  box: Box;
  /** In original pixels. */
  boxOriginal: Box;
  score: number;
}

export interface Patched extends Scored {
  patches: Patch[];
}

export interface Featured extends Patched {
  /** One L2-normalised DIFT feature per patch. */
  features: Float32Array[];
}
