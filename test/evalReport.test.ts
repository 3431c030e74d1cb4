import test from 'ava';
import { evaluationFragment, formatEvaluation } from '../pipelines/evalReport.js';
import type { EvaluationReport, RunSummary } from '../pipelines/evaluate.js';

function run(name: string, ipc: number, seeds: number[], best: number[]): RunSummary {
  const stat = (v: number[]) => {
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), seeds: v };
  };
  return { name, ipc, top1: stat(seeds), bestLast20: stat(best), seconds: 125 };
}

const report: Pick<EvaluationReport, 'profile' | 'runs' | 'note' | 'ior' | 'labels' | 'sets'> = {
  profile: 'imagenette-resnet18-128',
  labels: 'replay',
  note: 'results are valid for relative comparisons only',
  runs: [run('distilled', 10, [50, 52], [51, 53]), run('random', 10, [40, 40], [41, 42]), run('<b>x</b> & "y"', 50, [80, 80], [81, 81])],
  ior: { top1: 11, bestLast20: 10.5 },
  sets: [{ name: 'distilled', dir: 'd', images: 100, ipc: 10, labels: 'replay', epochs: 300, batchSize: 50, seeds: [] }],
};

test('formatEvaluation: mean ± std per set, the IOR and the note', (t) => {
  const lines = formatEvaluation(report);
  t.is(lines[0], 'imagenette-resnet18-128: replay labels, 300 epochs, 2 seeds per set');
  t.regex(lines[2]!, /^distilled\s+10\s+51\.0 ± 1\.0\s+52\.0 ± 1\.0\s+2m05s$/);
  t.regex(lines[3]!, /^random\s+10\s+40\.0 ± 0\.0\s+41\.5 ± 0\.5/);
  t.is(lines[5], 'IOR (distilled - random real images, same pipeline): +11.0 final, +10.5 best of last 20 %');
  t.is(lines[6], 'NOTE: results are valid for relative comparisons only');
});

test('evaluationFragment: names escaped, one bar per run grouped by IPC, heights proportional to top-1', (t) => {
  const html = evaluationFragment(report);
  t.false(html.includes('<b>x</b>'));
  t.true(html.includes('&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;'));
  t.true(html.includes('relative comparisons only'));
  const bars = [...html.matchAll(/<g class="bar" data-name="([^"]*)" data-ipc="(\d+)">.*?<rect [^>]*height="([\d.]+)"/g)].map((m) => ({ name: m[1], ipc: Number(m[2]), h: Number(m[3]) }));
  t.deepEqual(bars.map((b) => [b.name, b.ipc]), [['distilled', 10], ['random', 10], ['&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;', 50]]);
  t.true(Math.abs(bars[0]!.h / bars[1]!.h - 51 / 40) < 0.01);
  t.true(Math.abs(bars[2]!.h / bars[1]!.h - 80 / 40) < 0.01);
  t.regex(html, /IPC 10<\/text>.*IPC 50<\/text>/s);
  t.regex(html, /IOR \(distilled − random real images, same pipeline\): <b>\+11\.0<\/b>/);
});
