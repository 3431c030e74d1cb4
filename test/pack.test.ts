import test from 'ava';
import { existsSync, writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDdpsError } from '../core/errors.js';
import { Pack } from '../models/pack.js';
import { gaussianNoise } from '../models/noise.js';
import { noisyLatent } from '../models/schedule.js';
import { TOY_CLASSES } from '../toy/classes.js';
import { drawToyImage } from '../toy/toyData.js';
import { buildToyPack, type ToyPackOptions } from '../toy/toyPack.js';
import { GraphBuilder } from '../models/onnx/builder.js';
import { TINY_SD, tempDir } from './helpers/paths.js';
import { needs } from './helpers/needs.js';

const SIZE = 64;
const CELLS = SIZE / 8;

function pixelsOf(rgb: Uint8Array, w: number, h: number): Float32Array {
  const out = new Float32Array(3 * w * h);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) out[c * w * h + i] = rgb[i * 3 + c]! / 127.5 - 1;
  return out;
}

/** Per-cell loss maps of one image under the conditional and unconditional prompt at timestep t. */
async function lossMaps(pack: Pack, pixels: Float32Array, className: string, ts: number[]) {
  const z0 = await pack.encodeImages(pixels, 1, SIZE, SIZE);
  const cond = await pack.textEmbedding(`An image of ${className}.`);
  const uncond = await pack.textEmbedding('An image of .');
  const n = ts.length;
  const per = 4 * CELLS * CELLS;
  const zt = new Float32Array(2 * n * per);
  const eps: Float32Array[] = [];
  ts.forEach((t, k) => {
    const e = gaussianNoise(0, 'sample', k, per);
    eps.push(e);
    const z = noisyLatent(z0, e, pack.alphabar[t]!);
    zt.set(z, k * per);
    zt.set(z, (n + k) * per);
  });
  // One call with both prompts and several timesteps: exercises per-t grouping for scalar-timestep packs.
  const pred = await pack.predictNoise(zt, 2 * n, CELLS, CELLS, [...ts, ...ts], [...ts.map(() => uncond), ...ts.map(() => cond)]);
  const map = (item: number, k: number) => {
    const out = new Float32Array(CELLS * CELLS);
    for (let c = 0; c < 4; c++) for (let i = 0; i < CELLS * CELLS; i++) out[i]! += (eps[k]![c * CELLS * CELLS + i]! - pred.eps[item * per + c * CELLS * CELLS + i]!) ** 2 / 4;
    return out;
  };
  return ts.map((_, k) => ({ uncond: map(k, k), cond: map(n + k, k) }));
}

// A square object: every cell inside its box is object (a triangle's box is not).
const image = drawToyImage({ seed: 7, index: 3, cls: 1, width: SIZE, height: SIZE });
const pixels = pixelsOf(image.rgb, SIZE, SIZE);

function cellsOf(box: [number, number, number, number]) {
  const inside: number[] = [];
  const outside: number[] = [];
  const [x, y, w, h] = box;
  for (let r = 0; r < CELLS; r++) {
    for (let c = 0; c < CELLS; c++) {
      const x0 = c * 8, y0 = r * 8;
      if (x0 >= x && y0 >= y && x0 + 8 <= x + w && y0 + 8 <= y + h) inside.push(r * CELLS + c);
      else if (x0 + 8 <= x || y0 + 8 <= y || x0 >= x + w || y0 >= y + h) outside.push(r * CELLS + c);
    }
  }
  return { inside, outside };
}

test('toy pack: the label lowers the loss exactly on the object and raises it elsewhere', async (t) => {
  const dir = tempDir();
  await buildToyPack(dir);
  const pack = await Pack.load(dir, { intraOpThreads: 1 });
  const [maps] = await lossMaps(pack, pixels, TOY_CLASSES[1]!.name, [261]);
  const { inside, outside } = cellsOf(image.box);
  t.true(inside.length >= 1 && outside.length >= 10);
  for (const i of inside) t.true(maps!.cond[i]! < 0.05 * maps!.uncond[i]!, `object cell ${i}: cond ${maps!.cond[i]} vs uncond ${maps!.uncond[i]}`);
  for (const i of outside) t.true(maps!.cond[i]! > maps!.uncond[i]!, `background cell ${i}`);
  // Another class's word does not explain this object.
  const [wrong] = await lossMaps(pack, pixels, TOY_CLASSES[0]!.name, [261]);
  for (const i of inside) t.true(wrong!.cond[i]! > maps!.cond[i]! + 1);
  await pack.close();
  rmSync(dir, { recursive: true, force: true });
});

const VARIANTS: [string, ToyPackOptions, (c: Pack['conventions']) => boolean][] = [
  ['int32 input_ids', { idsDtype: 'int32' }, (c) => c.inputIds.dtype === 'int32'],
  ['int64 [B] timestep', { timestep: { dtype: 'int64', scalar: false } }, (c) => c.unet.timestepType.dtype === 'int64' && !c.unet.timestepType.scalar],
  ['float32 [B] timestep', { timestep: { dtype: 'float32', scalar: false } }, (c) => c.unet.timestepType.dtype === 'float32' && !c.unet.timestepType.scalar],
  ['float16 scalar timestep', { timestep: { dtype: 'float16', scalar: true } }, (c) => c.unet.timestepType.dtype === 'float16' && c.unet.timestepType.scalar],
  ['latent_sample VAE', { vaeOutput: 'latent_sample' }, (c) => c.vae.kind === 'latent_sample' && !c.deterministic],
  ['weights.pb external data', { unetWeights: 'weights.pb' }, () => true],
  ['inline UNet weights', { unetWeights: 'inline' }, () => true],
  ['float16 I/O', { io: 'float16' }, (c) => c.unet.sampleDtype === 'float16' && c.vae.outputDtype === 'float16' && c.textHidden.dtype === 'float16'],
];

test('every export convention gives the same loss maps as the reference toy pack', async (t) => {
  const ts = [138, 513];
  const refDir = tempDir();
  await buildToyPack(refDir);
  const ref = await Pack.load(refDir, { intraOpThreads: 1 });
  t.true(ref.conventions.unet.timestepType.scalar);
  const expected = await lossMaps(ref, pixels, 'frog', ts);
  await ref.close();
  for (const [name, opts, check] of VARIANTS) {
    const dir = tempDir();
    await buildToyPack(dir, opts);
    const pack = await Pack.load(dir, { intraOpThreads: 1 });
    t.true(check(pack.conventions), `${name}: conventions ${JSON.stringify(pack.conventions)}`);
    const got = await lossMaps(pack, pixels, 'frog', ts);
    const tol = opts.io === 'float16' ? 2e-2 : 1e-6;
    for (let k = 0; k < ts.length; k++) {
      for (const which of ['cond', 'uncond'] as const) {
        const a = got[k]![which], b = expected[k]![which];
        const worst = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!) / Math.max(1, Math.abs(b[i]!))));
        t.true(worst <= tol, `${name} t=${ts[k]} ${which}: relative error ${worst}`);
      }
    }
    await pack.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

needs('shared')('tiny-sd fixture: conventions read from metadata, DIFT tap through a read-only pack', async (t) => {
  const cache = tempDir();
  process.env.DDPS_CACHE = cache;
  const pack = await Pack.load(TINY_SD, { dift: true, intraOpThreads: 1 });
  delete process.env.DDPS_CACHE;
  const c = pack.conventions;
  t.is(c.inputIds.dtype, 'int64');
  t.deepEqual(c.unet.timestepType, { dtype: 'float32', scalar: true });
  t.is(c.textHidden.size, 32);
  t.is(c.vae.kind, 'latent_parameters');
  t.is(c.scalingFactor, 0.18215);
  t.is(pack.tokenizer.bosId, 49406);
  const emb = await pack.textEmbedding('An image of tench.');
  t.is(emb.length, 77 * 32);
  const z0 = await pack.encodeImages(new Float32Array(3 * 64 * 64).fill(0.25), 1, 64, 64);
  t.is(z0.length, 4 * 8 * 8);
  const r = await pack.predictNoise(new Float32Array(2 * 4 * 64), 2, 8, 8, [261, 261], [emb, emb], true);
  t.deepEqual(r.dift!.dims, [2, 64, 4, 4]);
  t.is(r.eps.length, 2 * 4 * 64);
  // The read-only fixture is left as it was: the tapped UNet went to the cache.
  t.false(existsSync(join(TINY_SD, 'unet/model.dift.onnx')));
  t.true(existsSync(join(cache, 'dift', pack.digest, 'model.dift.onnx')));
  await pack.close();
});

test('a broken pack is reported with the file at fault', async (t) => {
  const dir = tempDir();
  await buildToyPack(dir);
  rmSync(join(dir, 'unet'), { recursive: true });
  const missing = await t.throwsAsync(Pack.load(dir));
  t.true(isDdpsError(missing, 'MISSING_FILE'));
  t.true(missing!.message.includes(join(dir, 'unet/model.onnx')), missing!.message);

  await buildToyPack(dir);
  writeFileSync(join(dir, 'vae_encoder/model.onnx'), Buffer.from('not an onnx model'));
  const corrupt = await t.throwsAsync(Pack.load(dir));
  t.true(isDdpsError(corrupt, 'BAD_MODEL'));
  t.true(corrupt!.message.includes(join(dir, 'vae_encoder/model.onnx')));

  // A text encoder whose input_ids are float: the loader names the input, what it found and what it wants.
  await buildToyPack(dir);
  const g = new GraphBuilder('bad_text');
  g.input('input_ids', 'float32', ['batch', 77]);
  g.node('Identity', ['input_ids'], ['last_hidden_state']);
  g.output('last_hidden_state', 'float32', ['batch', 77]);
  await g.save(join(dir, 'text_encoder/model.onnx'));
  const dtype = await t.throwsAsync(Pack.load(dir));
  t.true(isDdpsError(dtype, 'UNSUPPORTED_INPUT'));
  t.regex(dtype!.message, /input_ids.*float32.*int32 or int64/);

  await buildToyPack(dir);
  rmSync(join(dir, 'tokenizer'), { recursive: true });
  mkdirSync(join(dir, 'tokenizer'));
  const tok = await t.throwsAsync(Pack.load(dir));
  t.true(isDdpsError(tok, 'MISSING_FILE'));
  rmSync(dir, { recursive: true, force: true });
});

test('the toy pack carries the same tokenizer behaviour as CLIP for its words', async (t) => {
  const dir = tempDir();
  await buildToyPack(dir);
  const vocab = JSON.parse(readFileSync(join(dir, 'tokenizer/vocab.json'), 'utf8')) as Record<string, number>;
  for (const c of TOY_CLASSES) t.true(`${c.name}</w>` in vocab, c.name);
  const pack = await Pack.load(dir, { intraOpThreads: 1 });
  const ids = pack.tokenizer.encode('An image of apple.');
  t.deepEqual(ids.slice(0, 7), [pack.tokenizer.bosId, vocab['an</w>'], vocab['image</w>'], vocab['of</w>'], vocab['apple</w>'], vocab['.</w>'], pack.tokenizer.eosId]);
  await pack.close();
  rmSync(dir, { recursive: true, force: true });
});
