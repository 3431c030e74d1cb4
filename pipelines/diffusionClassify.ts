/**
 * The diffusion-classifier test of a pack: is its conditional signal real? Each labelled image is
 * prepared as scoring prepares it, and its predicted class is the prompt with the lowest denoising
 * loss (paired noise, the K timesteps of the scoring grid). Top-1 far above chance means the label in
 * the prompt changes the denoiser's predictions in a way that fits the image: the signal ddps scores with.
 *
 *   preparedBatches -> encodeLatent -> classLosses -> argmin
 */
import { concatAll, lastValueFrom, tap } from 'rxjs';
import { mergeReports, StageTimer } from '../models/stageTimer.js';
import { argmin, classLosses } from '../operators/classLosses.js';
import { encodeLatent } from '../operators/encodeLatent.js';
import type { SkipEvent } from '../operators/skips.js';
import { defaultWindow, preparedBatches, type ScoreRunOptions } from './score.js';

/** A diffusion-classifier run: the scoring run's inputs without a store, and a hook per classified sample. */
export interface ClassifyOptions
  extends Pick<ScoreRunOptions, 'shards' | 'model' | 'config' | 'labels' | 'classMap' | 'batchSize' | 'concurrency' | 'onError' | 'onSkip' | 'onMember'> {
  onSample?: (s: ClassifiedSample) => void;
}

/** One image's verdict: true and predicted class, and the losses that decided it. */
export interface ClassifiedSample {
  key: string;
  cls: number;
  predicted: number;
  /** Mean loss per class prompt. */
  losses: number[];
  uncondLoss: number;
}

/** What runDiffusionClassifier measured. */
export interface ClassifySummary {
  images: number;
  correct: number;
  /** Fraction of images whose lowest-loss prompt names their class (chance: 1 / classes). */
  top1: number;
  perClass: { label: string; images: number; top1: number }[];
  /** confusion[true][predicted]. */
  confusion: number[][];
  /** The scoring signal on the true class: mean of L_u - L_c (ddps's D, averaged over the image), and how often it is positive. */
  signal: { meanGap: number; positive: number };
  skipped: SkipEvent[];
  seconds: number;
  /** UNet inputs run: images x (classes + 1) x timesteps. */
  unetPasses: number;
}

/** Accuracy, per-class accuracy, confusion and the true-class gap from classified samples. */
export function summarizeClassified(samples: readonly ClassifiedSample[], labels: readonly string[]): Pick<ClassifySummary, 'images' | 'correct' | 'top1' | 'perClass' | 'confusion' | 'signal'> {
  const C = labels.length;
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  let correct = 0;
  let gap = 0;
  let positive = 0;
  for (const s of samples) {
    confusion[s.cls]![s.predicted]!++;
    if (s.predicted === s.cls) correct++;
    const g = s.uncondLoss - s.losses[s.cls]!;
    gap += g;
    if (g > 0) positive++;
  }
  const n = samples.length;
  const perClass = labels.map((label, c) => {
    const images = confusion[c]!.reduce((a, b) => a + b, 0);
    return { label, images, top1: images ? confusion[c]![c]! / images : 0 };
  });
  return { images: n, correct, top1: n ? correct / n : 0, perClass, confusion, signal: { meanGap: n ? gap / n : 0, positive: n ? positive / n : 0 } };
}

/** Classifies every labelled image of the shards by its lowest-loss prompt; see the module comment. */
export async function runDiffusionClassifier(opts: ClassifyOptions): Promise<ClassifySummary> {
  const { config, model } = opts;
  const batchSize = opts.batchSize ?? 4;
  const concurrency = opts.concurrency ?? 1;
  const timer = new StageTimer();
  const skipped: SkipEvent[] = [];
  const samples: ClassifiedSample[] = [];
  const t0 = performance.now();
  const before = (await model.stats()).unet?.items ?? 0;
  await lastValueFrom(
    preparedBatches({
      shards: opts.shards,
      config,
      batchSize,
      window: defaultWindow(batchSize, concurrency),
      onError: opts.onError ?? 'skip',
      onSkip: (e) => {
        skipped.push(e);
        opts.onSkip?.(e);
      },
      timer,
      ...(opts.classMap ? { classMap: opts.classMap } : {}),
      ...(opts.onMember ? { onMember: opts.onMember } : {}),
    }).pipe(
      encodeLatent(model, { concurrency }),
      classLosses(model, { config, labels: opts.labels, concurrency }),
      concatAll(),
      tap((it) => {
        const s: ClassifiedSample = { key: it.key, cls: it.cls, predicted: argmin(it.classLosses), losses: Array.from(it.classLosses), uncondLoss: it.uncondLoss };
        samples.push(s);
        opts.onSample?.(s);
      }),
    ),
    { defaultValue: undefined },
  );
  const stages = mergeReports([timer.report(), await model.stats()]);
  return {
    ...summarizeClassified(samples, opts.labels),
    skipped,
    seconds: (performance.now() - t0) / 1000,
    unetPasses: (stages.unet?.items ?? 0) - before,
  };
}
