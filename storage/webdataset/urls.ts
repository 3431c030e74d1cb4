/**
 * Shard lists the way webdataset users write them: `train-{000000..000099}.tar`, `{a,b}` lists,
 * several patterns joined with `::`, and local globs (`data/*.tar`, `data/**\/*.tar`).
 */
import { readdir, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DdpsError } from '../../core/errors.js';

/** One pattern, several joined with `::`, or a list of them. */
export type ShardSpec = string | readonly string[];

// A typo like {0..99999999} must fail loudly rather than allocate a hundred million names.
const MAX_EXPANSION = 1_000_000;

function braceError(pattern: string, what: string): DdpsError {
  return new DdpsError('BAD_ARGUMENT', `shard pattern "${pattern}": ${what}`);
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

/** Split at commas outside nested braces; escaped commas stay. */
function splitTopLevel(inner: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '\\') i++;
    else if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(inner.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(inner.slice(from));
  return parts;
}

/**
 * `{a..b[..step]}`: integers keep the zero padding of a bound written with a leading zero (as
 * braceexpand does, so `{000000..000004}` gives six-digit names); single letters count through
 * the character codes.
 */
function expandRange(inner: string, pattern: string): string[] | undefined {
  const num = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/.exec(inner);
  const chr = /^([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?\d+))?$/.exec(inner);
  const m = num ?? chr;
  if (m === null) return undefined;
  const lo = num ? Number(m[1]) : m[1].charCodeAt(0);
  const hi = num ? Number(m[2]) : m[2].charCodeAt(0);
  const step = Math.abs(Number(m[3] ?? 1)) || 1;
  if ((Math.abs(hi - lo) + 1) / step > MAX_EXPANSION) {
    throw braceError(pattern, `the range {${inner}} has more than ${MAX_EXPANSION} elements`);
  }
  const padded = num !== null && [m[1], m[2]].some((s) => /^-?0\d/.test(s));
  const width = padded ? Math.max(m[1].length, m[2].length) : 0;
  const out: string[] = [];
  const dir = hi >= lo ? 1 : -1;
  for (let v = lo; dir * (hi - v) >= 0; v += dir * step) {
    if (!num) out.push(String.fromCharCode(v));
    else if (v < 0) out.push('-' + String(-v).padStart(width - 1, '0'));
    else out.push(String(v).padStart(width, '0'));
  }
  return out;
}

function expandGroup(inner: string, pattern: string): string[] {
  const alternatives = splitTopLevel(inner);
  if (alternatives.length > 1) return alternatives.flatMap((a) => expandFrom(a, pattern));
  // Like braceexpand, a group that is neither a list nor a range is literal text.
  return expandRange(inner, pattern) ?? expandFrom(inner, pattern).map((s) => `{${s}}`);
}

function expandFrom(s: string, pattern: string): string[] {
  let depth = 0;
  let start = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      i++;
    } else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}') {
      if (--depth < 0) throw braceError(pattern, `unbalanced "}" at offset ${i} of "${s}"`);
      if (depth === 0) {
        const head = unescape(s.slice(0, start));
        const alternatives = expandGroup(s.slice(start + 1, i), pattern);
        const tails = expandFrom(s.slice(i + 1), pattern);
        if (alternatives.length * tails.length > MAX_EXPANSION) {
          throw braceError(pattern, `expands to more than ${MAX_EXPANSION} names`);
        }
        return alternatives.flatMap((a) => tails.map((t) => head + a + t));
      }
    }
  }
  if (depth > 0) throw braceError(pattern, `unbalanced "{" at offset ${start} of "${s}"`);
  return [unescape(s)];
}

/**
 * Brace expansion as in Python's braceexpand (which webdataset uses): lists `{a,b}`, ranges
 * `{000..004}` / `{a..e}` / `{0..10..2}`, nesting, several groups (cartesian product in reading
 * order), `\{` `\}` `\,` for literal characters. Unbalanced braces are a DdpsError('BAD_ARGUMENT').
 */
export function braceExpand(pattern: string): string[] {
  return expandFrom(pattern, pattern);
}

export function hasGlobMagic(path: string): boolean {
  return /[*?[]/.test(path);
}

/** One path segment's glob (`*`, `?`, `[abc]`, `[!a-z]`) as an anchored RegExp. */
export function globSegmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[' && segment.indexOf(']', i + 2) > 0) {
      const end = segment.indexOf(']', i + 2);
      let body = segment.slice(i + 1, end);
      const negate = body[0] === '!' || body[0] === '^';
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function joinPath(base: string, name: string): string {
  if (base === '') return name;
  return base.endsWith('/') ? base + name : `${base}/${name}`;
}

async function entries(dir: string) {
  try {
    return await readdir(dir === '' ? '.' : dir, { withFileTypes: true });
  } catch {
    // A directory that is missing or unreadable simply matches nothing.
    return [];
  }
}

/** A regular file, or a named pipe that another process streams a shard into. */
async function isFile(path: string): Promise<boolean> {
  try {
    const st = await stat(path);
    return st.isFile() || st.isFIFO();
  } catch {
    return false;
  }
}

async function walk(base: string, segments: readonly string[], out: Set<string>): Promise<void> {
  if (segments.length === 0) {
    if (await isFile(base)) out.add(base);
    return;
  }
  const [segment, ...rest] = segments;
  if (segment === '**') {
    await walk(base, rest, out);
    // Only real directories, so a symlink loop cannot recurse forever; dot-directories stay hidden.
    for (const e of await entries(base)) {
      if (e.isDirectory() && !e.name.startsWith('.')) await walk(joinPath(base, e.name), segments, out);
    }
    return;
  }
  if (!hasGlobMagic(segment)) {
    await walk(joinPath(base, segment), rest, out);
    return;
  }
  const re = globSegmentRegExp(segment);
  for (const e of await entries(base)) {
    // As in a shell, a wildcard does not match a leading dot.
    if (e.name.startsWith('.') && !segment.startsWith('.')) continue;
    if (re.test(e.name)) await walk(joinPath(base, e.name), rest, out);
  }
}

/** Files matching a glob, sorted by code unit (so zero-padded shard numbers come out in order). */
export async function glob(pattern: string): Promise<string[]> {
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((s) => s !== '');
  const out = new Set<string>();
  await walk(absolute ? '/' : '', segments, out);
  return [...out].sort();
}

function toLocalPath(pattern: string): string {
  if (pattern.startsWith('file://')) return fileURLToPath(pattern);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(pattern) || pattern.startsWith('pipe:')) {
    throw new DdpsError('BAD_ARGUMENT', `shard "${pattern}": only local paths and file:// URLs are supported`);
  }
  return pattern;
}

/**
 * Expand a shard spec into concrete local files: each `::`-separated pattern (or array element)
 * is brace-expanded, then globbed. Every literal name must exist and every glob must match
 * something, else DdpsError('MISSING_FILE') naming the pattern, so a typo fails before any work.
 */
export async function expandShards(spec: ShardSpec): Promise<string[]> {
  const patterns = (typeof spec === 'string' ? spec.split('::') : [...spec]).filter((p) => p !== '');
  if (patterns.length === 0) throw new DdpsError('BAD_ARGUMENT', 'shard spec: no shard pattern given');
  const out: string[] = [];
  for (const pattern of patterns) {
    for (const name of braceExpand(pattern).map(toLocalPath)) {
      if (hasGlobMagic(name)) {
        const found = await glob(name);
        if (found.length === 0) {
          throw new DdpsError('MISSING_FILE', `shard pattern "${pattern}": the glob "${name}" matches no file`, { file: name });
        }
        out.push(...found);
      } else if (await isFile(name)) {
        out.push(name);
      } else {
        throw new DdpsError('MISSING_FILE', `shard pattern "${pattern}": no such file "${name}"`, { file: name });
      }
    }
  }
  return out;
}

/** Which share of the shards a worker reads: its rank among worldSize workers. */
export interface SplitOptions {
  rank: number;
  worldSize: number;
}

/** Shards for one worker or node: every worldSize-th one starting at rank (webdataset's `urls[rank::world_size]`). */
export function splitShards<T>(urls: readonly T[], { rank, worldSize }: SplitOptions): T[] {
  if (!Number.isSafeInteger(worldSize) || worldSize < 1) {
    throw new DdpsError('BAD_ARGUMENT', `splitShards: worldSize must be a positive integer, got ${worldSize}`);
  }
  if (!Number.isSafeInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new DdpsError('BAD_ARGUMENT', `splitShards: rank must be an integer in [0, ${worldSize - 1}], got ${rank}`);
  }
  return urls.filter((_, i) => i % worldSize === rank);
}
