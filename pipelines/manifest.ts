/**
 * A distilled folder's manifest.json, read back and checked field by field: a report or a later
 * stage gets a DistillManifest it can trust, or an error naming the file and the field.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DdpsError } from '../core/errors.js';
import type { DistillManifest, ManifestClass } from '../operators/selectionTypes.js';
import { MANIFEST_NAME } from './materialize.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown, least: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= least;

/** The manifest in `value` (parsed JSON), or BAD_CONFIG naming `file` and the first field that is wrong. */
export function parseManifest(value: unknown, file: string): DistillManifest {
  const bad = (field: string, want: string, got: unknown): never => {
    throw new DdpsError('BAD_CONFIG', `${file}: "${field}" must be ${want}, got ${JSON.stringify(got) ?? 'nothing'}`, { file });
  };
  if (!isObject(value)) return bad('(the manifest)', 'a JSON object', value);
  const m = value;
  for (const f of ['ipc', 'outputSize', 'topClusters'] as const) if (!isCount(m[f], 1)) bad(f, 'a whole number >= 1', m[f]);
  if (!isCount(m.images, 0)) bad('images', 'a whole number >= 0', m.images);
  if (typeof m.mosaic !== 'boolean') bad('mosaic', 'true or false', m.mosaic);
  if (typeof m.createdBy !== 'string') bad('createdBy', 'a string', m.createdBy);
  for (const f of ['config', 'pack'] as const) if (!isObject(m[f])) bad(f, 'an object', m[f]);
  // An older manifest lists no shards: every .tar beside it is the selection.
  if (m.shards !== undefined && !(Array.isArray(m.shards) && m.shards.every((s) => typeof s === 'string' && /^[^/\\]+\.tar$/.test(s)))) {
    bad('shards', 'a list of .tar file names in the folder (no paths)', m.shards);
  }
  if (!isObject(m.classes)) return bad('classes', 'an object of class index -> {name, images, patches, needed, short}', m.classes);
  for (const [cls, c] of Object.entries(m.classes)) {
    const field = `classes.${cls}`;
    if (!/^(0|[1-9]\d*)$/.test(cls)) bad(field, 'keyed by a class index', cls);
    if (!isObject(c)) bad(field, 'an object {name, images, patches, needed, short}', c);
    const entry = c as Json;
    if (typeof entry.name !== 'string') bad(`${field}.name`, 'a string', entry.name);
    for (const f of ['images', 'patches'] as const) if (!isCount(entry[f], 0)) bad(`${field}.${f}`, 'a whole number >= 0', entry[f]);
    if (!isCount(entry.needed, 1)) bad(`${field}.needed`, 'a whole number >= 1', entry.needed);
    if (typeof entry.short !== 'boolean') bad(`${field}.short`, 'true or false', entry.short);
  }
  return {
    ipc: m.ipc as number,
    mosaic: m.mosaic as boolean,
    outputSize: m.outputSize as number,
    topClusters: m.topClusters as number,
    classes: m.classes as Record<string, ManifestClass>,
    config: m.config as Json,
    pack: m.pack as Json,
    shards: (m.shards as string[] | undefined) ?? [],
    images: m.images as number,
    createdBy: m.createdBy as string,
  };
}

/** `<dir>/manifest.json`, checked; MISSING_FILE when there is none, BAD_CONFIG when it is not a manifest. */
export async function readManifest(dir: string): Promise<DistillManifest> {
  const file = join(dir, MANIFEST_NAME);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DdpsError(missing ? 'MISSING_FILE' : 'BAD_CONFIG', `${dir}: cannot read ${file} (${(cause as Error).message}); expected the ${MANIFEST_NAME} that distill writes beside its shards`, {
      file,
      cause,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new DdpsError('BAD_CONFIG', `${file} is not valid JSON (${(cause as Error).message})`, { file, cause });
  }
  return parseManifest(value, file);
}
