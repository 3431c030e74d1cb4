/**
 * What the pipeline needs from a diffusion pack. Implemented in-process by `Pack` and across
 * worker threads by `PackPool`, so operators never know where the model runs.
 */
import type { PackIdentity } from '../core/identity.js';
import type { NoisePrediction, PackConventions } from './pack.js';
import type { StageTime } from './stageTimer.js';

/** A loaded pack's identity, with the conventions read from its models' metadata. */
export interface ModelIdentity extends PackIdentity {
  conventions: PackConventions;
}

/** What the operators need of a diffusion model: text embeddings, VAE latents and UNet noise predictions (with DIFT maps). Pack runs it in-process, PackPool on worker threads. */
export interface DiffusionModel {
  readonly identity: ModelIdentity;
  readonly alphabar: Float64Array;
  /** Conditioning [tokens x hidden] for a prompt; cached per distinct prompt. */
  textEmbedding(prompt: string): Promise<Float32Array>;
  /** Pixels [n,3,H,W] in [-1,1] -> scaled latents [n,4,H/8,W/8]. */
  encodeImages(pixels: Float32Array, n: number, height: number, width: number): Promise<Float32Array>;
  /** eps for n noisy latents at one timestep per item, with one context per item; optionally DIFT maps. */
  predictNoise(zt: Float32Array, n: number, h: number, w: number, ts: readonly number[], contexts: readonly Float32Array[], withDift?: boolean): Promise<NoisePrediction>;
  /** Compute time per model stage (text, encode, unet, dift), measured where the model runs. */
  stats(): Promise<Record<string, StageTime>>;
  close(): Promise<void>;
}
