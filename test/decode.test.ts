import test from 'ava';
import { join } from 'node:path';
import { from, lastValueFrom, take, tap, throwError, toArray } from 'rxjs';
import sharp, { type Sharp } from 'sharp';
import { DdpsError, isDdpsError } from '../core/errors.js';
import { decode, decodeImage } from '../operators/decode.js';
import { mapOrdered } from '../operators/mapOrdered.js';
import type { Decoded, SampleRef } from '../operators/types.js';
import { readSamples, sampleClass, sampleImage } from '../storage/webdataset/index.js';
import { DATA } from './helpers/paths.js';
import { seededRandom } from '../models/noise.js';
import { needs } from './helpers/needs.js';

const SHARD0 = join(DATA, 'imagenette/train-000000.tar');
// The first grayscale JPEG of the shard, sample 97: found with sharp metadata (channels 1, space b-w).
const FIRST_GRAY_KEY = 'n03417042_2156';

interface Item extends SampleRef {
  image: Buffer;
}

async function shardItems(count: number): Promise<Item[]> {
  const out: Item[] = [];
  for await (const s of readSamples(SHARD0)) {
    out.push({ key: s.__key__, url: s.__url__, cls: sampleClass(s)!, image: sampleImage(s)! });
    if (out.length === count) break;
  }
  return out;
}

const REF: SampleRef = { key: 'synthetic/img_7', url: 'mem://shard-3.tar', cls: 5 };

type Rgb = [number, number, number];
const LEFT: Rgb = [150, 120, 100];
const RIGHT: Rgb = [60, 90, 170];

/** 40x20: LEFT in columns 0..19, RIGHT in 20..39. */
function twoColour(): Sharp {
  const w = 40;
  const h = 20;
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw.set(x < w / 2 ? LEFT : RIGHT, (y * w + x) * 3);
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } });
}

function pixel(d: Decoded, x: number, y: number): Rgb {
  const o = (y * d.width + x) * 3;
  return [d.rgb[o], d.rgb[o + 1], d.rgb[o + 2]];
}

function near(actual: Rgb, expected: Rgb, tol: number): boolean {
  return actual.every((v, c) => Math.abs(v - expected[c]) <= tol);
}

/** Every pixel of the left and right halves (away from the seam) within tol of LEFT / RIGHT. */
function assertTwoColour(t: import('ava').ExecutionContext, d: Decoded, tol: number): void {
  t.is(d.width, 40);
  t.is(d.height, 20);
  t.is(d.rgb.length, 40 * 20 * 3);
  for (let y = 0; y < 20; y++) {
    for (const [x0, x1, c] of [[0, 18, LEFT], [22, 40, RIGHT]] as const) {
      for (let x = x0; x < x1; x++) {
        if (!near(pixel(d, x, y), c, tol)) return t.fail(`pixel (${x}, ${y}) is ${pixel(d, x, y)}, expected ${c} +- ${tol}`);
      }
    }
  }
  t.pass();
}

needs('shared')('a JPEG from the imagenette shard decodes to 224x224x3 and keeps the sample fields', async (t) => {
  const [item] = await shardItems(1);
  const d = await decodeImage(item.image, item);
  t.is(d.key, 'n03394916_30368');
  t.is(d.url, SHARD0);
  t.is(d.cls, item.cls);
  t.is(d.width, 224);
  t.is(d.height, 224);
  t.true(d.rgb instanceof Uint8Array);
  t.is(d.rgb.length, 224 * 224 * 3);
  // A colour photograph: some pixels differ between channels.
  let colourful = 0;
  for (let i = 0; i < d.rgb.length; i += 3) if (d.rgb[i] !== d.rgb[i + 1] || d.rgb[i + 1] !== d.rgb[i + 2]) colourful++;
  t.true(colourful > 1000);
});

needs('shared')('a grayscale JPEG from the shard decodes to 3 equal channels equal to the gray values', async (t) => {
  const items = await shardItems(300);
  let gray: Item | undefined;
  for (const it of items) {
    if ((await sharp(it.image).metadata()).channels === 1) {
      gray = it;
      break;
    }
  }
  t.is(gray?.key, FIRST_GRAY_KEY);
  const d = await decodeImage(gray!.image, gray!);
  t.is(d.width, 224);
  t.is(d.height, 224);
  const y = await sharp(gray!.image).toColourspace('b-w').raw().toBuffer();
  t.is(y.length, 224 * 224);
  let mismatches = 0;
  for (let i = 0; i < y.length; i++) {
    if (d.rgb[3 * i] !== y[i] || d.rgb[3 * i + 1] !== y[i] || d.rgb[3 * i + 2] !== y[i]) mismatches++;
  }
  t.is(mismatches, 0);
});

test('CMYK JPEG decodes to sRGB close to the source colours', async (t) => {
  const buf = await twoColour().toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
  const meta = await sharp(buf).metadata();
  t.is(meta.space, 'cmyk');
  t.is(meta.channels, 4);
  // The sRGB -> CMYK -> sRGB profile round trip plus JPEG loss moves these colours by up to 17.
  assertTwoColour(t, await decodeImage(buf, REF), 20);
});

test('palette PNG decodes to its exact colours', async (t) => {
  const buf = await twoColour().png({ palette: true }).toBuffer();
  t.true((await sharp(buf).metadata()).isPalette);
  assertTwoColour(t, await decodeImage(buf, REF), 0);
});

test('16-bit PNG decodes to 8 bits: v * 257 -> v exactly', async (t) => {
  const buf = await twoColour().toColourspace('rgb16').png().toBuffer();
  const meta = await sharp(buf).metadata();
  t.is(meta.depth, 'ushort');
  t.is(meta.bitsPerSample, 16);
  assertTwoColour(t, await decodeImage(buf, REF), 0);
});

test('WebP decodes: lossless exactly, lossy within tolerance', async (t) => {
  assertTwoColour(t, await decodeImage(await twoColour().webp({ lossless: true }).toBuffer(), REF), 0);
  assertTwoColour(t, await decodeImage(await twoColour().webp({ quality: 90 }).toBuffer(), REF), 6);
});

test('alpha is dropped and the stored colour kept (PIL convert("RGB")), not composited', async (t) => {
  // RGBA 2x2: transparent green, opaque green, half-transparent (1,2,3), opaque (4,5,6).
  const rgba = await sharp(Buffer.from([10, 200, 30, 0, 10, 200, 30, 255, 1, 2, 3, 128, 4, 5, 6, 255]), {
    raw: { width: 2, height: 2, channels: 4 },
  })
    .png()
    .toBuffer();
  t.is((await sharp(rgba).metadata()).channels, 4);
  t.deepEqual([...(await decodeImage(rgba, REF)).rgb], [10, 200, 30, 10, 200, 30, 1, 2, 3, 4, 5, 6]);

  // Gray + alpha: gray replicated to three channels whatever the alpha.
  const ga = await sharp(Buffer.from([10, 0, 200, 255, 1, 128, 4, 255]), { raw: { width: 2, height: 2, channels: 2 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
  t.is((await sharp(ga).metadata()).channels, 2);
  t.deepEqual([...(await decodeImage(ga, REF)).rgb], [10, 10, 10, 200, 200, 200, 1, 1, 1, 4, 4, 4]);

  // A palette PNG with a transparent entry: the opaque pixels keep their exact colours.
  const pal = await sharp(Buffer.from([10, 200, 30, 0, 10, 200, 30, 255, 1, 2, 3, 255, 4, 5, 6, 255]), {
    raw: { width: 2, height: 2, channels: 4 },
  })
    .png({ palette: true })
    .toBuffer();
  const meta = await sharp(pal).metadata();
  t.true(meta.isPalette && meta.hasAlpha);
  t.deepEqual([...(await decodeImage(pal, REF)).rgb.subarray(3)], [10, 200, 30, 1, 2, 3, 4, 5, 6]);
});

test('EXIF orientation 6 is applied: 40x20 stored -> 20x40, the stored left half on top', async (t) => {
  const buf = await twoColour().jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
  t.is((await sharp(buf).metadata()).orientation, 6);
  const d = await decodeImage(buf, REF);
  t.is(d.width, 20);
  t.is(d.height, 40);
  t.true(near(pixel(d, 10, 5), LEFT, 6), `top is ${pixel(d, 10, 5)}`);
  t.true(near(pixel(d, 10, 34), RIGHT, 6), `bottom is ${pixel(d, 10, 34)}`);
});

needs('shared')('a JPEG with extraneous bytes before a marker decodes like the clean one (a libjpeg warning, as PIL allows)', async (t) => {
  const [item] = await shardItems(1);
  const sos = item.image.indexOf(Buffer.from([0xff, 0xda]));
  const junk = Buffer.concat([item.image.subarray(0, sos), Buffer.from([0x12, 0x34, 0x56]), item.image.subarray(sos)]);
  // sharp's default failOn 'warning' rejects it (its message varies with what else libvips is doing).
  await t.throwsAsync(sharp(junk).raw().toBuffer());
  t.deepEqual((await decodeImage(junk, item)).rgb, (await decodeImage(item.image, item)).rgb);
});

needs('shared')('truncated, garbage and empty bytes are BAD_SAMPLE naming the key, the shard and what sharp said', async (t) => {
  const [item] = await shardItems(1);
  const cases: Array<[Buffer, RegExp]> = [
    // libvips keeps one error buffer per process: with other decodes in flight its detail is sometimes
    // lost ("Unknown error"), so only the shape of the message is checked here.
    [item.image.subarray(0, Math.floor(item.image.length * 0.6)), /sharp says "[^"]+"/],
    [Buffer.from('these are not the bytes of an image'), /unsupported image format/],
    [Buffer.alloc(0), /empty/],
  ];
  for (const [buf, said] of cases) {
    const err = await t.throwsAsync(decodeImage(buf, REF));
    t.true(isDdpsError(err, 'BAD_SAMPLE'), String(err));
    const e = err as DdpsError;
    t.is(e.sample, REF.key);
    t.is(e.file, REF.url);
    t.true(e.message.includes(`"${REF.key}"`) && e.message.includes(REF.url), e.message);
    t.regex(e.message, said);
    t.false(e.message.includes('\n'));
  }
});

needs('shared')('decode() keeps shard order with concurrency 4', async (t) => {
  const items = await shardItems(12);
  const out = await lastValueFrom(from(items).pipe(decode({ concurrency: 4 }), toArray()));
  t.deepEqual(
    out.map((d) => d.key),
    items.map((i) => i.key),
  );
  t.true(out.every((d) => d.width === 224 && d.height === 224 && d.rgb.length === 224 * 224 * 3));
});

needs('shared')('decode() with onError drops bad samples, reports each once, and passes the rest in order', async (t) => {
  const good = await shardItems(3);
  const bad = (key: string, image: Buffer): Item => ({ key, url: 'mem://bad.tar', cls: 0, image });
  const input = [good[0], bad('garbage', Buffer.from('nope')), good[1], bad('cut', good[2].image.subarray(0, 500)), good[2]];
  const reported: Array<[string, string]> = [];
  const out = await lastValueFrom(
    from(input).pipe(
      decode({ concurrency: 4, onError: (ref, err) => reported.push([ref.key, err.code]) }),
      toArray(),
    ),
  );
  t.deepEqual(
    out.map((d) => d.key),
    good.map((g) => g.key),
  );
  t.deepEqual(reported, [
    ['garbage', 'BAD_SAMPLE'],
    ['cut', 'BAD_SAMPLE'],
  ]);
});

needs('shared')('decode() without onError ends the stream with the BAD_SAMPLE error', async (t) => {
  const good = await shardItems(2);
  const input = [good[0], { key: 'broken', url: 'mem://b.tar', cls: 1, image: Buffer.from('xx') }, good[1]];
  const err = await t.throwsAsync(lastValueFrom(from(input).pipe(decode(), toArray())));
  t.true(isDdpsError(err, 'BAD_SAMPLE'));
  t.regex(err!.message, /"broken" in mem:\/\/b\.tar/);
});


const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test('mapOrdered: random delays, input order out, never more than 4 started and not yet emitted', async (t) => {
  const rand = seededRandom(42);
  const delays = Array.from({ length: 40 }, () => Math.floor(rand() * 15));
  let started = 0;
  let emitted = 0;
  let maxAhead = 0;
  const out = await lastValueFrom(
    from(delays.map((d, i) => [i, d] as const)).pipe(
      mapOrdered(async ([i, d]) => {
        started++;
        maxAhead = Math.max(maxAhead, started - emitted);
        await sleep(d);
        return i * 10;
      }, 4),
      tap(() => emitted++),
      toArray(),
    ),
  );
  t.deepEqual(
    out,
    delays.map((_, i) => i * 10),
  );
  t.is(maxAhead, 4);
});

test('mapOrdered: errors outside onError, onError declining or throwing, and source errors end the stream', async (t) => {
  const failing = (n: number) => async (i: number) => {
    if (i === n) throw new TypeError(`bug at ${i}`);
    return i;
  };
  await t.throwsAsync(lastValueFrom(from([0, 1, 2]).pipe(mapOrdered(failing(1), 2), toArray())), { message: 'bug at 1' });
  await t.throwsAsync(lastValueFrom(from([0, 1, 2]).pipe(mapOrdered(failing(1), 2, () => false), toArray())), {
    message: 'bug at 1',
  });
  await t.throwsAsync(
    lastValueFrom(
      from([0, 1, 2]).pipe(
        mapOrdered(failing(1), 2, () => {
          throw new Error('handler broke');
        }),
        toArray(),
      ),
    ),
    { message: 'handler broke' },
  );
  await t.throwsAsync(lastValueFrom(throwError(() => new Error('source broke')).pipe(mapOrdered(failing(-1), 2))), {
    message: 'source broke',
  });
  // A synchronous throw in fn is the same as a rejection; accepted by onError it is dropped.
  const dropped: number[] = [];
  const out = await lastValueFrom(
    from([0, 1, 2, 3]).pipe(
      mapOrdered(
        (i: number) => {
          if (i % 2 === 1) throw new Error('odd');
          return Promise.resolve(i);
        },
        3,
        (i) => dropped.push(i) > 0,
      ),
      toArray(),
    ),
  );
  t.deepEqual(out, [0, 2]);
  t.deepEqual(dropped, [1, 3]);
  t.throws(() => mapOrdered(async (i: number) => i, 0), { instanceOf: DdpsError });
});

test('mapOrdered: an early unsubscribe stops starting work', async (t) => {
  let calls = 0;
  const out = await lastValueFrom(
    from(Array.from({ length: 100 }, (_, i) => i)).pipe(
      mapOrdered(async (i: number) => {
        calls++;
        await sleep(1);
        return i;
      }, 4),
      take(2),
      toArray(),
    ),
  );
  t.deepEqual(out, [0, 1]);
  await sleep(20);
  // The first 4 start at once; emitting item 0 frees a slot for item 4 before take(2) has its second.
  t.true(calls <= 6, `${calls} calls`);
});
