/**
 * The report's pages, all markup written with `html` (every interpolated value is escaped unless it
 * is markup itself): the index (the run in figures, one row per class with its picture, the run's
 * configuration, time per stage, skipped samples) and one page per class (distilled images, patches
 * on their score maps, clusters). A browser opens the index at a thousand classes: its class
 * pictures are tiles of a few sprite sheets, and everything heavy is on the class pages.
 */
import { colormap, VIRIDIS } from '../../operators/math/heatmap.js';
import type { RunLog, SkippedRecord } from '../../storage/store/index.js';
import type { EvaluationReport } from '../evaluate.js';
import { evaluationFragment } from '../evalReport.js';
import { html, join, raw, type HtmlValue, type SafeHtml } from './html.js';
import type { ClassView, Settings } from './model.js';
import { BOX_COLOUR, type Picture } from './pictures.js';
import type { Selection } from './selection.js';

export interface PageData {
  storeDir: string;
  config: Record<string, unknown>;
  pack: Record<string, unknown>;
  mixed: number;
  counts: { samples: number; patches: number; skipped: number };
  runs: RunLog[];
  skipped: SkippedRecord[];
  selection?: Selection;
  classes: ClassView[];
  problems: string[];
  settings: Settings;
  /** Students trained on the selection (`ddps evaluate`'s results.json), shown on the index. */
  evaluation?: EvaluationReport;
}

/** Where a class's page is, relative to the output folder. */
export function classPage(cls: number): string {
  return `classes/c${cls}.html`;
}

function fmtScore(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a === 0 || (a >= 0.01 && a < 1000) ? v.toFixed(3) : v.toExponential(2);
}

function fmtValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** `root` leads from the page to the output folder ('../' on a class page). */
function img(p: Picture, alt: string, cssClass: string, root: string): SafeHtml {
  if (p.file === undefined) return html`<div class="missing ${cssClass}">${p.missing ?? 'no image'}</div>`;
  return html`<img class="${cssClass}" src="${root + p.file}" width="${p.width}" height="${p.height}" alt="${alt}">`;
}

function num(v: string | number): SafeHtml {
  return html`<span class="num">${v}</span>`;
}

function table(head: HtmlValue[], rows: HtmlValue[][], cls = ''): SafeHtml {
  return html`<table${cls ? html` class="${cls}"` : ''}><thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${join(
    rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`),
    '\n',
  )}</tbody></table>`;
}

function keyValueTable(entries: [string, unknown][]): SafeHtml {
  return html`<table class="kv"><tbody>${join(
    entries.map(([k, v]) => html`<tr><th>${k}</th><td><code>${fmtValue(v)}</code></td></tr>`),
    '\n',
  )}</tbody></table>`;
}

function throughput(runs: RunLog[]): number | undefined {
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  return seconds > 0 ? runs.reduce((a, r) => a + r.scored, 0) / seconds : undefined;
}

function document(title: string, root: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="${root}assets/report.css">
</head>
<body id="top">
<p id="broken" hidden></p>
${body}
<script src="${root}assets/report.js"></script>
</body>
</html>
`.toString();
}

function header(d: PageData): SafeHtml {
  const rate = throughput(d.runs);
  const m = d.selection?.manifest;
  const cards: [string, string][] = [
    ['classes', String(d.classes.length)],
    ['samples scored', String(d.counts.samples)],
    ['candidate patches', String(d.counts.patches)],
    ['skipped', String(d.counts.skipped)],
    ['samples / s', rate === undefined ? '–' : rate.toFixed(1)],
    ...(m ? ([['distilled images', String(m.images)], ['images per class', `${m.ipc}${m.mosaic ? ' (2×2 mosaics)' : ''}`]] as [string, string][]) : []),
  ];
  const packName = typeof d.pack.name === 'string' ? d.pack.name : '?';
  const packDigest = typeof d.pack.digest === 'string' ? d.pack.digest : '?';
  return html`<header>
<h1>ddps report</h1>
<p class="sub">score store <code>${d.storeDir}</code>${d.selection && html` · selection <code>${d.selection.dir}</code>`} · model pack <code>${packName}</code> (digest <code>${packDigest}</code>)${d.mixed > 0 && html` · <strong>mixes ${plural(d.mixed, 'other run')}</strong>`}</p>
<div class="cards">${cards.map(([k, v]) => html`<div class="card"><b>${v}</b><span>${k}</span></div>`)}</div>
</header>`;
}

function classIndex(d: PageData): SafeHtml {
  const rows = d.classes.map((c) => {
    const bits = [c.counts ? plural(c.counts.samples, 'sample') : 'not in the store', ...(d.selection ? [plural(c.distilled.length, 'image')] : [])];
    const pic = c.tile === undefined ? html`<span class="pic none"></span>` : html`<span class="pic" style="background-image:url(${c.tile.file});background-position:-${c.tile.x}px -${c.tile.y}px"></span>`;
    return html`<tr data-name="${`${c.cls} ${c.name}`.toLowerCase()}"><td><a href="${classPage(c.cls)}" aria-label="${c.name}">${pic}</a></td><td><span class="idx">${c.cls}</span></td><td><a href="${classPage(c.cls)}">${c.name}</a></td><td>${bits.join(' · ')}</td><td>${c.budget?.short && html`<span class="warn">short</span>`}</td></tr>`;
  });
  return html`<section id="classes"><h2>Classes (${d.classes.length})</h2>
<p class="hint">Each class has its own page: distilled images, patches on their score maps, clusters. <a href="#run">Run: configuration, model pack, time per stage</a> · <a href="#skipped">Skipped samples (${d.skipped.length})</a></p>
<input id="filter" class="filter" type="search" placeholder="Find a class by name or index" aria-label="Find a class">
<table class="index"><tbody>${join(rows, '\n')}</tbody></table></section>`;
}

function legend(): SafeHtml {
  const stops = VIRIDIS.map((_, i) => `rgb(${colormap(i / (VIRIDIS.length - 1)).join(',')}) ${((100 * i) / (VIRIDIS.length - 1)).toFixed(1)}%`).join(', ');
  return html`<p class="hint">Score map D (how much the class prompt helps the model denoise, min–max per image): <span class="legend" style="background:linear-gradient(to right, ${stops})"></span> low → high; <span class="swatch" style="border-color:rgb(${BOX_COLOUR.join(',')})"></span> patch boxes.</p>`;
}

function classSection(c: ClassView, d: PageData): SafeHtml {
  const root = '../';
  const meta = [
    c.counts ? `${plural(c.counts.samples, 'sample')}, ${plural(c.counts.patches, 'candidate patch', 'candidate patches')}` : 'no samples in the store',
    ...(c.budget ? [`${plural(c.budget.images, 'distilled image')} from ${plural(c.budget.patches, 'patch', 'patches')} (budget ${c.budget.needed})`] : []),
  ];
  const parts: HtmlValue[] = [html`<h2><span class="idx">${c.cls}</span> ${c.name}</h2><p class="meta">${meta.join(' · ')}${c.budget?.short && html` <span class="warn">short: fewer candidates than the budget needs</span>`}</p>`];
  if (d.selection) {
    parts.push(html`<h3>Distilled images</h3>`);
    parts.push(
      c.distilled.length === 0
        ? html`<p class="none">No distilled image for this class.</p>`
        : html`<div class="grid">${join(
            c.distilled.map((v) => {
              const title = v.cells.map((cell) => `${cell.source} #${cell.index} score ${fmtScore(cell.score)} cluster ${cell.cluster} rank ${cell.rank}`).join('\n');
              return html`<figure title="${title}">${img(v, v.key, 'distilled', root)}<figcaption>${v.key} · ${v.mosaic ? `mosaic of ${v.cells.length}` : 'single patch'}</figcaption></figure>`;
            }),
            '\n',
          )}</div>`,
    );
  }
  parts.push(html`<h3>${d.selection ? 'Selected patches on their source images' : `Top-scored patches (no selection given: the best ${d.settings.topPatches})`}</h3>`);
  if (c.sources.length === 0) parts.push(html`<p class="none">None.</p>`);
  else {
    parts.push(legend());
    parts.push(
      html`<div class="grid">${join(
        c.sources.map((s) => html`<figure>${img(s, `${s.key} with its score map`, 'source', root)}<figcaption>${s.key} · ${s.scores.map(fmtScore).join(', ')}</figcaption></figure>`),
        '\n',
      )}</div>`,
    );
    if (c.moreSources > 0) parts.push(html`<p class="more">and ${plural(c.moreSources, 'more source image')}</p>`);
  }
  if (c.clusters) {
    parts.push(html`<h3>Clusters (${c.clusters.k}, best first; patches by rank)</h3>`);
    const rows = c.clusters.rows.map(
      (r) =>
        html`<tr><th><b>#${r.position + 1}</b> cluster ${r.cluster}<br>${plural(r.size, 'patch', 'patches')}<br>median score ${fmtScore(r.median)}</th><td>${r.thumbs.map(
          (t) => html`<span class="thumb" title="${`${t.key} #${t.index} · rank ${t.rank} · score ${fmtScore(t.score)}`}">${img(t, `${t.key} patch ${t.index}`, 'patch', root)}</span>`,
        )}${r.size > r.thumbs.length && html`<span class="more">+${r.size - r.thumbs.length}</span>`}</td></tr>`,
    );
    parts.push(html`<table class="clusters"><tbody>${join(rows, '\n')}</tbody></table>`);
    if (c.clusters.moreRows > 0) parts.push(html`<p class="more">and ${plural(c.clusters.moreRows, 'more cluster')}</p>`);
  }
  return html`<section class="class" id="class-${c.cls}">\n${join(parts, '\n')}\n</section>`;
}

function runSection(d: PageData): SafeHtml {
  const parts: HtmlValue[] = [html`<h2>Run</h2>`];
  const { classes, ...config } = d.config;
  const column = (title: string, entries: [string, unknown][]): SafeHtml => html`<div><h3>${title}</h3>${keyValueTable(entries)}</div>`;
  const columns = [column('Configuration', Object.entries(config).concat(Array.isArray(classes) ? [['classes', `${classes.length} names`]] : [])), column('Model pack', Object.entries(d.pack))];
  if (d.selection) {
    const { classes: _perClass, config: _config, pack: _pack, ...manifest } = d.selection.manifest;
    columns.push(column('Selection', Object.entries(manifest)));
  }
  parts.push(html`<div class="cols">${join(columns, '\n')}</div>`);
  parts.push(html`<h3>Scoring runs</h3>`);
  if (d.runs.length === 0) parts.push(html`<p class="none">The store records no run.</p>`);
  else {
    parts.push(
      table(
        ['ended', 'scored', 'skipped', 'seconds', 'samples / s', 'UNet passes', 'execution'],
        d.runs.map((r) => [
          r.ended,
          num(r.scored),
          num(r.skipped),
          num(r.seconds.toFixed(1)),
          num(r.seconds > 0 ? (r.scored / r.seconds).toFixed(2) : '–'),
          num(r.unetPasses),
          html`<code>${JSON.stringify(r.execution)}</code>`,
        ]),
      ),
    );
    const stages = new Map<string, { ms: number; calls: number; items: number }>();
    for (const r of d.runs) {
      for (const [name, s] of Object.entries(r.stages)) {
        const t = stages.get(name) ?? { ms: 0, calls: 0, items: 0 };
        stages.set(name, { ms: t.ms + s.ms, calls: t.calls + s.calls, items: t.items + s.items });
      }
    }
    const sorted = [...stages].sort(([a, x], [b, y]) => y.ms - x.ms || (a < b ? -1 : 1));
    const total = sorted.reduce((a, [, s]) => a + s.ms, 0);
    const max = Math.max(1e-9, ...sorted.map(([, s]) => s.ms));
    parts.push(
      html`<h3>Busy time per stage${d.runs.length > 1 && ` (over ${d.runs.length} runs)`}</h3><p class="hint">Summed call durations: with several workers or images in flight they can exceed the wall time; they say where the cost is.</p>`,
    );
    parts.push(
      table(
        ['stage', 'seconds', 'share', 'calls', 'items', ''],
        sorted.map(([name, s]) => [
          name,
          num((s.ms / 1000).toFixed(2)),
          num(`${total > 0 ? ((100 * s.ms) / total).toFixed(0) : '0'} %`),
          num(s.calls),
          num(s.items),
          html`<div class="bar" style="width:${((100 * s.ms) / max).toFixed(1)}%"></div>`,
        ]),
        'stages',
      ),
    );
  }
  return html`<section id="run">\n${join(parts, '\n')}\n</section>`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function skippedSection(d: PageData): SafeHtml {
  if (d.skipped.length === 0) return html`<section id="skipped"><h2>Skipped samples (0)</h2>\n<p class="none">No sample was skipped.</p>\n</section>`;
  const byKind = new Map<string, number>();
  for (const s of d.skipped) byKind.set(`${s.stage ?? ''}\u0000${s.code}`, (byKind.get(`${s.stage ?? ''}\u0000${s.code}`) ?? 0) + 1);
  const kinds = [...byKind].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  const summary = table(
    ['stage', 'code', 'samples'],
    kinds.map(([kind, n]) => [...kind.split('\u0000'), num(n)]),
  );
  const shown = d.skipped.slice(0, d.settings.skippedRows);
  const rest = d.skipped.length - shown.length;
  const list = table(
    ['sample', 'shard', 'stage', 'code', 'reason'],
    shown.map((s) => [s.key === undefined ? html`<em>rest of the shard</em>` : html`<code>${s.key}</code>`, html`<span title="${s.shard}">${basename(s.shard)}</span>`, s.stage ?? '', s.code, s.reason]),
    'skipped',
  );
  const more = rest > 0 && html`<p class="more">and ${plural(rest, 'more skipped sample')} (<code>ddps inspect --json</code> lists all)</p>`;
  return html`<section id="skipped"><h2>Skipped samples (${d.skipped.length})</h2>\n${summary}\n<h3>Samples</h3>${list}${more}\n</section>`;
}

function problemsBox(d: PageData): SafeHtml {
  const shown = d.problems.slice(0, 50);
  const rest = d.problems.length - shown.length;
  return html`<section class="problems"><h2>Pictures the report could not make (${d.problems.length})</h2><ul>${join(
    shown.map((p) => html`<li>${p}</li>`),
    '\n',
  )}</ul>${rest > 0 && html`<p class="more">and ${rest} more</p>`}</section>`;
}

/** index.html. */
export function indexPage(d: PageData): string {
  return document(
    `ddps report · ${d.storeDir}`,
    '',
    html`${header(d)}
<main>
${d.problems.length > 0 && problemsBox(d)}
${d.evaluation && raw(evaluationFragment(d.evaluation))}
${classIndex(d)}
${runSection(d)}
${skippedSection(d)}
</main>`,
  );
}

/** The page of d.classes[i], linked to its neighbours and the index. */
export function classPageHtml(d: PageData, i: number): string {
  const c = d.classes[i]!;
  const prev = d.classes[i - 1];
  const next = d.classes[i + 1];
  const link = (to: ClassView | undefined, label: string): HtmlValue => to && html`<a href="${`../${classPage(to.cls)}`}">${label.replace('%', `${to.cls} ${to.name}`)}</a>`;
  return document(
    `ddps report · ${c.cls} ${c.name}`,
    '../',
    html`<main>
<nav class="pager"><a href="../index.html">↑ all classes</a>${link(prev, '‹ %')}${link(next, '% ›')}</nav>
${classSection(c, d)}
</main>`,
  );
}
