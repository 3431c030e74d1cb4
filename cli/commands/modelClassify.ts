/** `ddps model classify`: the diffusion-classifier test of a pack's conditional signal. */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import sharp from 'sharp';
import type { Command } from 'commander';
import { resolveScoreConfig } from '../../core/config.js';
import { PackPool } from '../../models/packPool.js';
import { parseProviders } from '../../models/runtime.js';
import { runDiffusionClassifier, type ClassifySummary } from '../../pipelines/diffusionClassify.js';
import { expandShards } from '../../storage/webdataset/index.js';
import { defineCommand, renamed } from '../define.js';
import { classMapSpelledClasses, opt } from '../options.js';
import { formatDuration, Progress, shardProgress } from '../progress.js';
import { describeSkips, findClassMap } from './score.js';

export const classifyCommand = (): Command =>
  defineCommand({
    name: 'classify',
    summary: "the diffusion-classifier test of a pack: each image's class is the prompt with the lowest denoising loss",
    description:
      "The diffusion-classifier test of a pack: each image's class is the prompt with the lowest denoising loss.\n\n" +
      'Images are prepared, noised and scored exactly as ddps score does (same timesteps, same paired noise keyed by seed ' +
      'and sample), and every class prompt "An image of {label}." plus "An image of ." is tried: (classes + 1) x K UNet ' +
      'passes per image. Top-1 well above chance (1 / classes) shows the conditional signal that scoring relies on; the ' +
      'summary also gives the scoring signal itself on the true class, L("An image of .") - L(label).',
    options: {
      shards: opt.shards.required(),
      model: opt.model.required(),
      classMap: opt.classMap,
      imageSize: opt.imageSize,
      wholeImage: opt.wholeImage,
      timesteps: opt.timesteps,
      tRange: opt.tRange,
      noiseSeed: opt.noiseSeed,
      limitPerClass: opt.limitPerClass,
      batchSize: opt.batchSize,
      workers: opt.workers,
      threads: opt.threads,
      providers: opt.providers,
      onError: opt.onError,
      quiet: opt.quiet,
      json: opt.json,
    },
    adjust: [renamed('--seed <n>', ['noiseSeed']), classMapSpelledClasses],
    async action(o) {
      const config = resolveScoreConfig({
        imageSize: o.imageSize,
        wholeImage: o.wholeImage === true,
        timesteps: o.timesteps,
        tRange: o.tRange,
        seed: o.noiseSeed,
        ...(o.limitPerClass !== undefined ? { limitPerClass: o.limitPerClass } : {}),
      });
      const shards = await expandShards(o.shards);
      const classMap = await findClassMap(o.classMap, shards);
      const threads = o.threads ?? Math.max(1, Math.floor(availableParallelism() / o.workers));
      sharp.cache(false);
      const model = await PackPool.open(o.model, { workers: o.workers, intraOpThreads: threads, ...(o.providers ? { providers: parseProviders(o.providers) } : {}) });
      const progress = new Progress('model classify', process.stderr, o.quiet === true);
      const reading = shardProgress(shards, config.limitPerClass === undefined ? undefined : config.limitPerClass * classMap.names.length);
      let done = 0;
      let correct = 0;
      const note = (): string => `top-1 ${((100 * correct) / Math.max(1, done)).toFixed(1)} %`;
      let summary: ClassifySummary;
      try {
        summary = await runDiffusionClassifier({
          shards,
          model,
          config,
          labels: classMap.names,
          classMap,
          batchSize: o.batchSize,
          concurrency: o.workers,
          onError: o.onError,
          onMember: reading.onMember,
          onSample: (s) => {
            done++;
            if (s.predicted === s.cls) correct++;
            progress.update({ done, skipped: 0, fraction: reading.fraction(done), note: note() });
          },
        });
      } finally {
        await model.close();
      }
      progress.finish({ done, skipped: summary.skipped.length, fraction: 1, note: note() });
      if (o.json) {
        console.log(JSON.stringify({ pack: resolve(o.model), timesteps: config.timesteps, tRange: config.tRange, imageSize: config.imageSize, wholeImage: config.wholeImage, seed: config.seed, ...summary }));
        return;
      }
      const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
      console.log(`diffusion classifier, ${config.timesteps} timesteps in [${config.tRange.join(', ')}] x 1000, paired noise (seed ${config.seed})`);
      console.log(`  top-1       ${pct(summary.top1)} of ${summary.images} images (chance ${pct(1 / classMap.names.length)})`);
      console.log(`  per class   ${summary.perClass.map((c) => `${c.label} ${pct(c.top1)}`).join(', ')}`);
      console.log(`  signal      L("${config.uncondTemplate}") - L(true label) = ${summary.signal.meanGap.toExponential(3)} on average, positive for ${pct(summary.signal.positive)} of images`);
      console.log(`  cost        ${summary.unetPasses} UNet passes in ${formatDuration(summary.seconds)} (${(summary.images / Math.max(summary.seconds, 1e-9)).toFixed(2)} images/s)`);
      if (summary.skipped.length) console.log([`  skipped     ${summary.skipped.length}:`, ...describeSkips(summary.skipped)].join('\n'));
    },
  });
