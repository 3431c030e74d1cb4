/** `ddps model train`: a small text-conditional latent diffusion pack, trained in PyTorch, in the SD 1.5 layout. */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { trainPack } from '../../pipelines/trainPack.js';
import { expandShards } from '../../storage/webdataset/index.js';
import { defineCommand } from '../define.js';
import { classMapSpelledClasses, opt } from '../options.js';
import { formatDuration, Progress } from '../progress.js';
import { findClassMap } from './score.js';

/** The side the pack's images are stretched to (CIFAR's 32 px upsampled 2x: an 8x8 latent). */
const TRAIN_IMAGE_SIZE = 64;

export const trainCommand = (): Command =>
  defineCommand({
    name: 'train',
    summary: 'train a small text-conditional latent diffusion pack on labelled shards (PyTorch) and export it in the SD 1.5 ONNX layout',
    description:
      'Train a small text-conditional latent diffusion pack on labelled shards (PyTorch) and export it in the SD 1.5 ONNX ' +
      'layout: a KL autoencoder to a 4-channel latent at 1/8 of the image, a CLIP-style text encoder over a vocabulary of the ' +
      "prompts' words, a UNet with cross-attention and diffusers' module names, SD 1.5's scaled_linear schedule.\n\n" +
      'It trains on "An image of {label}." and, for --p-uncond of the items, "An image of .": the two prompts ddps score ' +
      'compares. Seeded; <out>/training/record.json holds the settings, data and loss curves; a killed run resumes when ' +
      'started again with the same options. Needs Python with torch >= 1.13 (Debian: apt-get install python3-torch ' +
      'python3-torchvision python3-pil; DDPS_PYTHON picks the interpreter).\n\n' +
      'Then: ddps model check <out>; ddps model classify --model <out> --whole-image --image-size 64 ...; ' +
      'ddps distill --model <out> --whole-image --image-size 64 ...',
    options: {
      shards: opt.shards.required(),
      classMap: opt.classMap,
      out: opt.out.required(),
      imageSize: opt.imageSize.or(TRAIN_IMAGE_SIZE),
      limitPerClass: opt.limitPerClass,
      vaeSteps: opt.vaeSteps,
      unetSteps: opt.unetSteps,
      unetBatch: opt.unetBatch,
      unetChannels: opt.unetChannels,
      pUncond: opt.pUncond,
      trainSeed: opt.trainSeed,
      device: opt.device,
      threads: opt.threads,
      quiet: opt.quiet,
      json: opt.json,
    },
    adjust: [classMapSpelledClasses],
    async action(o) {
      const shards = await expandShards(o.shards);
      const classMap = await findClassMap(o.classMap, shards);
      const quiet = o.quiet === true;
      let phase = '';
      let progress = new Progress('model train', process.stderr, quiet);
      const result = await trainPack({
        shards,
        labels: classMap.names,
        out: o.out,
        imageSize: o.imageSize,
        seed: o.trainSeed,
        device: o.device,
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
        ...(o.limitPerClass !== undefined ? { limitPerClass: o.limitPerClass } : {}),
        sizes: { vaeSteps: o.vaeSteps, unetSteps: o.unetSteps, batch: o.unetBatch, unetChannels: o.unetChannels, pUncond: o.pUncond },
        onEvent: (e) => {
          if (e.event === 'data' && !quiet) process.stderr.write(`model train: ${String(e.images)} images of ${classMap.names.length} classes\n`);
          // A phase's clock starts when the previous one ends, so its first rate and ETA are right.
          const next = e.event === 'data' ? 'vae' : e.event === 'phase' && e.phase === 'latents' ? 'unet' : e.event === 'progress' && e.phase !== phase ? String(e.phase) : undefined;
          if (next !== undefined) {
            phase = next;
            progress = new Progress(`model train: ${phase}`, process.stderr, quiet);
          }
          if (e.event !== 'progress') return;
          const step = Number(e.step);
          const steps = Number(e.steps);
          const state = { done: step, skipped: 0, fraction: step / steps, note: `step ${step}/${steps}  loss ${Number(e.loss).toFixed(4)}` };
          if (step === steps) progress.finish(state);
          else progress.update(state);
        },
      });
      const r = result.record;
      if (o.json) {
        console.log(JSON.stringify({ dir: resolve(o.out), digest: result.digest, record: r }));
        return;
      }
      const first = r.unet.curve[0]?.loss;
      const last = r.unet.curve.at(-1)?.loss;
      console.log(`pack ${resolve(o.out)} (digest ${result.digest}): passes ddps model check`);
      console.log(`  data        ${r.data.images} images, ${Object.keys(r.data.perClass).length} classes, ${r.data.shards.length} shards`);
      console.log(`  autoencoder ${r.vae.steps} steps, reconstruction MSE ${r.vae.curve.at(-1)?.mse?.toFixed(4)}, ${formatDuration(r.vae.seconds)}; latent scaling ${r.latents.scalingFactor.toFixed(4)}`);
      console.log(`  UNet        ${r.unet.steps} steps, ${(r.unet.parameters / 1e6).toFixed(2)}M parameters (+${(r.unet.textParameters / 1e6).toFixed(2)}M text), loss ${first?.toFixed(4)} -> ${last?.toFixed(4)}, ${formatDuration(r.unet.seconds)}`);
      console.log(`  prompts     loss with the label ${r.unet.trainingLosses.cond.toFixed(4)}, with "An image of ." ${r.unet.trainingLosses.uncond.toFixed(4)} (${r.unet.trainingLosses.items} training images, t in 100..700)`);
      console.log(`  total       ${formatDuration(r.seconds)} on ${r.device} (${r.threads} threads, torch ${r.torch}); record: ${join(o.out, 'training', 'record.json')}`);
    },
  });
