/**
 * What flows between the scoring operators. Each stage adds fields and keeps the earlier ones, so an
 * operator can be spliced in anywhere its input type is available.
 */

import type { Ticket } from './flow.js';
import { type Box, type ResizeTransform } from '../core/geometry.js';


/** A sample's identity as it travels through the operators: key, shard, class, and its place in the window. */
export interface SampleRef {
  key: string;
  /** The shard the sample came from. */
  url: string;
  cls: number;
  /** The sample's place in the read-ahead window (flow.ts): keep it when you derive a sample, `{ ...sample, more }`. */
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

/** A Prepared sample with its VAE latent. */
export interface Encoded extends Prepared {
  /** Scaled latent z0, 4 x (height/8) x (width/8). */
  latent: Float32Array;
}

/** An Encoded sample with its score map D. */
export interface Scored extends Encoded {
  /** D = mean over timesteps of (L_uncond - L_cond), (height/8) x (width/8). */
  scoreMap: Float32Array;
}

/** A candidate patch: its box in resized and in original pixels, and its score. */
export interface Patch {
  /** In resized pixels. */
  box: Box;
  /** In original pixels. */
  boxOriginal: Box;
  score: number;
}

/** A Scored sample with its candidate patches, best first. */
export interface Patched extends Scored {
  patches: Patch[];
}

/** A Patched sample with a DIFT feature per patch: what toStore stores. */
export interface Featured extends Patched {
  /** One L2-normalised DIFT feature per patch. */
  features: Float32Array[];
}
