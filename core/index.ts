/** `ddps/core`: the vocabulary every layer shares: errors, the score configuration, geometry, durations and ETAs. */
export { DdpsError, type ErrorCode, type ErrorContext, isDdpsError } from './errors.js';
export { type DiftMode, type ScoreConfig, type Scorer, DEFAULT_SCORE_CONFIG, conditionalPrompt, resolveScoreConfig } from './config.js';
export { type Box, type ResizeTransform, type RgbImage, LATENT_CHANNELS, LATENT_FACTOR, UNET_ALIGN, latentSize } from './geometry.js';
export type { PackIdentity } from './identity.js';
export { type ProgressStart, etaSeconds, formatDuration, ratePerSecond } from './progress.js';
