/**
 * Class maps: index <-> name, read from the `classes.json` that sits beside a dataset's shards
 * (`{"classes": [{"index": 0, "wnid": "n01440764", "name": "tench", ...}]}`) or from a plain array of
 * names.
 *
 * Real class lists repeat names: ImageNet-1k has two `crane`s (134, the bird; 517, the machine), two
 * `maillot`s (638, 639) and `Cardigan` (264, the corgi) beside `cardigan` (474, the sweater). So names
 * need not be unique; a label resolves by index, by WordNet id, by the exact name, then by the name
 * ignoring case, and a label that still fits several classes is ambiguous (the caller names the
 * candidates). The prompt uses each class's name exactly as given.
 */
import { readFile } from 'node:fs/promises';
import { DdpsError } from '../../core/errors.js';

/** One class of a classes.json. */
export interface ClassEntry {
  index: number;
  name: string;
  /** WordNet id (`n01440764`), when the file gives one. */
  wnid?: string;
  /** Whatever else the file gives per class (imagenet_index, ...). */
  [field: string]: unknown;
}

/** What a label resolves to: one class, several (ambiguous), or none. */
export type ClassMatch = { index: number } | { candidates: number[] } | undefined;

/** Class names by index, and indices by label (WordNet id or name). */
export interface ClassMap {
  /** Names in index order, as given: names[i] is class i (names may repeat). */
  readonly names: readonly string[];
  /**
   * A label: a WordNet id, else the exact name, else the name ignoring case. Several classes of that
   * name give `{ candidates }`, ascending.
   */
  lookup(label: string): ClassMatch;
  /** The index of a unique label; undefined for an unknown or ambiguous one (lookup says which). */
  indexOf(label: string): number | undefined;
  readonly entries: readonly ClassEntry[];
  /** True when every class has a WordNet id. */
  readonly hasWnids: boolean;
}

/** The shape of a WordNet noun synset id, as ImageNet uses them. */
export const WNID = /^n\d{8}$/;

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
  if (entry.wnid !== undefined && (typeof entry.wnid !== 'string' || !WNID.test(entry.wnid))) {
    throw bad(source, `class ${index} ("${entry.name}") has wnid ${JSON.stringify(entry.wnid)}, expected a WordNet id like "n01440764"`);
  }
  return { ...entry, index, name: entry.name };
}

function addTo(map: Map<string, number[]>, key: string, index: number): void {
  const list = map.get(key);
  if (list) list.push(index);
  else map.set(key, [index]);
}

function match(list: number[] | undefined): ClassMatch {
  if (list === undefined) return undefined;
  return list.length === 1 ? { index: list[0]! } : { candidates: list };
}

/**
 * Build a ClassMap from parsed JSON. Indices must be exactly 0..n-1 (in any order) and WordNet ids
 * unique; names may repeat. `source` names the origin in errors.
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
  const exact = new Map<string, number[]>();
  const folded = new Map<string, number[]>();
  const wnids = new Map<string, number>();
  for (const e of entries) {
    addTo(exact, e.name, e.index);
    addTo(folded, e.name.toLowerCase(), e.index);
    if (e.wnid === undefined) continue;
    const other = wnids.get(e.wnid);
    if (other !== undefined) throw bad(source, `classes ${other} and ${e.index} share the WordNet id ${e.wnid}`);
    wnids.set(e.wnid, e.index);
  }
  const lookup = (label: string): ClassMatch => {
    const byWnid = wnids.get(label);
    if (byWnid !== undefined) return { index: byWnid };
    return match(exact.get(label)) ?? match(folded.get(label.toLowerCase()));
  };
  return {
    names: entries.map((e) => e.name),
    lookup,
    indexOf: (label) => {
      const m = lookup(label);
      return m !== undefined && 'index' in m ? m.index : undefined;
    },
    entries,
    hasWnids: wnids.size === entries.length,
  };
}

/** Reads a classes.json (a list of names, or {classes: [{index, name, ...}]}) into a ClassMap. */
/**
 * Why `label` names no single class of `map`, as the end of a sentence ("... which is ambiguous:
 * classes 134, 517 are named crane; use the index or WordNet id"), or undefined when it does.
 */
export function describeMiss(map: ClassMap, label: string): string | undefined {
  const m = map.lookup(label);
  if (m !== undefined && 'index' in m) return undefined;
  if (m !== undefined) {
    const named = m.candidates.map((i) => `${i} "${map.names[i]}"${map.entries[i]!.wnid ? ` (${map.entries[i]!.wnid})` : ''}`);
    return `which is ambiguous: it names classes ${named.join(', ')}; label the sample by index${map.hasWnids ? ' or WordNet id' : ''}`;
  }
  if (WNID.test(label) && !map.hasWnids) return 'which looks like a WordNet id, but the class map gives none (add "wnid" to each class in classes.json)';
  return 'which is not in the class map';
}

/** Reads a classes.json (a list of names, or {classes: [{index, name, wnid?, ...}]}) into a ClassMap. */
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
