/** What the queue commands print: the run's one progress line, the submit summary, the queue status. */
import type { QueueStatus, RunProgress, SubmitSummary, WorkerEvent } from '../queue/index.js';
import { formatDuration } from './progress.js';

/** `[#####...] 40%  12/30 shards stored  3 active  1 failed  1234 samples  56.2/s  ETA 3m10s  3 workers  elapsed 1m02s` */
export function queueProgressLine(p: RunProgress, elapsedSec: number, width = 24): string {
  const filled = Math.round(Math.min(1, Math.max(0, p.fraction)) * width);
  const parts = [`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(p.fraction * 100).toFixed(0).padStart(3)}%`, `${p.stored}/${p.shards} shards stored`];
  if (p.active.length) parts.push(`${p.active.length} active`);
  if (p.waiting) parts.push(`${p.waiting} waiting`);
  if (p.failed) parts.push(`${p.failed} failed`);
  parts.push(`${p.samples} samples`, `${p.rate.toFixed(p.rate < 10 ? 2 : 1)}/s`);
  if (p.eta !== undefined && p.fraction < 1) parts.push(`ETA ${formatDuration(p.eta)}`);
  parts.push(`${p.workers} worker${p.workers === 1 ? '' : 's'}`, `elapsed ${formatDuration(elapsedSec)}`);
  return parts.join('  ');
}

export function submitSummaryLines(s: SubmitSummary, queue: string): string[] {
  const rate = s.seconds > 0 ? s.imported.scored / s.seconds : 0;
  const lines = [
    `run ${s.digest}: ${s.stored} of ${s.shards} shards in the store, which holds ${s.storeSamples} samples`,
    `imported ${s.imported.scored} scored and ${s.imported.skipped} skipped samples in ${s.seconds.toFixed(1)} s (${rate.toFixed(2)}/s)`,
  ];
  if (s.imported.scored > 0) lines.push(`UNet passes: ${s.unetPasses} (${(s.unetPasses / s.imported.scored).toFixed(2)} per image)`);
  if (s.failed.length) {
    lines.push(`${s.failed.length} shard${s.failed.length === 1 ? '' : 's'} failed:`);
    for (const f of s.failed) lines.push(`  ${f.shard} (after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}): ${f.reason}`);
    lines.push(`fix the cause, then: ddps queue retry ${queue}, and run this command again`);
  }
  if (s.removed.length) lines.push(`${s.removed.length} shards were removed from the queue before they were done (ddps queue drain); submit again to queue them`);
  if (s.stopped) lines.push(`stopped following: the workers carry on; run this command again to collect the results`);
  return lines;
}

export function statusLines(st: QueueStatus): string[] {
  const lines = [`queue ${st.name} at ${st.queue}: ${st.workers.length} worker${st.workers.length === 1 ? '' : 's'} connected${st.workers.length ? ` (${st.workers.join(', ')})` : ''}`];
  for (const r of st.runs) {
    const c = r.counts;
    const counts = [`${c.completed} done`, `${c.active} active`, `${c.waiting} waiting`, ...(c.delayed ? [`${c.delayed} retrying later`] : []), `${c.failed} failed`, ...(c.missing ? [`${c.missing} removed`] : [])];
    lines.push(`run ${r.digest} (submitted ${r.submitted}, store ${r.store}): ${r.shards} shards: ${counts.join(', ')}`);
  }
  for (const j of st.jobs) {
    if (j.state === 'active') {
      const p = j.progress;
      const pct = p?.fraction !== undefined ? ` ${(p.fraction * 100).toFixed(0)}%` : '';
      lines.push(`  active   ${j.shard}  on ${j.worker ?? '?'}: ${p?.done ?? 0} done${pct}${j.stalls ? `, ${j.stalls} stall${j.stalls === 1 ? '' : 's'}` : ''}`);
    } else if (j.state === 'failed') {
      lines.push(`  failed   ${j.shard}  after ${j.attemptsMade} attempt${j.attemptsMade === 1 ? '' : 's'}: ${j.failedReason ?? '?'}`);
    } else if (j.state === 'delayed') {
      lines.push(`  retrying ${j.shard}  (attempt ${j.attemptsMade + 1} of ${j.attempts}): ${j.failedReason ?? '?'}`);
    }
  }
  const waiting = st.jobs.filter((j) => j.state === 'waiting');
  for (const j of waiting.slice(0, 10)) lines.push(`  waiting  ${j.shard}`);
  if (waiting.length > 10) lines.push(`  ... and ${waiting.length - 10} more waiting (--json lists all)`);
  return lines;
}

/** One log line per worker event worth a line (progress goes to the status, not the log). */
export function workerEventLine(e: WorkerEvent): string | undefined {
  const at = new Date().toISOString().slice(11, 19);
  switch (e.type) {
    case 'started':
      return `${at} started  ${e.shard} (attempt ${e.attempt})`;
    case 'finished':
      return `${at} finished ${e.shard}: ${e.result.scored} scored, ${e.result.skipped} skipped in ${e.result.seconds.toFixed(1)} s -> ${e.result.file}`;
    case 'failed':
      return `${at} failed   ${e.shard}: ${e.reason}`;
    case 'lost-lock':
      return `${at} stopped  ${e.shard}: this worker lost its lock on it (another worker takes it over); nothing was published`;
    case 'error':
      return `${at} error: ${e.message}`;
    case 'progress':
      return undefined;
  }
}
