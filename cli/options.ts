/**
 * Every option of every command, defined once. A flag has one meaning across all commands: a command
 * that needs it takes it from here (`options: { store: opt.store.required(), ... }`), never defines
 * its own copy. Numeric defaults come from the configuration defaults (core/config.ts), so --help
 * shows what a run uses. Each option carries the help heading it is listed under.
 */
import { existsSync, statSync } from 'node:fs';
import { DEFAULT_EXECUTION, DEFAULT_RELABEL, DEFAULT_SCORE_CONFIG as SCORE, DEFAULT_SELECTION as SELECT, DIFT_MODES, MOSAIC_MODES, SCORERS } from '../core/config.js';
import { DEFAULT_CROPS } from '../operators/classifierScore.js';
import { ERROR_POLICIES } from '../operators/skips.js';
import { loadProfiles } from '../pipelines/evalProfiles.js';
import { DEFAULT_EVALUATION, DEVICES, LABEL_MODES } from '../pipelines/evaluate.js';
import { REPORT_DEFAULTS } from '../pipelines/report.js';
import { DEFAULT_ATTEMPTS, DEFAULT_FOLLOW, DEFAULT_LOCK_SETTINGS, DEFAULT_QUEUE_NAME, DEFAULT_WORKER_JOBS } from '../queue/spec.js';
import { TOY_DEFAULTS } from '../toy/index.js';
import { flag, note, value, valueOr, type Adjust } from './define.js';
import { decimal, decimalPair, integer, integerList } from './values.js';

/** Help headings, in the order --help lists them. */
export const GROUP = {
  data: 'Data and model:',
  scoring: "Scoring, Stages I-II (the paper's knobs):",
  baseline: 'Baselines in place of the diffusion scorer:',
  selection: "Selection, Stages II-III (the paper's knobs):",
  relabel: 'Soft labels, Stage IV:',
  evaluation: 'Evaluation (students trained in PyTorch, docs/REPLAY.md):',
  training: 'Training a small pack:',
  pytorch: 'PyTorch (students and small packs train there):',
  execution: 'Execution (never changes the result):',
  queue: 'More than one machine (a Redis queue of shard jobs, ddps worker):',
  output: 'Output:',
} as const;

const G = GROUP;

export const opt = {
  // Data and model
  shards: value('--shards <pattern>', "WebDataset shards: 'data/train-{000000..000004}.tar', globs, '::'-joined lists", G.data),
  classMap: value('--class-map <file>', 'classes.json naming each class index', G.data).defaultShownAs('classes.json beside the shards'),
  model: value('--model <pack>', 'SD 1.5 ONNX model pack folder (diffusers/Optimum layout)', G.data),
  store: value('--store <dir>', 'LMDB score store (ddps score creates it, or resumes it if it exists)', G.data),

  // Stages I-II
  imageSize: valueOr('--image-size <px>', 'short edge after resizing, a multiple of 64', G.scoring, SCORE.imageSize, { parse: integer({ min: 64 }) }),
  patchSize: valueOr('--patch-size <px>', 'patch side; scored by average-pooling the loss difference over patch/8 latent cells', G.scoring, SCORE.patchSize, { parse: integer({ min: 8 }) }),
  patchStride: valueOr('--patch-stride <px>', 'stride of the pooling window', G.scoring, SCORE.patchStride, { parse: integer({ min: 8 }) }),
  patchesPerImage: valueOr('--patches-per-image <n>', `candidate patches per image (greedy NMS at IoU ${SCORE.nmsIou})`, G.scoring, SCORE.patchesPerImage, { parse: integer({ min: 1 }) }),
  timesteps: valueOr('--timesteps <K>', 'timesteps per image, stratified over --t-range', G.scoring, SCORE.timesteps, { parse: integer({ min: 1 }) }),
  tRange: valueOr('--t-range <lo,hi>', 'timestep range as fractions of 1000', G.scoring, SCORE.tRange, { parse: decimalPair({ min: 0, max: 1 }), text: SCORE.tRange.join(',') }),
  diftMode: valueOr('--dift-mode <mode>', 'DIFT per cropped patch (the paper) or one shared pass per image', G.scoring, SCORE.diftMode, { choices: DIFT_MODES }),
  diftTimestep: valueOr('--dift-timestep <t>', 'timestep of the DIFT pass', G.scoring, SCORE.diftTimestep, { parse: integer({ min: 0, max: 999 }) }),
  diftEnsemble: valueOr('--dift-ensemble <n>', 'noise draws averaged per DIFT feature', G.scoring, SCORE.diftEnsemble, { parse: integer({ min: 1 }) }),
  noiseSeed: valueOr('--noise-seed <n>', 'seed of the diffusion noise and of random crops (keyed by sample: results do not depend on order)', G.scoring, SCORE.seed, { parse: integer() }),
  limitPerClass: value('--limit-per-class <n>', 'score at most n images per class (the paper: 300 are nearly as good as all)', G.scoring, { parse: integer({ min: 1 }) }),
  wholeImage: flag('--whole-image', 'low-resolution data (CIFAR): upsample; the whole image is the one patch', G.scoring),

  // Baselines
  scorer: valueOr('--scorer <name>', 'diffusion (the method), classifier (RDED-style teacher confidence) or random (the floor)', G.baseline, SCORE.scorer, { choices: SCORERS }),
  teacher: value('--teacher <onnx>', 'teacher classifier (ONNX)', G.baseline),
  teacherConfig: value('--teacher-config <json>', 'its preprocessing: {"input", "output", "size": [h, w], "mean", "std", "batch", "classes"?}', G.baseline),
  crops: valueOr('--crops <n>', 'random crops per image for --scorer classifier', G.baseline, DEFAULT_CROPS, { parse: integer({ min: 1 }) }),

  // Stages II-III
  ipc: valueOr('--ipc <n,...>', 'images per class; several budgets go to <out>/ipc<n>/', G.selection, [SELECT.ipc], { parse: integerList({ min: 1 }), text: String(SELECT.ipc) }),
  classes: value('--classes <list>', "a subset of classes: indices '0,3,7' or names 'tench,church' (default: all)", G.selection),
  topClusters: valueOr('--top-clusters <N>', 'clusters a class draws its quota from (q = floor(P / N) each)', G.selection, SELECT.topClusters, { parse: integer({ min: 1 }) }),
  clusters: valueOr('--clusters <K>', 'k-means clusters per class, K = min(K, patches)', G.selection, SELECT.clusters, { parse: integer({ min: 1 }) }),
  clusterSeed: valueOr('--cluster-seed <n>', 'seed of k-means', G.selection, SELECT.clusterSeed, { parse: integer() }),
  reclusterThreshold: valueOr('--recluster-threshold <f>', 're-cluster a class when its new patches pass this fraction', G.selection, SELECT.reclusterThreshold, { parse: decimal({ min: 0 }) }),
  mosaic: valueOr('--mosaic <mode>', '2x2 mosaics of patches (auto: for IPC <= 10, not for whole-image stores)', G.selection, SELECT.mosaic, { choices: MOSAIC_MODES }),
  dedup: value('--dedup <cos>', 'skip a patch whose DIFT feature is closer than this cosine to one already selected', G.selection, { parse: decimal({ min: -1, max: 1 }) }),
  outputSize: valueOr('--output-size <px>', 'side of each distilled image', G.selection, SELECT.outputSize, { parse: integer({ min: 2 }) }),
  maxcount: value('--maxcount <n>', 'images per output shard', G.selection, { parse: integer({ min: 1 }) }),
  maxsize: value('--maxsize <bytes>', 'bytes per output shard', G.selection, { parse: integer({ min: 1 }) }),

  // Stage IV
  temperature: valueOr('--temperature <T>', 'softmax temperature of the soft labels', G.relabel, DEFAULT_RELABEL.temperature, { parse: decimal({ min: Number.MIN_VALUE }) }),
  fkdEpochs: valueOr('--fkd-epochs <E>', 'per-epoch random-resized-crop soft labels (FKD); 0 for none', G.relabel, DEFAULT_RELABEL.fkdEpochs, { parse: integer({ min: 0 }) }),
  fkdSeed: valueOr('--fkd-seed <n>', 'seed of the FKD crops (keyed by sample and epoch)', G.relabel, DEFAULT_RELABEL.fkdSeed, { parse: integer() }),

  // Evaluation (ddps evaluate, ddps relabel --replay)
  distilled: value('--distilled <dir>', 'distilled folder (shards + manifest.json, as ddps select and distill write it)', G.evaluation),
  val: value('--val <shards>', 'the real held-out split the students are tested on', G.evaluation),
  profile: value('--profile <name>', 'evaluation protocol; every hyperparameter is in python/ddps_eval/profiles.json', G.evaluation, { choices: [...loadProfiles().keys()] }),
  labels: valueOr('--labels <mode>', "replay (the teacher's logits on every augmented batch, SRe2L-style), static (.soft.json) or hard", G.evaluation, DEFAULT_EVALUATION.labels, { choices: LABEL_MODES }),
  compare: value('--compare <list>', 'also train on: random (random real images, same IPC and pipeline), full (the whole --source split, hard labels), other distilled folders', G.evaluation, { parse: (v) => v.split(',').map((s) => s.trim()).filter(Boolean) }),
  source: value('--source <shards>', 'the split --compare random and full draw from', G.evaluation),
  epochs: value('--epochs <n>', "training epochs (default: the profile's, 300)", G.evaluation, { parse: integer({ min: 1 }) }),
  studentBatchSize: value('--student-batch-size <n>', "images per training step (default: the profile's rule, RDED's 10 / 50 / 100 for IPC <= 1 / <= 10 / above)", G.evaluation, { parse: integer({ min: 1 }) }),
  lr: value('--lr <x>', "the students' AdamW learning rate (default: the profile's, 0.001)", G.evaluation, { parse: decimal({ min: Number.MIN_VALUE }) }),
  seeds: value('--seeds <n>', "students per set (default: the profile's, 5)", G.evaluation, { parse: integer({ min: 1 }) }),
  studentSeed: valueOr('--student-seed <n>', 'seed of the first student (the others count up from it), of its augmentation and replay, and of the random subset', G.evaluation, DEFAULT_EVALUATION.seed, { parse: integer() }),
  fullEpochs: value('--full-epochs <n>', "epochs of --compare full (default: the profile's, capped at full.maxImagesSeen images seen)", G.evaluation, { parse: integer({ min: 1 }) }),
  device: valueOr('--device <name>', 'where PyTorch trains', G.pytorch, DEFAULT_EVALUATION.device, { choices: DEVICES }),
  replay: flag('--replay', "write replayed labels for ddps evaluate: every epoch's and batch's augmentation and the teacher's logits on it", G.relabel),
  replayDir: value('--replay-dir <dir>', 'folder of replayed labels (default: <distilled>/replay, or the cache for a read-only set)', G.evaluation),

  // Execution
  batchSize: valueOr('--batch-size <n>', 'images per model call', G.execution, DEFAULT_EXECUTION.batchSize, { parse: integer({ min: 1 }) }),
  workers: valueOr('--workers <n>', 'model worker threads, each with its own sessions', G.execution, DEFAULT_EXECUTION.workers, { parse: integer({ min: 1 }) }),
  threads: value('--threads <n>', 'CPU threads: ONNX Runtime threads per worker (default: cores / workers), or PyTorch threads when training', G.execution, { parse: integer({ min: 1 }) }),
  providers: value('--providers <list>', "execution providers, e.g. 'cuda,cpu' or 'webgpu,cpu' (default: cpu)", G.execution),
  onError: valueOr('--on-error <policy>', 'a bad sample is counted and skipped, or stops the run', G.execution, ERROR_POLICIES[0], { choices: ERROR_POLICIES }),
  allowMismatch: flag('--allow-mismatch', 'let the store mix runs with a different configuration or pack', G.execution),

  // More than one machine (times in seconds on the command line, ms in the library)
  queue: value('--queue <url>', 'the Redis queue of shard jobs: redis://[:password@]host:port[/db], rediss:// (TLS) or unix:///path/redis.sock; the password is never printed', G.queue),
  queueName: valueOr('--queue-name <name>', 'queue name: submitters and workers must agree', G.queue, DEFAULT_QUEUE_NAME),
  results: value('--results <dir>', 'the folder finished shards land in as result files: every worker machine writes it, the submitter reads it', G.queue),
  attempts: valueOr('--attempts <n>', 'tries of a failing shard before it ends failed', G.queue, DEFAULT_ATTEMPTS.attempts, { parse: integer({ min: 1 }) }),
  backoff: valueOr('--backoff <seconds>', 'wait before the first retry of a failed shard, doubling after each', G.queue, DEFAULT_ATTEMPTS.backoff / 1000, { parse: decimal({ min: 0 }) }),
  poll: valueOr('--poll <seconds>', 'how often the submitter looks at the queue and the results folder', G.queue, DEFAULT_FOLLOW.pollMs / 1000, { parse: decimal({ min: 0.01 }) }),
  lostAfter: valueOr('--lost-after <seconds>', 'a completed shard whose result file is nowhere after this long is scored again', G.queue, DEFAULT_FOLLOW.lostAfterMs / 1000, { parse: decimal({ min: 0 }) }),
  jobs: valueOr('--jobs <n>', "shards one worker scores at once (2 overlaps one shard's tail with the next one's start)", G.queue, DEFAULT_WORKER_JOBS, { parse: integer({ min: 1 }) }),
  lockDuration: valueOr('--lock-duration <seconds>', "how long a worker's lock on its shard lasts unrenewed (renewed every half of it; the model never blocks the renewal)", G.queue, DEFAULT_LOCK_SETTINGS.lockDuration / 1000, { parse: decimal({ min: 0.1 }) }),
  stalledInterval: valueOr('--stalled-interval <seconds>', "how often shards whose worker died (lock expired) are looked for and put back to waiting", G.queue, DEFAULT_LOCK_SETTINGS.stalledInterval / 1000, { parse: decimal({ min: 0.1 }) }),
  maxStalledCount: valueOr('--max-stalled-count <n>', 'times a shard may lose its worker before it ends failed', G.queue, DEFAULT_LOCK_SETTINGS.maxStalledCount, { parse: integer({ min: 0 }) }),
  workerName: value('--worker-name <name>', 'this worker in status and job records (default: host:pid)', G.queue),
  run: value('--run <digest>', "only this run's shards (ddps queue status shows the digests)", G.queue),
  all: flag('--all', 'also remove active, done and failed shards and the runs: the queue is then as new', G.queue),
  into: value('--into <dir>', 'the score store to merge into (created when new)', G.data),

  // Reading a store
  list: flag('--list', 'print the stored sample keys, one per line', G.output),
  digest: flag('--digest', 'a digest of what scoring stored, whatever order it was written in (equal digests: the same samples, bit for bit)', G.output),
  sample: value('--sample <key>', 'one sample: score map, patches (boxes in resized and original pixels), feature norms', G.output),
  evaluation: value('--evaluation <dir>', "ddps evaluate's output folder (or its results.json): the students' table and chart on the index page", G.data),
  selection: value('--selection <dir>', 'distilled output (manifest.json beside *.tar shards); without it the top-scored patches are shown', G.data),
  topPatches: valueOr('--top-patches <n>', 'without --selection: top-scored patches shown per class', G.output, REPORT_DEFAULTS.topPatches, { parse: integer({ min: 1 }) }),
  maxSources: valueOr('--max-sources <n>', 'source images with their score maps shown per class', G.output, REPORT_DEFAULTS.maxSources, { parse: integer({ min: 1 }) }),

  // Stage IV input
  in: value('--in <dir>', 'folder of distilled shards (*.tar) and manifest.json', G.data),

  // Model packs
  tensor: value('--tensor <name>', "tap this tensor instead of the last '/up_blocks.1/' node's output", G.data),

  // Training a small pack (defaults: the trainer's, python -m ddps_eval.pack.train --help)
  vaeSteps: value('--vae-steps <n>', 'autoencoder steps of 64 images (default: 500)', G.training, { parse: integer({ min: 1 }) }),
  unetSteps: value('--unet-steps <n>', 'UNet + text encoder steps (default: 1500)', G.training, { parse: integer({ min: 1 }) }),
  unetBatch: value('--unet-batch <n>', 'latents per UNet step (default: 128)', G.training, { parse: integer({ min: 1 }) }),
  unetChannels: value('--unet-channels <list>', 'UNet width per level, four levels as in SD 1.5 (default: 32,64,64,64)', G.training, { parse: integerList({ min: 1 }) }),
  pUncond: value('--p-uncond <p>', "fraction of items trained on the empty-label prompt 'An image of .', classifier-free (default: 0.2)", G.training, { parse: decimal({ min: 0, max: 0.999 }) }),
  trainSeed: valueOr('--train-seed <n>', 'seed of initialisation, batches and noise', G.training, 0, { parse: integer({ min: 0 }) }),
  file: value('--file <file>', 'read prompts from a file, one per line', G.data),

  // The toy world
  perClass: valueOr('--per-class <n>', 'synthetic images per class', G.data, TOY_DEFAULTS.perClass, { parse: integer({ min: 1 }) }),
  shardCount: valueOr('--shard-count <n>', 'number of shards', G.data, TOY_DEFAULTS.shards, { parse: integer({ min: 1 }) }),
  toySeed: valueOr('--toy-seed <n>', 'seed of the drawn images', G.data, TOY_DEFAULTS.seed, { parse: integer() }),
  force: flag('--force', 'rebuild even if an up-to-date build exists', G.execution),

  // Output
  out: value('--out <dir>', 'where the output goes', G.output),
  quiet: flag('--quiet', 'no progress line', G.output),
  json: flag('--json', 'print one JSON object instead of text', G.output),
};

/**
 * `--classes <file>` was once the class map. A value that names an existing file is still taken as
 * --class-map, with a deprecation line; in a command without class subsets any other value is refused.
 * Adds a hidden --classes to a command that has none.
 */
export const classMapSpelledClasses: Adjust = (cmd) => {
  const subsets = cmd.options.some((o) => o.attributeName() === 'classes');
  if (!subsets) cmd.addOption(opt.classes.hidden().make());
  cmd.hook('preAction', () => {
    const given = cmd.getOptionValue('classes') as unknown;
    if (typeof given !== 'string') return;
    if (existsSync(given) && statSync(given).isFile()) {
      if (cmd.getOptionValueSource('classMap') !== 'cli') cmd.setOptionValueWithSource('classMap', given, 'cli');
      cmd.setOptionValueWithSource('classes', undefined, 'default');
      note(cmd, `--classes ${given} is deprecated for a class-map file: use --class-map (--classes picks a subset of classes)`);
    } else if (!subsets) {
      cmd.error(`--classes '${given}' is not a file: the class map is --class-map <file>, and this command takes no subset of classes`, { exitCode: 2, code: 'ddps.badClasses' });
    }
  });
};
