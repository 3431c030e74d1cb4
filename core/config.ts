/**
 * The knobs of Stages 0-II (METHOD.md), with the paper's defaults. Everything that changes what is
 * stored is here and is recorded in the store; batch size and workers are not (they must not change
 * the result).
 */
import { DdpsError } from './errors.js';
import { LATENT_FACTOR, UNET_ALIGN } from './geometry.js';

/** The DIFT modes, for validation and --help. */
export const DIFT_MODES = ['crop', 'shared'] as const;
/** How DIFT features are taken: `crop` (the paper: each patch encoded alone) or `shared` (one pass of the whole image, pooled per patch). */
export type DiftMode = (typeof DIFT_MODES)[number];

/** The scorers, for validation and --help. */
export const SCORERS = ['diffusion', 'classifier', 'random'] as const;
/** What proposes and scores candidate patches: the method, or a baseline in its place. */
export type Scorer = (typeof SCORERS)[number];

/** Everything that decides what a scoring run stores (Stages 0-II); recorded in the store, which refuses a run with another. */
export interface ScoreConfig {
  scorer: Scorer;
  /** Random crops per image for the classifier scorer. */
  crops: number;
  /** The classifier scorer's teacher (file name and size: part of what makes a store). */
  teacher?: string;
  imageSize: number;
  patchSize: number;
  patchStride: number;
  patchesPerImage: number;
  nmsIou: number;
  timesteps: number;
  tRange: [number, number];
  seed: number;
  condTemplate: string;
  uncondTemplate: string;
  diftMode: DiftMode;
  diftTimestep: number;
  diftEnsemble: number;
  /** Low-resolution data: the whole image, upsampled to imageSize, is the one patch. */
  wholeImage: boolean;
  limitPerClass?: number;
}

/** The paper's settings where it gives them, METHOD.md's choices where it does not. */
export const DEFAULT_SCORE_CONFIG: ScoreConfig = {
  scorer: 'diffusion',
  crops: 8,
  imageSize: 256,
  patchSize: 224,
  patchStride: 8,
  patchesPerImage: 1,
  nmsIou: 0.5,
  timesteps: 8,
  tRange: [0.1, 0.7],
  seed: 0,
  condTemplate: 'An image of {label}.',
  uncondTemplate: 'An image of .',
  diftMode: 'crop',
  diftTimestep: 261,
  diftEnsemble: 1,
  wholeImage: false,
};

/** The defaults overridden by `partial` (undefined fields ignored), checked: DdpsError('BAD_ARGUMENT') names the knob and the value. */
export function resolveScoreConfig(partial: Partial<ScoreConfig> = {}): ScoreConfig {
  const c: ScoreConfig = { ...DEFAULT_SCORE_CONFIG, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) };
  const bad = (what: string): never => {
    throw new DdpsError('BAD_ARGUMENT', `score configuration: ${what}`);
  };
  if (!Number.isInteger(c.imageSize) || c.imageSize % UNET_ALIGN !== 0 || c.imageSize < UNET_ALIGN) bad(`imageSize must be a multiple of ${UNET_ALIGN} (an SD UNet halves the latent three times), got ${c.imageSize}`);
  for (const k of ['imageSize', 'patchSize', 'patchStride'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < LATENT_FACTOR || c[k] % LATENT_FACTOR !== 0) bad(`${k} must be a positive multiple of ${LATENT_FACTOR} (the latent is 1/${LATENT_FACTOR} of the image), got ${c[k]}`);
  }
  if (!c.wholeImage && c.patchSize > c.imageSize) bad(`patchSize ${c.patchSize} is larger than imageSize ${c.imageSize}`);
  if (!Number.isInteger(c.patchesPerImage) || c.patchesPerImage < 1) bad(`patchesPerImage must be >= 1, got ${c.patchesPerImage}`);
  if (!Number.isInteger(c.timesteps) || c.timesteps < 1) bad(`timesteps must be >= 1, got ${c.timesteps}`);
  const [lo, hi] = c.tRange;
  if (!(lo >= 0 && hi <= 1 && lo < hi)) bad(`t-range must be two numbers 0 <= lo < hi <= 1, got ${c.tRange.join(',')}`);
  if (!Number.isInteger(c.diftTimestep) || c.diftTimestep < 0 || c.diftTimestep > 999) bad(`diftTimestep must be in 0..999, got ${c.diftTimestep}`);
  if (!Number.isInteger(c.diftEnsemble) || c.diftEnsemble < 1) bad(`diftEnsemble must be >= 1, got ${c.diftEnsemble}`);
  if (!c.condTemplate.includes('{label}')) bad(`the conditional template must contain {label}: '${c.condTemplate}'`);
  if (!DIFT_MODES.includes(c.diftMode)) bad(`diftMode must be ${DIFT_MODES.join(' or ')}, got ${String(c.diftMode)}`);
  if (!SCORERS.includes(c.scorer)) bad(`scorer must be one of ${SCORERS.join(', ')}, got ${String(c.scorer)}`);
  if (!Number.isInteger(c.crops) || c.crops < 1) bad(`crops must be >= 1, got ${c.crops}`);
  return c;
}

/** How the images of a run are fed to the model: never part of what is stored (the result must not depend on it). */
export const DEFAULT_EXECUTION = {
  /** Images per model call. */
  batchSize: 4,
  /** Model worker threads. */
  workers: 1,
} as const;

export const MOSAIC_MODES = ['auto', 'on', 'off'] as const;
export type MosaicMode = (typeof MOSAIC_MODES)[number];

/** The knobs of Stages II-III (clustering, ranking, selection, materialising), with the paper's defaults. */
export const DEFAULT_SELECTION = {
  /** Images per class. */
  ipc: 10,
  /** Clusters a class draws its quota from (N in the paper: q = floor(P / N) each). */
  topClusters: 10,
  /** k-means clusters per class before min(K, patches). */
  clusters: 32,
  /** Seed of k-means. */
  clusterSeed: 0,
  /** Re-cluster a class when its new patches pass this fraction of those it was clustered with. */
  reclusterThreshold: 0.2,
  /** Side of each distilled image. */
  outputSize: 224,
  mosaic: 'auto' as MosaicMode,
} as const;

/** Stage IV: soft labels from a teacher. */
export const DEFAULT_RELABEL = {
  temperature: 4,
  /** Epochs of per-epoch random-resized-crop labels (FKD); 0 for none. */
  fkdEpochs: 0,
  fkdSeed: 0,
} as const;

/** The conditional prompt for a class label: `condTemplate` with `{label}` replaced. */
export function conditionalPrompt(config: Pick<ScoreConfig, 'condTemplate'>, label: string): string {
  return config.condTemplate.replaceAll('{label}', label);
}
