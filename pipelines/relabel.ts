/**
 * Stage IV as a pipeline: distilled shards -> the same shards with a teacher's soft labels added.
 *
 *   shard samples -> decode -> softLabels -> ShardWriter (same shard name)
 *
 * Every member of a sample is copied byte for byte; `<key>.soft.json` is added (replaced if there
 * was one). Samples flow one shard at a time through a small Flow window, so memory depends on a few
 * samples, never on the shard size.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { concatMap, lastValueFrom, Observable } from 'rxjs';
import type { Classifier } from '../models/classifier.js';
import { DdpsError } from '../core/errors.js';
import { decodeImage } from '../operators/decode.js';
import { Flow, release, type Ticket } from '../operators/flow.js';
import { mapOrdered } from '../operators/mapOrdered.js';
import { CROP_RATIO, CROP_SCALE, FKD_STREAM, checkSoftLabelOptions, softLabels } from '../operators/relabel.js';
import { writeJsonAtomic } from '../storage/json.js';
import { ShardWriter, readSamples, requireImage, sampleClass, type WdsSample } from '../storage/webdataset/index.js';

/** Options of relabelShards: input and output folders, the teacher, and the soft-label settings. */
export interface RelabelOptions {
  /** Folder of distilled shards (`*.tar`, `*.tar.gz`, `*.tgz`) and, optionally, manifest.json. */
  inDir: string;
  /** Gets the shards under the same names, manifest.json, and classes.json if inDir has one. */
  outDir: string;
  teacher: Classifier;
  temperature?: number;
  /** Epochs of FKD random-resized-crop labels per image (0: none). */
  fkdEpochs?: number;
  seed?: number;
  /** Dataset classes: the teacher must give this many values per image, and hard labels lie below it. */
  classCount: number;
  /** Called after each sample is written: `agree` when it has a hard label. */
  onSample?: (s: { key: string; shard: string; agree?: boolean }) => void;
}

/** What relabelShards wrote, and how often the teacher agreed with the hard labels. */
export interface RelabelSummary {
  images: number;
  /** Images that carry a hard label (.cls or .json). */
  labelled: number;
  /** Labelled images whose soft-label argmax is their hard label. */
  agree: number;
  /** 100 * agree / labelled; undefined without labelled images. */
  agreement?: number;
  /** Output shard paths, in input order. */
  shards: string[];
  seconds: number;
}

const SHARD = /\.(tar|tar\.gz|tgz)$/i;
/** Samples alive at once: enough to decode the next while the teacher runs. */
const WINDOW = 4;

export async function listShards(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    throw new DdpsError('MISSING_FILE', `relabel: cannot read the input folder ${dir}`, { file: dir, cause });
  }
  const shards = names.filter((n) => SHARD.test(n)).sort();
  if (shards.length === 0) throw new DdpsError('MISSING_FILE', `relabel: ${dir} holds no shards (*.tar, *.tar.gz, *.tgz)`, { file: dir });
  return shards.map((n) => join(dir, n));
}

/** One shard's samples, each read only once the window has room; the writer releases the ticket. */
function shardSamples(url: string, flow: Flow): Observable<{ sample: WdsSample; ticket: Ticket }> {
  return new Observable((subscriber) => {
    // Aborted on unsubscribe, so a source waiting for room in the window stops waiting (and closes the shard).
    const stop = new AbortController();
    const run = async (): Promise<void> => {
      for await (const sample of readSamples(url)) {
        const ticket = await flow.acquire(stop.signal);
        if (ticket === undefined) return;
        subscriber.next({ sample, ticket });
      }
    };
    run().then(
      () => subscriber.complete(),
      (err: unknown) => subscriber.error(err),
    );
    return () => stop.abort();
  });
}

async function decodeSample(item: { sample: WdsSample; ticket: Ticket }) {
  const { sample } = item;
  const image = requireImage(sample);
  const cls = sampleClass(sample);
  const decoded = await decodeImage(image, { key: sample.__key__, url: sample.__url__, cls: cls ?? -1 });
  return { ...item, key: sample.__key__, hard: cls, rgb: decoded.rgb, width: decoded.width, height: decoded.height };
}

/** `manifest.json` with a `relabel` section saying how the labels were made (written only if inDir has one). */
async function copyManifest(opts: RelabelOptions, settings: Record<string, unknown>): Promise<void> {
  const from = join(opts.inDir, 'manifest.json');
  if (!existsSync(from)) return;
  let manifest: unknown;
  try {
    manifest = JSON.parse(await readFile(from, 'utf8'));
  } catch (cause) {
    throw new DdpsError('BAD_CONFIG', `relabel: ${from} is not valid JSON (${(cause as Error).message})`, { file: from, cause });
  }
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
    throw new DdpsError('BAD_CONFIG', `relabel: ${from} is not a JSON object`, { file: from });
  }
  await writeJsonAtomic(join(opts.outDir, 'manifest.json'), { ...manifest, relabel: settings });
}

/** Stage IV over a folder of distilled shards: the same shards with `<key>.soft.json` teacher soft labels (and FKD crop labels). */
export async function relabel(opts: RelabelOptions): Promise<RelabelSummary> {
  const started = performance.now();
  const { temperature, fkdEpochs, seed } = checkSoftLabelOptions(opts);
  const { teacher, classCount } = opts;
  if (!Number.isSafeInteger(classCount) || classCount < 1) throw new DdpsError('BAD_ARGUMENT', `relabel: classCount ${classCount}: expected an integer >= 1`);
  if (resolve(opts.inDir) === resolve(opts.outDir)) throw new DdpsError('BAD_ARGUMENT', `relabel: --out must differ from --in (${opts.inDir}); shards are rewritten, not edited in place`);
  const inputs = await listShards(opts.inDir);
  await mkdir(opts.outDir, { recursive: true });
  const summary: RelabelSummary = { images: 0, labelled: 0, agree: 0, shards: [], seconds: 0 };

  for (const url of inputs) {
    const name = basename(url);
    // ShardWriter numbers its shards; a hidden numbered name keeps the extension (and so gzip), then takes the input's name.
    const writer = new ShardWriter(join(opts.outDir, `.relabel-%d-${name.replace(/%/g, '%%')}`), { maxcount: Number.MAX_SAFE_INTEGER, maxsize: Number.MAX_SAFE_INTEGER });
    await lastValueFrom(
      shardSamples(url, new Flow(WINDOW)).pipe(
        mapOrdered(decodeSample, 2),
        softLabels(teacher, { temperature, fkdEpochs, seed }),
        concatMap(async (s) => {
          if (s.soft.probs.length !== classCount) {
            throw new DdpsError('BAD_CONFIG', `teacher ${teacher.path} gives ${s.soft.probs.length} classes per image, but the dataset has ${classCount}; give the teacher config "classes" (teacher output index of each dataset class)`, {
              file: teacher.path,
            });
          }
          if (s.hard !== undefined && s.hard >= classCount) {
            throw new DdpsError('UNKNOWN_CLASS', `sample "${s.key}" in ${url} has class ${s.hard}, but the dataset has classes 0..${classCount - 1}`, { sample: s.key, file: url });
          }
          await writer.write({ ...s.sample, 'soft.json': s.soft });
          release(s);
          summary.images++;
          const agree = s.hard === undefined ? undefined : s.top1 === s.hard;
          if (agree !== undefined) {
            summary.labelled++;
            if (agree) summary.agree++;
          }
          opts.onSample?.({ key: s.key, shard: url, ...(agree !== undefined ? { agree } : {}) });
        }),
      ),
      { defaultValue: undefined },
    );
    const written = await writer.close();
    if (written.length === 0) continue; // an empty shard has no samples to carry over
    const to = join(opts.outDir, name);
    await rename(written[0]!, to);
    summary.shards.push(to);
  }

  await copyManifest(opts, {
    teacher: teacher.path,
    teacherConfig: teacher.config,
    temperature,
    fkdEpochs,
    seed,
    classCount,
    ...(fkdEpochs > 0 ? { fkdCrop: { scale: CROP_SCALE, ratio: CROP_RATIO, flip: 0.5, stream: `keyedUniform(seed, key, ${FKD_STREAM} + epoch)` } } : {}),
  });
  const classes = join(opts.inDir, 'classes.json');
  // Read and written rather than copied: a read-only source would make the copy read-only too.
  if (existsSync(classes)) await writeFile(join(opts.outDir, 'classes.json'), await readFile(classes));
  if (summary.labelled > 0) summary.agreement = (100 * summary.agree) / summary.labelled;
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}
