/**
 * One progress line for a whole distributed run: samples finished across every worker, the share of
 * shards done (a shard being scored counts by the bytes its worker has read), and from how both moved
 * since this submitter started, a rate and an ETA. A restarted submitter does not count what was done
 * before it started into its rate.
 */
import { etaSeconds, ratePerSecond } from '../core/progress.js';

export interface ProgressPoint {
  /** Seconds. */
  t: number;
  /** Samples finished (scored or skipped). */
  samples: number;
  /** Share of the run's shards done, in [0, 1]. */
  fraction: number;
}

/** Samples per second and seconds left, from the first point seen and the latest. */
export function rateAndEta(first: ProgressPoint, now: ProgressPoint): { rate: number; eta?: number } {
  const dt = now.t - first.t;
  if (dt <= 0) return { rate: 0 };
  const from = { elapsedSec: first.t, fraction: first.fraction, done: first.samples };
  const rate = ratePerSecond(now.samples, now.t, from) ?? 0;
  const eta = etaSeconds(now.fraction, now.t, from);
  return eta === undefined ? { rate } : { rate, eta };
}

/** The share of shards done: finished ones (completed or failed for good) and the read share of those being scored. */
export function runFraction(total: number, finished: number, activeFractions: readonly number[]): number {
  if (total === 0) return 1;
  return Math.min(1, (finished + activeFractions.reduce((a, f) => a + Math.min(1, Math.max(0, f)), 0)) / total);
}
