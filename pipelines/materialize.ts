/**
 * Stage III output: a selection for one IPC -> distilled WebDataset shards and their manifest.
 *
 *   layoutImages -> concat (crops re-read from the original shards, drawn, PNG) -> writeDistilled
 *
 * Deterministic: the same selection gives byte-identical shards and manifest (fixed PNG settings,
 * the writer's fixed tar headers, classes in index order, no timestamps).
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { from, ignoreElements, lastValueFrom } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import { cellSize, concat } from '../operators/concat.js';
import { DEFAULT_CONCURRENCY } from '../operators/decode.js';
import { Flow } from '../operators/flow.js';
import { layoutImages, type MosaicMode, mosaicFor, patchesNeeded } from '../operators/math/mosaic.js';
import type { ClassSelection, DistillManifest, ManifestClass } from '../operators/selectionTypes.js';
import { className, writeDistilled } from '../operators/writeDistilled.js';
import { writeJsonAtomic } from '../storage/json.js';
import { ShardWriter } from '../storage/webdataset/index.js';

/** File names of distilled shards. */
export const DISTILLED_PATTERN = 'distilled-%06d.tar';
const DISTILLED_NAME = /^distilled-\d{6,}\.tar$/;
/** The manifest beside distilled shards. */
export const MANIFEST_NAME = 'manifest.json';

/** Options of materialize: the budget, the layout, the output folder and what the manifest records. */
export interface MaterializeOptions {
  ipc: number;
  /** Mosaics or not, or a `--mosaic` mode resolved by mosaicFor with `config.wholeImage`. */
  mosaic: boolean | MosaicMode;
  /** Output image side (default 224). */
  outputSize?: number;
  outDir: string;
  /** Class index -> name. */
  classNames: readonly string[];
  /** Images per shard (ShardWriter's maxcount). */
  maxcount?: number;
  /** Bytes per shard (ShardWriter's maxsize). */
  maxsize?: number;
  /** The score store's configuration, recorded in the manifest. */
  config: Record<string, unknown>;
  /** The model pack's identity, recorded in the manifest. */
  pack: Record<string, unknown>;
  topClusters: number;
  /** Samples decoded and images encoded at once (default 4). */
  concurrency?: number;
  /** The manifest's createdBy (default "ddps"). */
  createdBy?: string;
}

function checkSelection(selection: readonly ClassSelection[], needed: number, classNames: readonly string[]): ClassSelection[] {
  const sorted = [...selection].sort((a, b) => a.cls - b.cls);
  sorted.forEach((sel, i) => {
    if (i > 0 && sorted[i - 1]!.cls === sel.cls) throw new DdpsError('BAD_ARGUMENT', `selection: class ${sel.cls} appears twice`);
    className(classNames, sel.cls);
    if (sel.needed !== needed) {
      throw new DdpsError(
        'BAD_ARGUMENT',
        `selection: class ${sel.cls} was selected for ${sel.needed} patches, but this layout needs ${needed}; select with the same IPC and mosaic mode`,
      );
    }
    const stray = sel.patches.find((p) => p.cls !== sel.cls);
    if (stray !== undefined) throw new DdpsError('BAD_ARGUMENT', `selection: class ${sel.cls} holds a patch of sample "${stray.key}", which is class ${stray.cls}`, { sample: stray.key });
  });
  return sorted;
}

/** A shard left by an earlier run that wrote more would otherwise be read as part of this one. */
async function removeStale(outDir: string, written: readonly string[]): Promise<void> {
  const keep = new Set(written.map((p) => basename(p)));
  for (const name of await readdir(outDir)) {
    if (DISTILLED_NAME.test(name) && !keep.has(name)) await rm(join(outDir, name));
  }
}

/** Writes `<outDir>/distilled-%06d.tar` and `<outDir>/manifest.json`; returns the manifest. */
export async function materialize(selection: readonly ClassSelection[], opts: MaterializeOptions): Promise<DistillManifest> {
  const { ipc, outDir, classNames, topClusters } = opts;
  if (!Number.isSafeInteger(ipc) || ipc < 1) throw new DdpsError('BAD_ARGUMENT', `IPC ${ipc}: expected a whole number >= 1`);
  if (!Number.isSafeInteger(topClusters) || topClusters < 1) throw new DdpsError('BAD_ARGUMENT', `topClusters ${topClusters}: expected a whole number >= 1`);
  const mosaic = typeof opts.mosaic === 'boolean' ? opts.mosaic : mosaicFor(ipc, opts.mosaic, opts.config.wholeImage === true);
  const outputSize = opts.outputSize ?? 224;
  cellSize(outputSize, mosaic);
  const needed = patchesNeeded(ipc, mosaic);
  const classes = checkSelection(selection, needed, classNames);

  await mkdir(outDir, { recursive: true });
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const layouts = classes.map((sel) => layoutImages(sel, ipc, mosaic));
  const writer = new ShardWriter(join(outDir, DISTILLED_PATTERN), {
    ...(opts.maxcount !== undefined ? { maxcount: opts.maxcount } : {}),
    ...(opts.maxsize !== undefined ? { maxsize: opts.maxsize } : {}),
  });
  await lastValueFrom(
    from(layouts.flat()).pipe(
      concat({ outputSize, mosaic, concurrency, flow: new Flow(4 * concurrency) }),
      writeDistilled(writer, { ipc, mosaic, classNames }),
      ignoreElements(),
    ),
    { defaultValue: undefined },
  );
  const shards = await writer.close();
  await removeStale(outDir, shards);

  const perClass: Record<string, ManifestClass> = {};
  classes.forEach((sel, i) => {
    perClass[String(sel.cls)] = {
      name: className(classNames, sel.cls),
      images: layouts[i]!.length,
      patches: Math.min(sel.patches.length, needed),
      needed,
      short: sel.patches.length < needed,
    };
  });
  const manifest: DistillManifest = {
    ipc,
    mosaic,
    outputSize,
    topClusters,
    classes: perClass,
    config: opts.config,
    pack: opts.pack,
    shards: shards.map((p) => basename(p)),
    images: layouts.reduce((n, l) => n + l.length, 0),
    createdBy: opts.createdBy ?? 'ddps',
  };
  await writeJsonAtomic(join(outDir, MANIFEST_NAME), manifest);
  return manifest;
}
