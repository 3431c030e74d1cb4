import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { isDdpsError } from '../core/errors.js';
import type { ClassSelection, DistillManifest, RankedPatch } from '../operators/selectionTypes.js';
import { type MaterializeOptions, materialize } from '../pipelines/materialize.js';
import { ShardWriter, type WdsSample, readSamples } from '../storage/webdataset/index.js';
import { type Box } from '../core/geometry.js';

type Rgb = [number, number, number];

/** Originals: solid colours and gradients (R by column, G by row, B = 100), none of them square. */
const SOURCES: Record<string, { w: number; h: number; fill?: Rgb }> = {
  red: { w: 300, h: 200, fill: [255, 0, 0] },
  green: { w: 300, h: 200, fill: [0, 255, 0] },
  blue: { w: 300, h: 200, fill: [0, 0, 255] },
  grad: { w: 300, h: 200 },
  tall: { w: 200, h: 300 },
  grad2: { w: 300, h: 200 },
};

async function sourcePng(name: string): Promise<Buffer> {
  const { w, h, fill } = SOURCES[name]!;
  if (fill) return sharp({ create: { width: w, height: h, channels: 3, background: { r: fill[0], g: fill[1], b: fill[2] } } }).png().toBuffer();
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      raw[(y * w + x) * 3] = Math.round((x * 255) / (w - 1));
      raw[(y * w + x) * 3 + 1] = Math.round((y * 255) / (h - 1));
      raw[(y * w + x) * 3 + 2] = 100;
    }
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

interface World {
  dir: string;
  /** Source sample name -> its shard. */
  shardOf: Record<string, string>;
}

/** Two source shards: red, green, blue, grad in the first; tall, grad2 in the second. */
async function world(t: ExecutionContext): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'ddps-materialize-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const writer = new ShardWriter(join(dir, 'src-%06d.tar'), { maxcount: 4 });
  for (const name of Object.keys(SOURCES)) await writer.write({ __key__: name, png: await sourcePng(name), cls: '0' });
  const shards = await writer.close();
  const shardOf = Object.fromEntries(Object.keys(SOURCES).map((name, i) => [name, shards[Math.floor(i / 4)]!]));
  return { dir, shardOf };
}

function patch(w: World, key: string, boxOriginal: Box, cls = 0, rank = 0): RankedPatch {
  return { key, index: rank % 2, cls, shard: w.shardOf[key] ?? w.shardOf.red!, boxOriginal, score: 0.5 - rank / 8, cluster: rank % 3, rank };
}

function options(outDir: string, extra: Partial<MaterializeOptions> = {}): MaterializeOptions {
  return {
    ipc: 1,
    mosaic: true,
    outDir,
    classNames: ['cat', 'dog', 'eel'],
    config: { imageSize: 256, patchSize: 224, wholeImage: false },
    pack: { name: 'toy', digest: 'abc' },
    topClusters: 10,
    ...extra,
  };
}

async function readAll(urls: string | string[]): Promise<WdsSample[]> {
  const out: WdsSample[] = [];
  for await (const s of readSamples(urls)) out.push(s);
  return out;
}

async function pixels(png: Buffer): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

function checkSolid(t: ExecutionContext, data: Buffer, size: number, left: number, top: number, cell: number, rgb: Rgb, what: string): void {
  let worst = 0;
  for (let y = top; y < top + cell; y++) {
    for (let x = left; x < left + cell; x++) {
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(data[(y * size + x) * 3 + c]! - rgb[c]!));
    }
  }
  t.true(worst <= 1, `${what}: off by ${worst}`);
}

/** A cell cut from a gradient original shows the gradient over `box`, in original pixels. */
function checkGradient(t: ExecutionContext, data: Buffer, size: number, left: number, top: number, cell: number, box: Box, src: { w: number; h: number }, what: string): void {
  for (const j of [4, cell >> 1, cell - 5]) {
    for (const i of [4, cell >> 1, cell - 5]) {
      const at = ((top + j) * size + left + i) * 3;
      const x = box[0] + ((i + 0.5) * box[2]) / cell - 0.5;
      const y = box[1] + ((j + 0.5) * box[3]) / cell - 0.5;
      const want = [(x * 255) / (src.w - 1), (y * 255) / (src.h - 1), 100];
      const got = [data[at]!, data[at + 1]!, data[at + 2]!];
      t.true(
        got.every((v, c) => Math.abs(v - want[c]!) <= 2),
        `${what} pixel (${i}, ${j}): got ${got.join(',')}, expected ${want.map((v) => v.toFixed(1)).join(',')}`,
      );
    }
  }
}

test('a mosaic quadrant is each cell\'s crop from the original, TL TR BL BR', async (t) => {
  const w = await world(t);
  const gradBox: Box = [200, 20, 80, 160];
  const sel: ClassSelection = {
    cls: 0,
    needed: 4,
    patches: [patch(w, 'red', [10, 10, 100, 100]), patch(w, 'green', [150, 50, 120, 120]), patch(w, 'blue', [0, 0, 300, 200]), patch(w, 'grad', gradBox)],
  };
  const out = join(w.dir, 'out');
  const manifest = await materialize([sel], options(out));
  const [s] = await readAll(join(out, manifest.shards[0]!));
  t.is(s!.__key__, '000_00000');
  const img = await pixels(s!.png as Buffer);
  t.deepEqual([img.width, img.height, img.channels], [224, 224, 3]);
  checkSolid(t, img.data, 224, 0, 0, 112, [255, 0, 0], 'top-left');
  checkSolid(t, img.data, 224, 112, 0, 112, [0, 255, 0], 'top-right');
  checkSolid(t, img.data, 224, 0, 112, 112, [0, 0, 255], 'bottom-left');
  checkGradient(t, img.data, 224, 112, 112, 112, gradBox, SOURCES.grad!, 'bottom-right');
});

test('singles fill the output; boxes are original pixels of non-square originals; auto stays single for whole-image stores', async (t) => {
  const w = await world(t);
  const boxes: Box[] = [
    [30, 140, 100, 60],
    [20, 210, 150, 90],
  ];
  const sel: ClassSelection = { cls: 2, needed: 2, patches: [patch(w, 'grad', boxes[0]!, 2), patch(w, 'tall', boxes[1]!, 2, 1)] };
  const out = join(w.dir, 'out');
  const manifest = await materialize([sel], options(out, { ipc: 2, mosaic: 'auto', outputSize: 96, config: { wholeImage: true } }));
  t.false(manifest.mosaic);
  const samples = await readAll(manifest.shards.map((s) => join(out, s)));
  t.deepEqual(
    samples.map((s) => s.__key__),
    ['002_00000', '002_00001'],
  );
  for (const [i, s] of samples.entries()) {
    const img = await pixels(s.png as Buffer);
    t.deepEqual([img.width, img.height, img.channels], [96, 96, 3]);
    checkGradient(t, img.data, 96, 0, 0, 96, boxes[i]!, SOURCES[i === 0 ? 'grad' : 'tall']!, s.__key__);
  }
});

/** Class 0 has its 8 patches (IPC 2, mosaics), class 1 only 3. */
function twoClasses(w: World): ClassSelection[] {
  const names = ['grad', 'tall', 'grad2', 'red'];
  const class0 = Array.from({ length: 8 }, (_, i) => patch(w, names[i % 4]!, [10 * i, 5 * i, 60 + 4 * i, 50 + 3 * i], 0, i));
  const class1 = [patch(w, 'blue', [0, 0, 50, 50], 1), patch(w, 'grad2', [100, 100, 64, 64], 1, 1), patch(w, 'tall', [0, 200, 199, 100], 1, 2)];
  return [
    { cls: 1, needed: 8, patches: class1 },
    { cls: 0, needed: 8, patches: class0 },
  ];
}

test('two classes: IPC x classes images, counts and short flags, provenance round-trips', async (t) => {
  const w = await world(t);
  const selection = twoClasses(w);
  const out = join(w.dir, 'out');
  const manifest = await materialize(selection, options(out, { ipc: 2, outputSize: 64 }));
  t.deepEqual(manifest.classes, {
    0: { name: 'cat', images: 2, patches: 8, needed: 8, short: false },
    1: { name: 'dog', images: 2, patches: 3, needed: 8, short: true },
  });
  t.is(manifest.images, 4);
  t.deepEqual(manifest.shards, ['distilled-000000.tar']);
  t.deepEqual(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')), manifest);

  const samples = await readAll(join(out, 'distilled-000000.tar'));
  t.deepEqual(
    samples.map((s) => [s.__key__, (s.cls as Buffer).toString()]),
    [
      ['000_00000', '0'],
      ['000_00001', '0'],
      ['001_00000', '1'],
      ['001_00001', '1'],
    ],
  );
  const [class1, class0] = selection.map((s) => s.patches);
  // RDED order for the full class; the short class cycles image by image: [0, 1, 2, 0], [1, 2, 0, 1].
  const cellsOf = [
    [0, 2, 4, 6].map((i) => class0![i]!),
    [1, 3, 5, 7].map((i) => class0![i]!),
    [0, 1, 2, 0].map((i) => class1![i]!),
    [1, 2, 0, 1].map((i) => class1![i]!),
  ];
  samples.forEach((s, n) => {
    const cls = n < 2 ? 0 : 1;
    t.deepEqual(JSON.parse((s.json as Buffer).toString()), {
      class: cls,
      name: ['cat', 'dog'][cls],
      ipc: 2,
      mosaic: true,
      cells: cellsOf[n]!.map((p) => ({ source: p.key, shard: p.shard, index: p.index, boxOriginal: p.boxOriginal, score: p.score, cluster: p.cluster, rank: p.rank })),
    });
  });
  // The short class's first image repeats patch 0 in its bottom-right cell.
  const img = await pixels(samples[2]!.png as Buffer);
  checkSolid(t, img.data, 64, 0, 0, 32, [0, 0, 255], 'top-left');
  checkSolid(t, img.data, 64, 32, 32, 32, [0, 0, 255], 'bottom-right');
});

test('re-running gives byte-identical shards and manifest, whatever the concurrency', async (t) => {
  const w = await world(t);
  const runs: [DistillManifest, string][] = [];
  for (const [i, concurrency] of [1, 4].entries()) {
    const out = join(w.dir, `out${i}`);
    runs.push([await materialize(twoClasses(w), options(out, { ipc: 2, outputSize: 64, maxcount: 3, concurrency })), out]);
  }
  const [[m0, out0], [m1, out1]] = runs as [[DistillManifest, string], [DistillManifest, string]];
  t.deepEqual(m0.shards, m1.shards);
  for (const name of [...m0.shards, 'manifest.json']) t.true((await readFile(join(out0, name))).equals(await readFile(join(out1, name))), name);
});

test('maxcount rolls shards; a later run removes shards it did not write', async (t) => {
  const w = await world(t);
  const out = join(w.dir, 'out');
  const rolled = await materialize(twoClasses(w), options(out, { ipc: 2, outputSize: 64, maxcount: 3 }));
  t.deepEqual(rolled.shards, ['distilled-000000.tar', 'distilled-000001.tar']);
  t.deepEqual(
    (await readAll(join(out, 'distilled-000000.tar'))).map((s) => s.__key__),
    ['000_00000', '000_00001', '001_00000'],
  );
  t.deepEqual(
    (await readAll(join(out, 'distilled-000001.tar'))).map((s) => s.__key__),
    ['001_00001'],
  );
  const again = await materialize(twoClasses(w), options(out, { ipc: 2, outputSize: 64 }));
  t.deepEqual(again.shards, ['distilled-000000.tar']);
  t.deepEqual((await readdir(out)).sort(), ['distilled-000000.tar', 'manifest.json']);
});

test('a source key missing from its shard is a STORE_MISMATCH naming key and shard', async (t) => {
  const w = await world(t);
  const sel: ClassSelection = { cls: 0, needed: 1, patches: [{ ...patch(w, 'red', [0, 0, 10, 10]), key: 'gone' }] };
  const e = await t.throwsAsync(materialize([sel], options(join(w.dir, 'out'), { mosaic: false })));
  t.true(isDdpsError(e, 'STORE_MISMATCH'));
  t.true(e!.message.includes('"gone"') && e!.message.includes(w.shardOf.red!), e!.message);
});

test('a box outside its original, or a selection made for another layout, is refused', async (t) => {
  const w = await world(t);
  const outside: ClassSelection = { cls: 0, needed: 1, patches: [patch(w, 'grad', [250, 0, 100, 100])] };
  const e = await t.throwsAsync(materialize([outside], options(join(w.dir, 'a'), { mosaic: false })));
  t.true(isDdpsError(e, 'BAD_SAMPLE'));
  t.true(e!.message.includes('"grad"') && e!.message.includes('300x200'), e!.message);

  const forSingles: ClassSelection = { cls: 0, needed: 1, patches: [patch(w, 'grad', [0, 0, 10, 10])] };
  const e2 = await t.throwsAsync(materialize([forSingles], options(join(w.dir, 'b'), { mosaic: true })));
  t.true(isDdpsError(e2, 'BAD_ARGUMENT'));
  t.true(e2!.message.includes('needs 4'), e2!.message);
});
