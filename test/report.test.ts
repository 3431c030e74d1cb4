import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { runCli } from '../cli/program.js';
import { colormap, normalise, overlayScoreMap, strokeBox, type Raster } from '../operators/math/heatmap.js';
import type { CellProvenance, Provenance } from '../operators/writeDistilled.js';
import { BOX_COLOUR, escapeHtml, writeReport } from '../pipelines/report.js';
import { html, join as joinHtml, raw } from '../pipelines/report/html.js';
import { headless, loadedPage } from '../scripts/chromium.js';
import { ScoreStore, type ClassPatch } from '../storage/store/index.js';
import { readSamples, sampleImage, ShardWriter } from '../storage/webdataset/index.js';
import { REPO, tempDir } from './helpers/paths.js';
import { chromium, needs } from './helpers/needs.js';

const run = promisify(execFile);
const CLI = join(REPO, 'dist/cli/ddps.js');

// ---------------------------------------------------------------- heatmap.ts

test('colormap: viridis at 0, 0.5 and 1; clamped outside [0, 1]; linear between stops', (t) => {
  t.deepEqual(colormap(0), [0x44, 0x01, 0x54]);
  t.deepEqual(colormap(0.5), [0x21, 0x90, 0x8c]);
  t.deepEqual(colormap(1), [0xfd, 0xe7, 0x25]);
  t.deepEqual(colormap(-3), colormap(0));
  t.deepEqual(colormap(7), colormap(1));
  t.deepEqual(colormap(Number.NaN), colormap(0));
  // Halfway between the first two stops (#440154, #472d7b).
  t.deepEqual(colormap(1 / 16), [70, 23, 104]);
});

test('normalise: min-max to [0, 1]; a constant map is all 0, never NaN; non-finite values are 0', (t) => {
  t.deepEqual(Array.from(normalise([1, 3, 5])), [0, 0.5, 1]);
  t.deepEqual(Array.from(normalise(Float32Array.from([2.5, 2.5, 2.5]))), [0, 0, 0]);
  t.deepEqual(Array.from(normalise([-1, Number.NaN, 1, Number.POSITIVE_INFINITY])), [0, 0, 1, 0]);
  t.deepEqual(Array.from(normalise([])), []);
});

function flat(width: number, height: number, v: number): Raster {
  return { width, height, rgb: new Uint8Array(width * height * 3).fill(v) };
}

const px = (r: Raster | Uint8Array, width: number, x: number, y: number): number[] => {
  const rgb = r instanceof Uint8Array ? r : r.rgb;
  return Array.from(rgb.subarray(3 * (y * width + x), 3 * (y * width + x) + 3));
};

test('overlayScoreMap: blends 50 % inside the resized window, leaves what the resize trimmed, follows the transform at any picture size', (t) => {
  // 16x8 original, scale 1, the 8x8 window at x = 4 (a trimmed long edge); a 1x1 map (constant: colour of 0).
  const tr = { scale: 1, offsetX: 4, offsetY: 0, width: 8, height: 8 };
  const black = flat(16, 8, 0);
  const out = overlayScoreMap(black, [16, 8], { h: 1, w: 1, data: [5] }, tr);
  t.deepEqual(px(out, 16, 3, 4), [0, 0, 0]);
  t.deepEqual(px(out, 16, 12, 4), [0, 0, 0]);
  t.deepEqual(px(out, 16, 4, 0), [34, 1, 42]);
  t.deepEqual(px(out, 16, 11, 7), [34, 1, 42]);
  t.deepEqual(Array.from(black.rgb.subarray(0, 3)), [0, 0, 0], 'the input is not modified');
  // The same original drawn at half size: picture pixel x covers original 2x..2x+2, so columns 2-5 are inside.
  const half = overlayScoreMap(flat(8, 4, 0), [16, 8], { h: 1, w: 1, data: [5] }, tr);
  t.deepEqual([0, 1, 2, 5, 6, 7].map((x) => px(half, 8, x, 1)[0]), [0, 0, 34, 34, 0, 0]);
  // A 1x2 map [0, 1] over the whole 16x8 frame, on white: low colour at the left edge, high at the right, rising between.
  const white = flat(16, 8, 255);
  const ramp = overlayScoreMap(white, [16, 8], { h: 1, w: 2, data: [0, 1] }, { scale: 1, offsetX: 0, offsetY: 0, width: 16, height: 8 });
  t.deepEqual(px(ramp, 16, 0, 3), [162, 128, 170]);
  t.deepEqual(px(ramp, 16, 15, 3), [254, 243, 146]);
  const green = Array.from({ length: 16 }, (_, x) => px(ramp, 16, x, 3)[1]!);
  t.true(green.every((g, i) => i === 0 || g >= green[i - 1]!));
});

test('strokeBox: a border of the given thickness inside the box, interior untouched, clipped to the raster', (t) => {
  const r = flat(10, 10, 0);
  strokeBox(r, [2, 2, 6, 6], [255, 0, 0], 2);
  t.deepEqual(px(r, 10, 2, 2), [255, 0, 0]);
  t.deepEqual(px(r, 10, 3, 5), [255, 0, 0]);
  t.deepEqual(px(r, 10, 7, 7), [255, 0, 0]);
  t.deepEqual(px(r, 10, 4, 4), [0, 0, 0]);
  t.deepEqual(px(r, 10, 5, 5), [0, 0, 0]);
  t.deepEqual(px(r, 10, 8, 8), [0, 0, 0]);
  t.deepEqual(px(r, 10, 1, 5), [0, 0, 0]);
  let painted = 0;
  for (let i = 0; i < 100; i++) if (r.rgb[3 * i] === 255) painted++;
  t.is(painted, 36 - 4);
  const clipped = flat(4, 4, 0);
  t.notThrows(() => strokeBox(clipped, [-2, -2, 5, 5], [0, 255, 0], 1));
  t.deepEqual(px(clipped, 4, 2, 0), [0, 255, 0]);
  t.deepEqual(px(clipped, 4, 1, 1), [0, 0, 0]);
});

test('escapeHtml: every character that could open markup or close an attribute', (t) => {
  t.is(escapeHtml(`<a href="x" title='y'>&amp;</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
});

test('html: interpolated text is escaped unless it is markup made by html or raw; lists, numbers, and nothing for null, undefined and false', (t) => {
  const key = `"><script>x</script>`;
  t.is(html`<a title="${key}">${key}</a>`.toString(), '<a title="&quot;&gt;&lt;script&gt;x&lt;/script&gt;">&quot;&gt;&lt;script&gt;x&lt;/script&gt;</a>');
  const inner = html`<b>${'<i>'}</b>`;
  t.is(html`<p>${inner}${[inner, ' & ', 3]}${null}${undefined}${false}</p>`.toString(), '<p><b>&lt;i&gt;</b><b>&lt;i&gt;</b> &amp; 3</p>');
  t.is(html`${raw('<br>')}${'<br>'}`.toString(), '<br>&lt;br&gt;');
  t.is(joinHtml(['<a>', html`<b></b>`], raw('<hr>')).toString(), '&lt;a&gt;<hr><b></b>');
  // A plain object that looks like markup is still text.
  t.is(html`${String({ markup: '<b>' })}`.toString(), '[object Object]');
});

// ---------------------------------------------------------------- the page, end to end

const WEIRD = '000_<b>&"x';

interface World {
  dir: string;
  store: string;
  selection: string;
  shards: string[];
  /** Class 0's candidate patches, best first. */
  best0: ClassPatch[];
  /** The PNG bytes written for each distilled key. */
  pngs: Map<string, Buffer>;
  /** Expected median score of class 1's clusters 0 and 1. */
  medians: number[];
}

async function sourceImages(shards: string[], keys: Set<string>): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  for await (const s of readSamples(shards)) if (keys.has(s.__key__)) found.set(s.__key__, sampleImage(s)!);
  return found;
}

async function crop(image: Buffer, box: number[], side: number): Promise<Buffer> {
  return sharp(image).extract({ left: box[0]!, top: box[1]!, width: box[2]!, height: box[3]! }).resize(side, side, { fit: 'fill' }).png().toBuffer();
}

function cell(p: ClassPatch, shard: string): CellProvenance {
  return { source: p.key, shard, index: p.index, boxOriginal: p.boxOriginal, score: p.score, cluster: 0, rank: 0 };
}

const sortedScores = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const mid = (xs: number[]): number => {
  const s = sortedScores(xs);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * The toy world scored by the CLI, then what later stages would add: clusters for classes 0 (12 of
 * them, 2 patches each) and 1 (2 of them, 12 each), 205 skip records with markup in them, and a
 * selection: class 0 a mosaic and a single, class 2 a mosaic with a key full of markup, class 3 a
 * single whose source shard is gone.
 */
async function buildWorld(): Promise<World> {
  const dir = tempDir('ddps-report-');
  await run(process.execPath, [CLI, 'toy', '--out', dir]);
  const store = join(dir, 'store');
  await run(process.execPath, [CLI, 'score', '--shards', join(dir, 'data/train-{000000..000001}.tar'), '--model', join(dir, 'pack'), '--store', store, '--image-size', '128', '--patch-size', '56', '--timesteps', '4', '--quiet']);
  const ro = ScoreStore.open(store, { readOnly: true });
  const { config, pack } = ro;
  await ro.close();
  const w = ScoreStore.open(store, { config, pack });
  const best = (cls: number): ClassPatch[] => [...w.classPatches(cls)].sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : 1));
  const shardByKey = new Map([...w.samples()].map((s) => [s.key, s.shard]));
  const shardOf = (key: string): string => shardByKey.get(key)!;
  const medians: number[] = [];
  for (const [cls, k] of [
    [0, 12],
    [1, 2],
  ] as const) {
    const patches = [...w.classPatches(cls)];
    const members = patches.map((p, i) => ({ key: p.key, index: p.index, cluster: i % k, rank: 0, distance: 0 }));
    for (let c = 0; c < k; c++) {
      const mine = members.filter((m) => m.cluster === c);
      mine.forEach((m, r) => Object.assign(m, { rank: r, distance: r / 10 }));
      if (cls === 1) medians.push(mid(patches.filter((_, i) => i % k === c).map((p) => p.score)));
    }
    await w.putClassClusters(cls, { centroids: { k, dim: 8, data: new Float32Array(k * 8) }, members, order: Array.from({ length: k }, (_, i) => k - 1 - i) });
  }
  for (let i = 0; i < 205; i++) {
    await w.putSkipped({ key: `bad<key>&"${String(i).padStart(3, '0')}`, shard: join(dir, 'data/train-000000.tar'), stage: 'decode', code: 'BAD_SAMPLE', reason: `<script>alert(${i})</script>` });
  }
  const best0 = best(0);
  const best2 = best(2);
  const best3 = best(3);
  await w.close();

  const selection = join(dir, 'selection');
  const shards = [join(dir, 'data/train-000000.tar'), join(dir, 'data/train-000001.tar')];
  const used = [...best0.slice(0, 5), ...best2.slice(0, 4)];
  const images = await sourceImages(shards, new Set(used.map((p) => p.key)));
  const mosaic = async (ps: ClassPatch[]): Promise<Buffer> =>
    sharp({ create: { width: 112, height: 112, channels: 3, background: '#000' } })
      .composite(await Promise.all(ps.map(async (p, i) => ({ input: await crop(images.get(p.key)!, p.boxOriginal, 56), left: 56 * (i % 2), top: 56 * (i >> 1) }))))
      .png()
      .toBuffer();
  const pngs = new Map<string, Buffer>();
  const writer = new ShardWriter(join(selection, 'distilled-%06d.tar'));
  const put = async (key: string, cls: number, name: string, png: Buffer, cells: CellProvenance[]): Promise<void> => {
    pngs.set(key, png);
    const json: Provenance = { class: cls, name, ipc: 2, mosaic: true, cells };
    await writer.write({ __key__: key, png, cls, json });
  };
  await put('000_00000', 0, 'apple', await mosaic(best0.slice(0, 4)), best0.slice(0, 4).map((p) => cell(p, shardOf(p.key))));
  await put('000_00001', 0, 'apple', await crop(images.get(best0[4]!.key)!, best0[4]!.boxOriginal, 112), [cell(best0[4]!, shardOf(best0[4]!.key))]);
  await put(WEIRD, 2, 'sky', await mosaic(best2.slice(0, 4)), best2.slice(0, 4).map((p) => cell(p, shardOf(p.key))));
  await put('003_00000', 3, 'banana', await sharp({ create: { width: 112, height: 112, channels: 3, background: '#3a6' } }).png().toBuffer(), [
    { ...cell(best3[0]!, join(dir, 'gone.tar')), source: 'ghost' },
  ]);
  await writer.close();
  const manifest = {
    ipc: 2,
    mosaic: true,
    outputSize: 112,
    topClusters: 1,
    classes: { '0': { name: 'apple', images: 2, patches: 5, needed: 8, short: true } },
    config,
    pack,
    shards: ['distilled-000000.tar'],
    images: 4,
    createdBy: 'report.test',
  };
  writeFileSync(join(selection, 'manifest.json'), JSON.stringify(manifest));
  return { dir, store, selection, shards, best0, pngs, medians };
}

let world: Promise<World> | undefined;
const getWorld = (): Promise<World> => (world ??= buildWorld());
test.after.always(async () => {
  if (world !== undefined) rmSync((await world).dir, { recursive: true, force: true });
});

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

const count = (s: string, re: RegExp): number => (s.match(re) ?? []).length;

function classSection(out: string, cls: number): string {
  const page = readFileSync(join(out, 'classes', `c${cls}.html`), 'utf8');
  const start = page.indexOf(`<section class="class" id="class-${cls}">`);
  return page.slice(start, page.indexOf('</section>', start));
}

/** The index and every class page, one after the other. */
function allPages(out: string): string {
  return [readFileSync(join(out, 'index.html'), 'utf8'), ...readdirSync(join(out, 'classes')).sort().map((f) => readFileSync(join(out, 'classes', f), 'utf8'))].join('\n');
}

test.serial('with a selection: distilled PNGs copied, sources boxed on their score maps, clusters by rank with medians, run and skips, all text escaped, deterministic', async (t) => {
  const w = await getWorld();
  const out = join(w.dir, 'report');
  const summary = await writeReport({ store: w.store, selection: w.selection, out });
  t.is(summary.classes, 6);
  t.is(summary.problems.length, 1);
  t.regex(summary.problems[0]!, /gone\.tar/);
  const html = readFileSync(summary.index, 'utf8');
  const pages = allPages(out);
  t.deepEqual(readdirSync(join(out, 'classes')).sort(), ['c0.html', 'c1.html', 'c2.html', 'c3.html', 'c4.html', 'c5.html']);
  // Class pages: 4 distilled + 5 class-0 and 4 class-2 sources + 10 x 2 class-0 and 2 x 8 class-1 cluster thumbnails;
  // the index: one sprite sheet with a tile for each class that has a picture (0, 2, 3: their first distilled image).
  t.is(summary.images, 49 + 1);
  t.is(count(pages, /<img /g), 49);
  t.is(count(html, /<img /g), 0);
  t.deepEqual(
    [...html.matchAll(/<span class="pic" style="background-image:url\(img\/index-0\.jpg\);background-position:-(\d+)px -0px">/g)].map((m) => Number(m[1])),
    [0, 96, 144],
  );
  t.is(count(html, /<span class="pic none">/g), 3);
  t.is(listFiles(join(out, 'img')).length, 49 + 1);
  const sheet = await sharp(join(out, 'img/index-0.jpg')).raw().toBuffer({ resolveWithObject: true });
  t.deepEqual([sheet.info.width, sheet.info.height], [480, 48]);
  // The green channel's spread over one tile (sharp's stats() would measure the whole sheet).
  const tileStats = async (x: number): Promise<number> => {
    const g = [...(await sharp(join(out, 'img/index-0.jpg')).extract({ left: x, top: 0, width: 48, height: 48 }).raw().toBuffer())].filter((_, i) => i % 3 === 1);
    const mean = g.reduce((a, v) => a + v, 0) / g.length;
    return Math.sqrt(g.reduce((a, v) => a + (v - mean) ** 2, 0) / g.length);
  };
  t.true((await tileStats(0)) > 10, 'class 0: its mosaic');
  const flat = await tileStats(48);
  t.true(flat < 3, `class 1: no picture, a flat tile (stdev ${flat})`);
  for (const cls of [0, 1, 2, 3, 4, 5]) t.true(html.includes(`<a href="classes/c${cls}.html">`), `index links class ${cls}`);

  // Distilled images are the shard's PNG bytes.
  for (const [key, png] of w.pngs) {
    const src = new RegExp(`<img class="distilled" src="\\.\\./([^"]+)"[^>]*alt="${escapeHtml(key)}"`).exec(pages)?.[1];
    t.truthy(src, key);
    t.deepEqual(readFileSync(join(out, src!)), png);
  }
  // Markup in keys and reasons is text, on every page; the only scripts are the report's own file.
  t.true(classSection(out, 2).includes('000_&lt;b&gt;&amp;&quot;x'));
  t.false(pages.includes(WEIRD));
  t.true(html.includes('&lt;script&gt;alert(0)&lt;/script&gt;'));
  t.is(count(pages, /<script/g), 7);
  t.is(count(pages, /<script src="(\.\.\/)?assets\/report\.js"><\/script>/g), 7);
  t.true(html.includes('bad&lt;key&gt;&amp;&quot;199'));
  t.false(html.includes('bad&lt;key&gt;&amp;&quot;200'));
  t.true(html.includes('and 5 more skipped samples'));

  // Class 0: its 5 selected sources, best first, each with its box drawn where the store says.
  const s0 = classSection(out, 0);
  const sources = [...s0.matchAll(/<img class="source" src="\.\.\/([^"]+)"[^>]*><figcaption>([^ ]+) ·/g)];
  t.deepEqual(
    sources.map((m) => m[2]),
    w.best0.slice(0, 5).map((p) => p.key),
  );
  const top = w.best0[0]!;
  const { data, info } = await sharp(join(out, sources[0]![1]!)).raw().toBuffer({ resolveWithObject: true });
  t.is(info.width, 256, 'the 128-pixel toy image drawn at 256');
  const at = (x: number, y: number): number[] => Array.from(data.subarray(3 * (y * info.width + x), 3 * (y * info.width + x) + 3));
  const [bx, by, bw, bh] = top.boxOriginal.map((v) => 2 * v) as [number, number, number, number];
  for (const [x, y] of [
    [bx, by + bh / 2],
    [bx + bw - 1, by + bh / 2],
    [bx + bw / 2, by],
    [bx + bw / 2, by + bh - 1],
  ] as const) {
    at(x, y).forEach((v, ch) => t.true(Math.abs(v - BOX_COLOUR[ch]!) < 40, `box edge at ${x},${y}: ${at(x, y)}`));
  }
  t.true(Math.abs(at(bx + bw / 2, by + bh / 2)[0]! - BOX_COLOUR[0]) + Math.abs(at(bx + bw / 2, by + bh / 2)[1]! - BOX_COLOUR[1]) > 60, 'inside the box is the map, not the outline');
  // The heat map: the planted object (inside the top box) is hotter than the image corner: more yellow (green channel) than purple.
  t.true(at(bx + bw / 2, by + bh / 2)[1]! > at(2, 2)[1]! + 40);

  // Class 3's source shard is gone: a placeholder, and no broken image.
  t.regex(classSection(out, 3), /class="missing source">shard [^<]*gone\.tar is missing/);

  // Clusters: class 0 shows 10 of 12 rows in the given order (11, 10, ...), class 1 two rows of 8 with "+4" and their medians.
  const s0rows = [...s0.matchAll(/<b>#(\d+)<\/b> cluster (\d+)/g)].map((m) => Number(m[2]));
  t.deepEqual(s0rows, [11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
  t.true(s0.includes('and 2 more clusters'));
  const s1 = classSection(out, 1);
  t.is(count(s1, /class="patch"/g), 16);
  t.is(count(s1, /<span class="more">\+4<\/span>/g), 2);
  t.true(s1.includes(`cluster 1<br>12 patches<br>median score ${w.medians[1]!.toFixed(3)}`));
  t.true(s1.includes(`cluster 0<br>12 patches<br>median score ${w.medians[0]!.toFixed(3)}`));
  // A thumbnail is the patch cropped from its source: rank 0 of class 1's first row (cluster 1).
  const thumb = /<span class="thumb" title="([^ ]+) #(\d+) · rank 0[^"]*"><img class="patch" src="\.\.\/([^"]+)"/.exec(s1)!;
  const ro = ScoreStore.open(w.store, { readOnly: true });
  const rec = ro.getSample(thumb[1]!)!;
  await ro.close();
  const original = (await sourceImages(w.shards, new Set([thumb[1]!]))).get(thumb[1]!)!;
  const expected = await sharp(await crop(original, rec.patches[Number(thumb[2])]!.boxOriginal, 128)).raw().toBuffer();
  const got = await sharp(join(out, thumb[3]!)).raw().toBuffer();
  t.is(got.length, expected.length);
  let diff = 0;
  for (let i = 0; i < got.length; i++) diff += Math.abs(got[i]! - expected[i]!);
  t.true(diff / got.length < 6, `mean abs difference ${diff / got.length}`);

  // The run: configuration, pack, throughput, stages with bars.
  t.true(html.includes('<th>patchSize</th><td><code>56</code></td>'));
  t.regex(html, /<b>\d+\.\d<\/b><span>samples \/ s<\/span>/);
  t.regex(html, /<td>unet<\/td>.*class="bar" style="width:\d+(\.\d)?%"/);
  t.true(html.includes('<b>4</b><span>distilled images</span>'));
  t.true(classSection(out, 0).includes('short: fewer candidates than the budget needs'));
  t.regex(html, /<tr data-name="0 apple">.*<span class="warn">short<\/span>/);

  // Deterministic: a second rendering is byte-identical.
  const out2 = join(w.dir, 'report-again');
  await writeReport({ store: w.store, selection: w.selection, out: out2 });
  const files = listFiles(out);
  t.deepEqual(listFiles(out2), files);
  for (const f of files) t.true(readFileSync(join(out, f)).equals(readFileSync(join(out2, f))), f);
});

test.serial('without a selection (the command): each class shows its top-scored patches, best first', async (t) => {
  const w = await getWorld();
  const out = join(w.dir, 'report-top');
  const log = console.log;
  console.log = () => {};
  try {
    t.is(await runCli(['report', '--store', w.store, '--out', out, '--top-patches', '3']), 0);
  } finally {
    console.log = log;
  }
  const pages = allPages(out);
  t.true(classSection(out, 0).includes('Top-scored patches (no selection given: the best 3)'));
  t.false(pages.includes('Distilled images'));
  const keys = [...classSection(out, 0).matchAll(/<img class="source"[^>]*><figcaption>([^ ]+) ·/g)].map((m) => m[1]);
  t.deepEqual(
    keys,
    w.best0.slice(0, 3).map((p) => p.key),
  );
  t.is(count(pages, /<img class="source"/g), 18);
  t.is(count(pages, /<img /g), 18 + 36);
  // Each class's picture on the index is its best source.
  t.is(count(readFileSync(join(out, 'index.html'), 'utf8'), /<span class="pic" style=/g), 6);
});

test.serial('with --evaluation: the students\' table and chart on the index, names escaped; a file that is not an evaluation is refused by name', async (t) => {
  const w = await getWorld();
  const out = join(w.dir, 'report-eval');
  const evalDir = join(w.dir, 'evaluation');
  mkdirSync(evalDir, { recursive: true });
  const stat = (v: number) => ({ mean: v, std: 0, seeds: [v] });
  const results = {
    format: 'ddps-evaluation',
    version: 1,
    profile: 'cifar10-conv3',
    labels: 'soft',
    device: 'cpu',
    runs: [
      { name: 'distilled', ipc: 10, top1: stat(48.5), bestLast20: stat(49), seconds: 60 },
      { name: 'random <&>', ipc: 10, top1: stat(41.25), bestLast20: stat(42), seconds: 61 },
    ],
    ior: { top1: 7.25, bestLast20: 7 },
    sets: [{ name: 'distilled', dir: 'd', images: 100, ipc: 10, labels: 'soft', epochs: 400, batchSize: 10, seeds: [] }],
    val: { shards: [], images: 2000 },
    seconds: 121,
  };
  writeFileSync(join(evalDir, 'results.json'), JSON.stringify(results));
  await writeReport({ store: w.store, out, evaluation: evalDir });
  const index = readFileSync(join(out, 'index.html'), 'utf8');
  t.true(index.includes('<h2>Students trained on the sets</h2>'));
  t.is(count(index, /<g class="bar"/g), 2);
  t.true(index.includes('<td>random &lt;&amp;&gt;</td><td>10</td><td>41.3</td>'));
  t.true(index.includes('IOR (distilled − random real images, same pipeline): <b>+7.3</b>'));
  // Without --evaluation, no section.
  await writeReport({ store: w.store, out });
  t.false(readFileSync(join(out, 'index.html'), 'utf8').includes('Students trained'));
  const notOne = join(evalDir, 'manifest.json');
  writeFileSync(notOne, '{"ipc": 10}');
  const e = await t.throwsAsync(writeReport({ store: w.store, out, evaluation: notOne }));
  t.regex(e!.message, /evaluation .*manifest\.json: not a ddps evaluation/);
  const missing = await t.throwsAsync(writeReport({ store: w.store, out, evaluation: join(w.dir, 'nowhere') }));
  t.regex(missing!.message, /nowhere: not found/);
});

needs('chromium').serial('in a real browser: the index and every class page load all their images and render', async (t) => {
  const browser = chromium()!;
  const w = await getWorld();
  const out = join(w.dir, 'report-browser');
  await writeReport({ store: w.store, selection: w.selection, out });
  const index = await loadedPage(browser, join(out, 'index.html'));
  t.like(index, { images: '0', 'images-ok': 'true' });
  t.regex(index['load-ms'] ?? '', /^\d+$/);
  let images = 0;
  // Classes 4 and 5 have no picture.
  for (const cls of [0, 1, 2, 3]) {
    const page = await loadedPage(browser, join(out, 'classes', `c${cls}.html`));
    t.is(page['images-ok'], 'true', `class ${cls}: ${JSON.stringify(page)}`);
    images += Number(page.images);
  }
  t.is(images, 49);
  const shot = join(w.dir, 'report.png');
  await headless(browser, `--screenshot=${shot}`, '--window-size=1280,2000', `file://${join(out, 'classes', 'c0.html')}`);
  t.true(statSync(shot).size > 20_000);
  const stats = await sharp(shot).stats();
  t.true(stats.channels.slice(0, 3).every((c) => c.stdev > 10), 'the screenshot is not one flat colour');
  const { info } = await sharp(shot).toBuffer({ resolveWithObject: true });
  t.deepEqual([info.width, info.height], [1280, 2000]);
});

test.serial('a manifest that is not one is refused, naming the file and the field', async (t) => {
  const w = await getWorld();
  const manifest = JSON.parse(readFileSync(join(w.selection, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  const broken = join(w.dir, 'broken-selection');
  for (const [field, value, message] of [
    ['ipc', 0, /"ipc" must be a whole number >= 1, got 0/],
    ['mosaic', 'yes', /"mosaic" must be true or false/],
    ['shards', ['../../etc/passwd.tar'], /"shards" must be a list of \.tar file names/],
    ['classes', { '0': { name: 'apple', images: 2, patches: 5, needed: 8 } }, /"classes\.0\.short" must be true or false/],
    ['classes', { x: { name: 'apple', images: 2, patches: 5, needed: 8, short: true } }, /"classes\.x" must be keyed by a class index/],
  ] as const) {
    rmSync(broken, { recursive: true, force: true });
    await run('cp', ['-r', w.selection, broken]);
    writeFileSync(join(broken, 'manifest.json'), JSON.stringify({ ...manifest, [field]: value }));
    const e = await t.throwsAsync(writeReport({ store: w.store, selection: broken, out: join(w.dir, 'report-broken') }));
    t.is((e as { code?: string }).code, 'BAD_CONFIG');
    t.regex(e!.message, message);
    t.true(e!.message.includes(join(broken, 'manifest.json')), e!.message);
  }
  writeFileSync(join(broken, 'manifest.json'), '{"ipc": ');
  await t.throwsAsync(writeReport({ store: w.store, selection: broken, out: join(w.dir, 'report-broken') }), { message: /manifest\.json is not valid JSON/ });
});
