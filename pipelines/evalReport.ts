/**
 * How an evaluation reads: the text table `ddps evaluate` prints, and the HTML fragment (a table and an
 * SVG bar chart of top-1 per IPC and per selection) for `ddps report`. Pure functions of results.json.
 */
import type { EvaluationReport, RunSummary, Stat } from './evaluate.js';
import { formatDuration } from '../core/progress.js';
import { escapeHtml } from './report/html.js';

function pm(s: Stat): string {
  return s.seeds.length > 1 ? `${s.mean.toFixed(1)} ± ${s.std.toFixed(1)}` : s.mean.toFixed(1);
}

function signed(v: number): string {
  return `${v >= 0 ? '+' : ''}${v.toFixed(1)}`;
}

type Summary = Pick<EvaluationReport, 'profile' | 'runs' | 'note' | 'ior' | 'labels' | 'sets'>;

/** What the evaluation ran: profile, labels, epochs and seeds. */
function heading(r: Summary): string {
  const epochs = [...new Set(r.sets.map((s) => s.epochs))].join(' / ');
  const seeds = r.runs[0]?.top1.seeds.length ?? 0;
  return `${r.profile}: ${r.labels} labels, ${epochs} epochs, ${seeds} seed${seeds === 1 ? '' : 's'} per set`;
}

/** The table as text lines: top-1 (%) of the final epoch and best of the last 20 %, mean ± std over seeds. */
export function formatEvaluation(r: Summary): string[] {
  const rows = r.runs.map((run) => [run.name, String(run.ipc), pm(run.top1), pm(run.bestLast20), formatDuration(run.seconds)]);
  const header = ['set', 'IPC', 'top-1 final (%)', 'best of last 20 % (%)', 'train time'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [heading(r), line(header), ...rows.map(line)];
  if (r.ior) out.push(`IOR (distilled - random real images, same pipeline): ${signed(r.ior.top1)} final, ${signed(r.ior.bestLast20)} best of last 20 %`);
  if (r.note) out.push(`NOTE: ${r.note}`);
  return out;
}

const CHART = { width: 640, height: 260, left: 44, bottom: 56, top: 16 };

/** One bar per run, grouped by IPC (ascending), height = mean final top-1, whisker = ± std. */
function chart(runs: readonly RunSummary[]): string {
  const ipcs = [...new Set(runs.map((r) => r.ipc))].sort((a, b) => a - b);
  const plotW = CHART.width - CHART.left - 8;
  const plotH = CHART.height - CHART.bottom - CHART.top;
  const groupW = plotW / Math.max(1, ipcs.length);
  const y = (v: number): number => CHART.top + plotH * (1 - Math.min(100, Math.max(0, v)) / 100);
  const parts: string[] = [];
  for (const tick of [0, 25, 50, 75, 100]) {
    parts.push(`<line x1="${CHART.left}" x2="${CHART.width - 8}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}" stroke="#ddd"/><text x="${CHART.left - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end" font-size="11">${tick}</text>`);
  }
  ipcs.forEach((ipc, g) => {
    const group = runs.filter((r) => r.ipc === ipc);
    const barW = (groupW * 0.8) / group.length;
    const x0 = CHART.left + g * groupW + groupW * 0.1;
    group.forEach((run, i) => {
      const x = x0 + i * barW;
      const top = y(run.top1.mean);
      const name = escapeHtml(run.name);
      const value = `${run.top1.mean.toFixed(1)} ± ${run.top1.std.toFixed(1)} %`;
      parts.push(
        `<g class="bar" data-name="${name}" data-ipc="${ipc}"><title>${name}, IPC ${ipc}: ${value} (final epoch), ${run.bestLast20.mean.toFixed(1)} % best of last 20 %</title>` +
          `<rect x="${(x + 1).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y(0) - top).toFixed(1)}" fill="${run.name === 'distilled' ? '#3b6fb6' : run.name === 'random' ? '#b0b0b0' : run.name === 'full' ? '#6a9f58' : '#d08c3a'}"/>` +
          `<line x1="${(x + barW / 2).toFixed(1)}" x2="${(x + barW / 2).toFixed(1)}" y1="${y(run.top1.mean + run.top1.std).toFixed(1)}" y2="${y(run.top1.mean - run.top1.std).toFixed(1)}" stroke="#222"/>` +
          `<text x="${(x + barW / 2).toFixed(1)}" y="${(top - 4).toFixed(1)}" text-anchor="middle" font-size="10">${run.top1.mean.toFixed(1)}</text>` +
          `<text x="${(x + barW / 2).toFixed(1)}" y="${(y(0) + 14).toFixed(1)}" text-anchor="middle" font-size="10">${name.length > 14 ? `${name.slice(0, 13)}…` : name}</text></g>`,
      );
    });
    parts.push(`<text x="${(CHART.left + (g + 0.5) * groupW).toFixed(1)}" y="${CHART.height - 18}" text-anchor="middle" font-size="12">IPC ${ipc}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${CHART.width} ${CHART.height}" width="${CHART.width}" height="${CHART.height}" role="img" aria-label="top-1 accuracy per IPC and per selection">${parts.join('')}</svg>`;
}

/** The evaluation as an HTML fragment (no page around it): heading, note, chart, table. */
export function evaluationFragment(r: Summary): string {
  const rows = r.runs
    .map((run) => `<tr><td>${escapeHtml(run.name)}</td><td>${run.ipc}</td><td>${pm(run.top1)}</td><td>${pm(run.bestLast20)}</td><td>${formatDuration(run.seconds)}</td></tr>`)
    .join('');
  return [
    '<section class="evaluation">',
    `<h2>Students trained on the sets</h2><p class="meta">${escapeHtml(heading(r))}</p>`,
    r.note ? `<p class="warn">${escapeHtml(r.note)}</p>` : '',
    chart(r.runs),
    `<table><thead><tr><th>set</th><th>IPC</th><th>top-1 final (%)</th><th>best of last 20 % (%)</th><th>train time</th></tr></thead><tbody>${rows}</tbody></table>`,
    r.ior ? `<p>IOR (distilled − random real images, same pipeline): <b>${signed(r.ior.top1)}</b> final, ${signed(r.ior.bestLast20)} best of last 20 %</p>` : '',
    '</section>',
  ].join('\n');
}
