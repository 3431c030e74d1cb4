/** Durations and ETAs as every progress line and summary shows them (the CLI's, the queue's, evaluate's). */

/** 42s, 3m07s, 2h05m; '--' for what is not a duration. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Where the ETA counts from: the first progress seen, so that start-up (loading models, the first batch) is not extrapolated. */
export interface ProgressStart {
  elapsedSec: number;
  fraction: number;
  /** The count at that point: work an earlier run left (a resumed evaluation's kept students) is not this run's pace. */
  done?: number;
}

/**
 * Items a second since `from` when it has a count, else over the whole elapsed time. Undefined while no
 * time has passed since `from`: the count there may be an earlier run's work, shown in an instant
 * (a resumed evaluation's kept students read as millions of epochs a second).
 */
export function ratePerSecond(done: number, elapsedSec: number, from?: ProgressStart): number | undefined {
  if (from?.done !== undefined) return elapsedSec > from.elapsedSec ? Math.max(0, (done - from.done) / (elapsedSec - from.elapsedSec)) : undefined;
  return elapsedSec > 0 ? done / elapsedSec : 0;
}

/** Seconds left at the pace since `from`; undefined until there is a pace, and once done. */
export function etaSeconds(fraction: number, elapsedSec: number, from: ProgressStart = { elapsedSec: 0, fraction: 0 }): number | undefined {
  if (!(fraction > from.fraction) || fraction >= 1) return undefined;
  return ((elapsedSec - from.elapsedSec) * (1 - fraction)) / (fraction - from.fraction);
}
