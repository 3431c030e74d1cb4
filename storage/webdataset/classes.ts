/**
 * Class maps: index <-> name, read from the `classes.json` that sits beside a dataset's shards
 * (`{"classes": [{"index": 0, "name": "tench", ...}]}`) or from a plain array of names.
 */
import { readFile } from 'node:fs/promises';
import { DdpsError } from '../../core/errors.js';

/** One class of a classes.json. */
export interface ClassEntry {
  index: number;
  name: string;
  /** Whatever else the file gives per class (wnid, imagenet_index, ...). */
  [field: string]: unknown;
}

/** Class names by index, and indices by name. */
export interface ClassMap {
  /** Names in index order: names[i] is class i. */
  readonly names: readonly string[];
  /** Case-insensitive; undefined for a name not in the map. */
  indexOf(name: string): number | undefined;
  readonly entries: readonly ClassEntry[];
}

function bad(source: string, what: string): DdpsError {
  return new DdpsError('BAD_CONFIG', `class map ${source}: ${what}`, { file: source });
}

function toEntry(item: unknown, position: number, source: string): ClassEntry {
  if (typeof item === 'string') return { index: position, name: item };
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw bad(source, `class ${position} is ${JSON.stringify(item)}, expected a name or {"index", "name"}`);
  }
  const entry = item as Record<string, unknown>;
  const index = entry.index ?? position;
  if (typeof entry.name !== 'string') throw bad(source, `class ${position} has no string "name"`);
  if (typeof index !== 'number') throw bad(source, `class "${entry.name}" has index ${JSON.stringify(index)}, expected an integer`);
  return { ...entry, index, name: entry.name };
}

/**
 * Build a ClassMap from parsed JSON. Indices must be exactly 0..n-1 (in any order) and names
 * unique ignoring case, since lookups are case-insensitive. `source` names the origin in errors.
 */
export function classMapFrom(json: unknown, source = '(inline)'): ClassMap {
  const list = Array.isArray(json) ? json : (json as { classes?: unknown } | null)?.classes;
  if (!Array.isArray(list) || list.length === 0) {
    throw bad(source, 'expected {"classes": [...]} or an array of class names, with at least one class');
  }
  const entries: ClassEntry[] = new Array(list.length);
  list.forEach((item, position) => {
    const e = toEntry(item, position, source);
    if (!Number.isInteger(e.index) || e.index < 0 || e.index >= list.length || entries[e.index] !== undefined) {
      throw bad(source, `class "${e.name}" has index ${e.index}; indices must be 0..${list.length - 1}, each once`);
    }
    if (e.name.trim() === '') throw bad(source, `class ${e.index} has an empty name`);
    entries[e.index] = e;
  });
  const byName = new Map<string, number>();
  for (const e of entries) {
    const folded = e.name.toLowerCase();
    const other = byName.get(folded);
    if (other !== undefined) throw bad(source, `classes ${other} and ${e.index} share the name "${e.name}" (names are matched ignoring case)`);
    byName.set(folded, e.index);
  }
  return {
    names: entries.map((e) => e.name),
    indexOf: (name) => byName.get(name.toLowerCase()),
    entries,
  };
}

/** Reads a classes.json (a list of names, or {classes: [{index, name, ...}]}) into a ClassMap. */
export async function loadClassMap(path: string): Promise<ClassMap> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new DdpsError('MISSING_FILE', `class map ${path}: cannot read it (${(cause as Error).message})`, { file: path, cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new DdpsError('BAD_CONFIG', `class map ${path}: not valid JSON (${(cause as Error).message})`, { file: path, cause });
  }
  return classMapFrom(json, path);
}
