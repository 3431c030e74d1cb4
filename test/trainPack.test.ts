import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lastValueFrom, take } from 'rxjs';
import { gaussianNoise } from '../models/noise.js';
import { Pack } from '../models/pack.js';
import { noisyLatent } from '../models/schedule.js';
import { StageTimer } from '../models/stageTimer.js';
import { preparedBatches } from '../pipelines/score.js';
import { resolveScoreConfig } from '../core/config.js';
import { trainPack, type PackTrainingSizes } from '../pipelines/trainPack.js';
import { loadClassMap } from '../storage/webdataset/index.js';
import { needs } from './helpers/needs.js';
import { DATA, REPO, tempDir } from './helpers/paths.js';

const CIFAR = join(DATA, 'cifar10');
const TRAIN = join(CIFAR, 'train-000000.tar');
const TEST = join(CIFAR, 'test-000000.tar');
const cifarTest = needs('shared', 'python');

/** A few seconds of training per phase: enough for the losses to fall, nothing more. */
const TINY: Partial<PackTrainingSizes> = {
  vaeSteps: 40,
  vaeBatch: 16,
  vaeLr: 3e-3,
  logEvery: 5,
  unetSteps: 75,
  batch: 32,
  lr: 2e-3,
  warmup: 10,
  ema: 0.9,
  unetChannels: [16, 32, 32, 32],
  normGroups: 8,
  attentionHeadDim: 16,
  textHidden: 32,
  textLayers: 1,
  textHeads: 2,
  vaeChannels: [8, 16, 16],
  vaeGroups: 4,
};

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

cifarTest('a tiny pack trains on CIFAR-10 (losses fall), loads in ddps in the SD 1.5 layout, and its label changes the prediction', async (t) => {
  const out = tempDir('ddps-pack-');
  const classMap = await loadClassMap(join(CIFAR, 'classes.json'));
  const events: Record<string, unknown>[] = [];
  const result = await trainPack({ shards: [TRAIN], labels: classMap.names, out, limitPerClass: 20, threads: 2, sizes: TINY, onEvent: (e) => events.push(e) });
  const r = result.record;

  // Seeded, and the record says on what it trained.
  t.is(r.data.images, 200);
  t.deepEqual(Object.values(r.data.perClass), new Array<number>(10).fill(20));
  t.is(r.settings.seed, 0);
  t.deepEqual(r.settings.shards, [TRAIN]);
  t.true(events.some((e) => e.event === 'progress' && e.phase === 'unet'));
  t.is(events.at(-1)?.event, 'done');

  // The losses fall: the autoencoder's reconstruction and the UNet's noise prediction (zero-initialised
  // output, so it starts near 1, the variance of the noise).
  // Points average 5 steps; the first and last two points are compared.
  const ends = (c: number[]) => [(c[0]! + c[1]!) / 2, (c.at(-1)! + c.at(-2)!) / 2] as const;
  const vae = r.vae.curve.map((p) => p.mse!);
  const unet = r.unet.curve.map((p) => p.loss!);
  t.is(unet.length, 75 / 5);
  const [vaeFirst, vaeLast] = ends(vae);
  const [unetFirst, unetLast] = ends(unet);
  t.true(vaeLast < 0.7 * vaeFirst, `autoencoder MSE ${vae.map((v) => v.toFixed(3)).join(' ')}`);
  t.true(unetFirst > 0.8 && unetLast < 0.8 * unetFirst, `UNet loss ${unet.map((v) => v.toFixed(3)).join(' ')}`);

  // ddps loads it as it loads an Optimum export of SD 1.5, DIFT tap included.
  const pack = await Pack.load(out, { dift: true, intraOpThreads: 1 });
  try {
    const c = pack.conventions;
    t.deepEqual(c.inputIds, { name: 'input_ids', dtype: 'int64', length: 77 });
    t.is(c.textHidden.size, 32);
    t.deepEqual(c.unet.timestepType, { dtype: 'int64', scalar: false });
    t.is(c.vae.kind, 'latent_parameters');
    t.true(c.deterministic);
    t.is(c.scalingFactor, r.latents.scalingFactor);
    t.deepEqual(pack.alphabar.length, 1000);
    t.true(Math.abs(pack.alphabar[261]! - 0.65566933) < 1e-6, 'SD 1.5 scaled_linear schedule');
    // The project's vocabulary makes each prompt word one token.
    t.deepEqual(pack.tokenizer.tokens('An image of airplane.'), ['<|startoftext|>', 'an</w>', 'image</w>', 'of</w>', 'airplane</w>', '.</w>', '<|endoftext|>']);
    const prompts = JSON.parse(await readFile(join(out, 'training', 'prompts.json'), 'utf8')) as { cond: number[][]; uncond: number[] };
    t.deepEqual(prompts.uncond, pack.tokenizer.encode('An image of .'));

    // A held-out test image, prepared as scoring prepares CIFAR (whole image, 64 px).
    const config = resolveScoreConfig({ imageSize: 64, wholeImage: true });
    const [item] = await lastValueFrom(
      preparedBatches({ shards: TEST, config, classMap, batchSize: 1, window: 4, onError: 'fail', onSkip: () => {}, timer: new StageTimer() }).pipe(take(1)),
    );
    const z0 = await pack.encodeImages(item!.pixels, 1, 64, 64);
    t.is(z0.length, 4 * 8 * 8);
    const t400 = 400;
    const zt = noisyLatent(z0, gaussianNoise(0, item!.key, 0, z0.length), pack.alphabar[t400]!);
    const label = classMap.names[item!.cls]!;
    const other = classMap.names[(item!.cls + 1) % 10]!;
    const [cond, uncond, wrong] = await Promise.all(['An image of ' + label + '.', 'An image of .', 'An image of ' + other + '.'].map((p) => pack.textEmbedding(p)));
    const pred = await pack.predictNoise(new Float32Array([...zt, ...zt, ...zt]), 3, 8, 8, [t400, t400, t400], [cond!, uncond!, wrong!], true);
    const per = z0.length;
    const [pc, pu, pw] = [0, 1, 2].map((i) => pred.eps.subarray(i * per, (i + 1) * per));
    const scale = pu!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    t.true(scale > 0.1, `the prediction is not zero (max |eps| ${scale})`);
    t.true(maxAbsDiff(pc!, pu!) > 1e-3 * scale, `cond vs uncond differ by ${maxAbsDiff(pc!, pu!)}`);
    t.true(maxAbsDiff(pc!, pw!) > 1e-3 * scale, `two labels differ by ${maxAbsDiff(pc!, pw!)}`);
    // DIFT: up_blocks.1's output, at 1/16 of the image side as in SD 1.5.
    t.deepEqual(pred.dift!.dims, [3, 32, 4, 4]);
  } finally {
    await pack.close();
  }
});

cifarTest('a run killed after a checkpoint resumes where it stopped and ends as an uninterrupted run does; other settings are refused', async (t) => {
  const classMap = await loadClassMap(join(CIFAR, 'classes.json'));
  const sizes = { ...TINY, vaeSteps: 10, unetSteps: 20, checkpointEvery: 10 };
  const opts = { shards: [TRAIN], labels: classMap.names, limitPerClass: 5, threads: 1, sizes };
  // The uninterrupted reference trains alongside.
  const wholeRun = trainPack({ ...opts, out: tempDir('ddps-pack-whole-') });

  const out = tempDir('ddps-pack-killed-');
  const abort = new AbortController();
  await t.throwsAsync(trainPack({ ...opts, out, signal: abort.signal, onEvent: (e) => e.event === 'checkpoint' && abort.abort() }));
  // A checkpoint of other settings is never mixed in, nor touched.
  await t.throwsAsync(trainPack({ ...opts, out, seed: 1 }), { message: /checkpoint of a run with other settings \(seed\)/ });
  const events: Record<string, unknown>[] = [];
  const resumed = await trainPack({ ...opts, out, onEvent: (e) => events.push(e) });
  const whole = await wholeRun;
  t.deepEqual(events.find((e) => e.event === 'resume'), { event: 'resume', phase: 'unet', step: 10 });
  t.false(events.some((e) => e.event === 'progress' && e.phase === 'vae'), 'the autoencoder is not trained again');
  t.deepEqual(resumed.record.unet.curve, whole.record.unet.curve);
  t.deepEqual(resumed.record.vae.curve, whole.record.vae.curve);
  t.deepEqual(resumed.record.unet.trainingLosses, whole.record.unet.trainingLosses);
});

cifarTest('ddps model train --json passes the options to the trainer and reports a pack that loads', (t) => {
  const out = tempDir('ddps-pack-cli-');
  const said = execFileSync(
    process.execPath,
    [join(REPO, 'dist/cli/ddps.js'), 'model', 'train', '--shards', TRAIN, '--out', out, '--limit-per-class', '1', '--vae-steps', '2', '--unet-steps', '3', '--unet-batch', '4', '--unet-channels', '8,16,16,16', '--p-uncond', '0.5', '--train-seed', '7', '--threads', '1', '--json', '--quiet'],
    { encoding: 'utf8' },
  );
  const r = JSON.parse(said) as { dir: string; digest: string; record: { settings: Record<string, unknown>; data: { images: number } } };
  t.is(r.dir, out);
  t.regex(r.digest, /^[0-9a-f]{16}$/);
  t.is(r.record.data.images, 10);
  t.like(r.record.settings, { vae_steps: 2, unet_steps: 3, batch: 4, unet_channels: [8, 16, 16, 16], p_uncond: 0.5, seed: 7, limit_per_class: 1, image_size: 64, device: 'cpu' });
});
