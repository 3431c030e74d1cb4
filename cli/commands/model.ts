import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { DdpsError } from '../../core/errors.js';
import { Pack, diftUnetPath, ensureDiftUnet, resolveLayout, packDigest } from '../../models/pack.js';
import { runDiffusionClassifier, type ClassifySummary } from '../../pipelines/diffusionClassify.js';
import type { TensorInfo } from '../../models/runtime.js';
import { trainPack } from '../../pipelines/trainPack.js';
import { expandShards } from '../../storage/webdataset/index.js';
import { flag, num, required, str } from '../args.js';
import type { Command } from '../command.js';
import { formatDuration, Progress } from '../progress.js';
import { executionFrom, findClassMap, openPool, SCORE_OPTIONS, scoreConfigFrom, shardBytes } from './score.js';

function fmt(t: TensorInfo): string {
  return `${t.name}: ${t.dtype} [${(t.shape ?? ['?']).join(', ')}]`;
}

export const modelCheck: Command = {
  spec: {
    name: 'model check',
    summary: 'load an SD 1.5 ONNX pack and report what was found, or exactly what is wrong',
    usage: 'ddps model check <pack> [--json]',
    options: { json: { type: 'boolean', help: 'print one JSON object instead of text' } },
    notes: 'A pack is a folder in the diffusers/Optimum layout: text_encoder/, unet/, vae_encoder/, tokenizer/, scheduler/.',
  },
  async run(args) {
    const dir = args.positionals[0];
    if (!dir) throw new DdpsError('BAD_ARGUMENT', 'ddps model check: give the pack folder, e.g. ddps model check ./sd15-onnx');
    const json = flag(args, 'json');
    try {
      const pack = await Pack.load(dir, { intraOpThreads: 1 });
      const models = pack.models;
      const report = {
        ok: true,
        dir: resolve(dir),
        digest: pack.digest,
        models,
        conventions: pack.conventions,
        tokenizer: { bos: pack.tokenizer.bosId, eos: pack.tokenizer.eosId, vocabSize: pack.tokenizer.vocabSize },
        schedule: { steps: pack.alphabar.length, alphabar0: pack.alphabar[0], alphabarLast: pack.alphabar[pack.alphabar.length - 1] },
      };
      await pack.close();
      if (json) {
        console.log(JSON.stringify(report, null, 2));
      } else {
        const c = report.conventions;
        console.log(`pack ${report.dir} (digest ${report.digest})`);
        for (const [k, m] of Object.entries(models)) {
          console.log(`  ${k}: ${m.path}`);
          for (const i of m.inputs) console.log(`    in  ${fmt(i)}`);
          for (const o of m.outputs) console.log(`    out ${fmt(o)}`);
        }
        console.log('conventions:');
        console.log(`  input_ids ${c.inputIds.dtype}, text hidden size ${c.textHidden.size ?? '?'} (${c.textHidden.dtype})`);
        console.log(`  timestep ${c.unet.timestepType.dtype} ${c.unet.timestepType.scalar ? 'scalar (one t per call)' : '[batch]'}`);
        console.log(`  UNet I/O ${c.unet.sampleDtype} -> ${c.unet.outputDtype}; VAE ${c.vae.output} (${c.vae.kind === 'latent_parameters' ? 'posterior mean used' : 'random draw: non-deterministic'}), scaling ${c.scalingFactor}`);
        console.log(`  tokenizer bos ${report.tokenizer.bos} eos ${report.tokenizer.eos}, ${report.tokenizer.vocabSize} tokens; schedule ${report.schedule.steps} steps`);
      }
      return 0;
    } catch (e) {
      if (!json || !(e instanceof DdpsError)) throw e;
      console.log(JSON.stringify({ ok: false, code: e.code, file: e.file, error: e.message }, null, 2));
      return 1;
    }
  },
};

export const modelDift: Command = {
  spec: {
    name: 'model dift',
    summary: "write the DIFT-tapped UNet (up_blocks.1's output as an extra output 'dift')",
    usage: 'ddps model dift <pack> [--tensor <name>] [--out <file>]',
    options: {
      tensor: { type: 'string', value: '<name>', help: "tap this tensor instead of the last '/up_blocks.1/' node's output" },
      out: { type: 'string', value: '<file>', help: 'where to write (default: unet/model.dift.onnx, or the cache when the pack is read-only)' },
    },
  },
  async run(args) {
    const dir = args.positionals[0];
    if (!dir) throw new DdpsError('BAD_ARGUMENT', 'ddps model dift: give the pack folder');
    const layout = resolveLayout(dir);
    const tensor = str(args, 'tensor');
    const out = str(args, 'out') ?? diftUnetPath(layout, packDigest(dir));
    const existed = existsSync(out) && tensor === undefined;
    await ensureDiftUnet(layout, out, tensor);
    console.log(existed ? `${out} already exists (delete it, or name --tensor, to write it again)` : `wrote ${out}`);
    return 0;
  },
};

export const modelTrain: Command = {
  spec: {
    name: 'model train',
    summary: 'train a small text-conditional latent diffusion pack on labelled shards (PyTorch) and export it in the SD 1.5 ONNX layout',
    usage: "ddps model train --shards <pattern> --out <dir> [--classes classes.json] [--device cpu|cuda]",
    options: {
      shards: { type: 'string', value: '<pattern>', help: "labelled WebDataset shards, e.g. 'cifar10-50k/train-{000000..000009}.tgz'" },
      out: { type: 'string', value: '<dir>', help: 'the pack folder to write (a killed run there resumes from its checkpoint)' },
      classes: { type: 'string', value: '<file>', help: 'classes.json giving class names (default: classes.json beside the shards)' },
      'image-size': { type: 'string', value: 'N', help: 'images are stretched to N x N, as score --whole-image --image-size N does', default: '64' },
      'limit-per-class': { type: 'string', value: 'N', help: 'train on at most N images per class' },
      // Sizes are the trainer's (python -m ddps_eval.pack.train --help) unless given.
      'vae-steps': { type: 'string', value: 'N', help: 'autoencoder steps, batch 64 (default: 500)' },
      'unet-steps': { type: 'string', value: 'N', help: 'UNet + text encoder steps (default: 1500)' },
      batch: { type: 'string', value: 'N', help: 'UNet batch size (default: 128)' },
      'unet-channels': { type: 'string', value: 'list', help: 'UNet width per level; four levels as in SD 1.5 (default: 32,64,64,64)' },
      'p-uncond': { type: 'string', value: 'p', help: "fraction trained on the empty-label prompt 'An image of .', classifier-free (default: 0.2)" },
      seed: { type: 'string', value: 'N', help: 'seed of initialisation, batches and noise', default: '0' },
      device: { type: 'string', value: 'cpu|cuda', help: 'where PyTorch trains', default: 'cpu' },
      threads: { type: 'string', value: 'N', help: 'PyTorch CPU threads (default: all cores)' },
      quiet: { type: 'boolean', help: 'no progress line' },
      json: { type: 'boolean', help: 'print the training record as one JSON object' },
    },
    notes: [
      'Prompts are "An image of {label}." and, for --p-uncond of the items, "An image of .": the two that ddps score compares.',
      'Needs Python with torch >= 1.13 (Debian: apt-get install python3-torch python3-torchvision python3-pil); DDPS_PYTHON picks the interpreter.',
      'Then: ddps model check <dir>; ddps score --model <dir> --whole-image --image-size 64 ...; ddps model classify --model <dir> ...',
    ].join('\n'),
  },
  async run(args) {
    const shards = await expandShards(required(args, 'shards', 'model train'));
    const out = required(args, 'out', 'model train');
    const classMap = await findClassMap(str(args, 'classes'), shards);
    const channelsArg = str(args, 'unet-channels');
    const channels = channelsArg?.split(',').map(Number);
    if (channels && (channels.length < 2 || channels.some((c) => !Number.isInteger(c) || c < 1))) throw new DdpsError('BAD_ARGUMENT', `--unet-channels must be positive integers like 32,64,64,64; got '${channelsArg}'`);
    const limit = num(args, 'limit-per-class', { integer: true, min: 1 });
    const threads = num(args, 'threads', { integer: true, min: 1 }) ?? availableParallelism();
    const quiet = flag(args, 'quiet');
    let phase = '';
    let progress = new Progress('model train', process.stderr, quiet);
    const result = await trainPack({
      shards,
      labels: classMap.names,
      out,
      imageSize: num(args, 'image-size', { integer: true, min: 64 })!,
      seed: num(args, 'seed', { integer: true, min: 0 })!,
      device: str(args, 'device')!,
      threads,
      ...(limit !== undefined ? { limitPerClass: limit } : {}),
      sizes: {
        vaeSteps: num(args, 'vae-steps', { integer: true, min: 1 }),
        unetSteps: num(args, 'unet-steps', { integer: true, min: 1 }),
        batch: num(args, 'batch', { integer: true, min: 1 }),
        unetChannels: channels,
        pUncond: num(args, 'p-uncond', { min: 0 }),
      },
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
    if (flag(args, 'json')) {
      console.log(JSON.stringify({ dir: resolve(out), digest: result.digest, record: r }));
      return 0;
    }
    const last = (c: { loss?: number; mse?: number }[]) => c[c.length - 1];
    console.log(`pack ${resolve(out)} (digest ${result.digest}): passes ddps model check`);
    console.log(`  data        ${r.data.images} images, ${Object.keys(r.data.perClass).length} classes, ${r.data.shards.length} shards`);
    console.log(`  autoencoder ${r.vae.steps} steps, reconstruction MSE ${last(r.vae.curve)?.mse?.toFixed(4)}, ${formatDuration(r.vae.seconds)}; latent scaling ${r.latents.scalingFactor.toFixed(4)}`);
    console.log(`  UNet        ${r.unet.steps} steps, ${(r.unet.parameters / 1e6).toFixed(2)}M parameters (+${(r.unet.textParameters / 1e6).toFixed(2)}M text), loss ${r.unet.curve[0]?.loss?.toFixed(4)} -> ${last(r.unet.curve)?.loss?.toFixed(4)}, ${formatDuration(r.unet.seconds)}`);
    console.log(`  prompts     loss with the label ${r.unet.trainingLosses.cond.toFixed(4)}, with "An image of ." ${r.unet.trainingLosses.uncond.toFixed(4)} (${r.unet.trainingLosses.items} training images, t in 100..700)`);
    console.log(`  total       ${formatDuration(r.seconds)} on ${r.device} (${r.threads} threads, torch ${r.torch}); record: ${join(out, 'training', 'record.json')}`);
    return 0;
  },
};

const pick = <K extends keyof typeof SCORE_OPTIONS>(...keys: K[]) => Object.fromEntries(keys.map((k) => [k, SCORE_OPTIONS[k]])) as Pick<typeof SCORE_OPTIONS, K>;

export const modelClassify: Command = {
  spec: {
    name: 'model classify',
    summary: "the diffusion-classifier test of a pack: each image's class is the prompt with the lowest denoising loss",
    usage: 'ddps model classify --model <pack> --shards <pattern> [--whole-image --image-size 64] [--timesteps K] [--json]',
    options: {
      ...pick('model', 'shards', 'classes', 'image-size', 'whole-image', 'timesteps', 't-range', 'seed', 'limit-per-class', 'batch-size', 'workers', 'threads', 'providers', 'on-error', 'quiet', 'json'),
    },
    notes: [
      'Images are prepared, noised and scored exactly as ddps score does (same timesteps, same paired noise keyed by',
      'seed and sample), and every class prompt "An image of {label}." plus "An image of ." is tried: (classes + 1) x K',
      'UNet passes per image. Top-1 well above chance (1 / classes) shows the conditional signal that scoring relies on;',
      'the summary also gives the scoring signal itself on the true class, L("An image of .") - L(label).',
    ].join('\n'),
  },
  async run(args) {
    const shards = await expandShards(required(args, 'shards', 'model classify'));
    const packDir = required(args, 'model', 'model classify');
    const config = scoreConfigFrom(args);
    const classMap = await findClassMap(str(args, 'classes'), shards);
    const { policy, workers } = executionFrom(args);
    const model = await openPool(packDir, args, false);
    const progress = new Progress('model classify', process.stderr, flag(args, 'quiet'));
    const bytes = shardBytes(shards);
    let fraction = 0;
    let done = 0;
    let correct = 0;
    let summary: ClassifySummary;
    try {
      summary = await runDiffusionClassifier({
        shards,
        model,
        config,
        labels: classMap.names,
        classMap,
        batchSize: num(args, 'batch-size', { integer: true, min: 1 }) ?? 4,
        concurrency: workers,
        onError: policy,
        onMember: (m) => {
          fraction = bytes.read(m);
        },
        onSample: (s) => {
          done++;
          if (s.predicted === s.cls) correct++;
          progress.update({ done, skipped: 0, fraction, note: `top-1 ${((100 * correct) / done).toFixed(1)} %` });
        },
      });
    } finally {
      await model.close();
    }
    progress.finish({ done, skipped: summary.skipped.length, fraction: 1, note: `top-1 ${((100 * correct) / Math.max(1, done)).toFixed(1)} %` });
    const result = { pack: resolve(packDir), timesteps: config.timesteps, tRange: config.tRange, imageSize: config.imageSize, wholeImage: config.wholeImage, seed: config.seed, ...summary };
    if (flag(args, 'json')) {
      console.log(JSON.stringify(result));
      return 0;
    }
    const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
    console.log(`diffusion classifier, ${config.timesteps} timesteps in [${config.tRange.join(', ')}] x 1000, paired noise (seed ${config.seed})`);
    console.log(`  top-1       ${pct(summary.top1)} of ${summary.images} images (chance ${pct(1 / classMap.names.length)})`);
    console.log(`  per class   ${summary.perClass.map((c) => `${c.label} ${pct(c.top1)}`).join(', ')}`);
    console.log(`  signal      L("${config.uncondTemplate}") - L(true label) = ${summary.signal.meanGap.toExponential(3)} on average, positive for ${pct(summary.signal.positive)} of images`);
    console.log(`  cost        ${summary.unetPasses} UNet passes in ${formatDuration(summary.seconds)} (${(summary.images / Math.max(summary.seconds, 1e-9)).toFixed(2)} images/s)`);
    if (summary.skipped.length) console.log(`  skipped     ${summary.skipped.length}: ${summary.skipped.slice(0, 3).map((s) => `${s.key ?? s.url}: ${s.reason}`).join('; ')}`);
    return 0;
  },
};
