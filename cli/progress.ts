/**
 * A one-line progress display on stderr: count, rate, and an ETA from the fraction of the work done
 * (streaming never knows the sample total up front: see scoreFraction). On a terminal it redraws in
 * place; in a log it prints a line every few seconds.
 */
import { statSync } from 'node:fs';
import { etaSeconds, formatDuration, ratePerSecond, type ProgressStart } from '../core/progress.js';
import { tarBytes, type MemberInfo } from '../storage/webdataset/index.js';

export { etaSeconds, formatDuration, ratePerSecond, type ProgressStart };

export interface ProgressState {
  done: number;
  skipped: number;
  /** Fraction of the work done in [0, 1], when it can be estimated. */
  fraction?: number;
  note?: string;
}

/**
 * How far a scoring run is. Without a limit per class, by shard bytes read. With one, the run is done
 * when every class has its samples, usually long before the shards end, and the reader races through
 * the samples of full classes (bytes said 91 % after 5 of 20 samples): by samples taken (scored or
 * skipped) of those the classes still needed at the start. Classes with fewer images than the limit
 * only make that estimate cautious.
 */
export function scoreFraction(s: { bytesRead: number; totalBytes: number; done: number; needed?: number }): number {
  if (s.needed !== undefined) return s.needed === 0 ? 1 : Math.min(1, s.done / s.needed);
  return Math.min(1, s.bytesRead / Math.max(s.totalBytes, 1));
}

/**
 * How far a run through `shards` is: the tar bytes its reader has passed (feed it `onMember`) against the
 * shards' sizes, or, with `needed` (what --limit-per-class still needs), the samples done.
 */
export function shardProgress(shards: readonly string[], needed?: number): { onMember: (m: Pick<MemberInfo, 'size'>) => void; fraction: (done: number) => number } {
  const totalBytes = shards.reduce((a, s) => a + statSync(s).size, 0);
  let bytesRead = 0;
  return {
    onMember: (m) => {
      bytesRead += tarBytes(m);
    },
    fraction: (done) => scoreFraction({ bytesRead, totalBytes, done, ...(needed === undefined ? {} : { needed }) }),
  };
}

export function progressLine(label: string, state: ProgressState, elapsedSec: number, width = 24, from?: ProgressStart): string {
  const rate = ratePerSecond(state.done, elapsedSec, from);
  const parts = [label];
  if (state.fraction !== undefined) {
    const f = Math.min(1, Math.max(0, state.fraction));
    const filled = Math.round(f * width);
    parts.push(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}%`);
  }
  parts.push(`${state.done} done`);
  if (state.skipped) parts.push(`${state.skipped} skipped`);
  if (rate !== undefined) parts.push(`${rate.toFixed(rate < 10 ? 2 : 1)}/s`);
  const eta = state.fraction === undefined ? undefined : etaSeconds(state.fraction, elapsedSec, from);
  if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
  parts.push(`elapsed ${formatDuration(elapsedSec)}`);
  if (state.note) parts.push(state.note);
  return parts.join('  ');
}

export class Progress {
  private readonly start = performance.now();
  private lastDraw = 0;
  private from: ProgressStart | undefined;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  elapsed(): number {
    return (performance.now() - this.start) / 1000;
  }

  update(state: ProgressState, force = false): void {
    this.draw(() => {
      const elapsed = this.elapsed();
      if (this.from === undefined && state.fraction !== undefined && state.fraction > 0) this.from = { elapsedSec: elapsed, fraction: state.fraction, done: state.done };
      return progressLine(this.label, state, elapsed, 24, this.from);
    }, force);
  }

  finish(state: ProgressState): void {
    this.update(state, true);
    this.end();
  }

  /** Shows the line `line()` makes, unless one was shown very recently (a log gets one every few seconds). */
  draw(line: () => string, force = false): void {
    if (this.quiet) return;
    const now = performance.now();
    if (!force && now - this.lastDraw < (this.tty ? 200 : 5000)) return;
    this.lastDraw = now;
    this.stream.write(this.tty ? `\r\x1b[2K${line()}` : `${line()}\n`);
  }

  /** After the last line: a terminal's cursor goes to the next line. */
  end(): void {
    if (!this.quiet && this.tty) this.stream.write('\n');
  }
}
