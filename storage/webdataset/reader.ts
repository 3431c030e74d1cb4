/**
 * Pull-based WebDataset reader. Nothing is read until the consumer asks for the next sample, and
 * then only up to the first header of the sample after it, so memory depends on one sample (plus
 * the file stream's 64 KiB read buffer), never on the shard size or the number of shards. This is
 * the backpressure that RxJS lacks: wrap it with `from()` and downstream pace sets the read pace.
 */
import { createReadStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { DdpsError } from '../../core/errors.js';
import type { WdsSample } from './sample.js';
import { type ShardSpec, expandShards } from './urls.js';

/** A shard abandoned under onError 'skip': which, after which sample, and why. */
export interface SkipInfo {
  /** The shard that ended early. */
  url: string;
  /** The last sample yielded from it (undefined when none was). */
  key?: string;
  reason: string;
  error: unknown;
}

/** A tar member just read (for progress by bytes). */
export interface MemberInfo {
  url: string;
  /** The member's path inside the tar. */
  name: string;
  size: number;
}

/**
 * Bytes a member takes in the tar: its 512-byte header and its body padded to whole 512-byte blocks.
 * Progress by bytes read needs the padding: CIFAR-sized images and one-digit .cls members are mostly padding.
 */
export function tarBytes(info: Pick<MemberInfo, 'size'>): number {
  return 512 + Math.ceil(info.size / 512) * 512;
}

/** Options of readSamples: what a damaged shard does, and hooks. */
export interface ReadOptions {
  /**
   * What a truncated, corrupt or unreadable shard does: 'fail' (default, webdataset's
   * reraise) throws DdpsError('BAD_SHARD' or 'MISSING_FILE'); 'skip' reports it to onSkip
   * and goes on with the next shard (warn_and_continue).
   */
  onError?: 'fail' | 'skip';
  /** Called once per abandoned shard under 'skip'; without it a process warning is emitted. */
  onSkip?: (info: SkipInfo) => void;
  /** Called after each tar member's bytes are read: for progress, and to observe read-ahead. */
  onMember?: (info: MemberInfo) => void;
}

/** webdataset's base_plus_ext: the key runs to the first dot of the basename. */
const KEY_EXT = /^((?:.*\/)?[^./]+)\.([^/]*)$/;

/** A tar member name's sample key and lower-cased extension (webdataset's rule), or undefined. */
export function splitMemberName(name: string): { key: string; ext: string } | undefined {
  const m = KEY_EXT.exec(name);
  return m === null ? undefined : { key: m[1], ext: m[2].toLowerCase() };
}

/** The member's key and extension, or undefined for what webdataset skips (directories, `__meta__`, no extension). */
function dataMember(header: tar.Header): { key: string; ext: string } | undefined {
  if (header.type !== 'file' && header.type !== 'contiguous-file') return undefined;
  const base = header.name.slice(header.name.lastIndexOf('/') + 1);
  const member = base.startsWith('__') ? undefined : splitMemberName(header.name);
  // An extension like `__key__` would overwrite the sample's own fields.
  return member?.ext.startsWith('__') ? undefined : member;
}

const TAR_END_MARKER = 1024; // two zero blocks

/**
 * A tar cut exactly at a member boundary parses cleanly, so the only sign of the loss is the
 * missing end-of-archive marker: count the zero bytes at the end of the stream as it passes.
 */
class TrailingZeros extends Transform {
  count = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    let i = chunk.length - 1;
    while (i >= 0 && chunk[i] === 0) i--;
    this.count = i < 0 ? this.count + chunk.length : chunk.length - 1 - i;
    done(null, chunk);
  }
}

function isGzip(url: string): boolean {
  return /\.(gz|tgz)$/i.test(url);
}

/** file -> [gunzip] -> zero counter -> extract; any stage's error destroys the extract with it. */
function openShard(url: string, extract: tar.Extract): { streams: Readable[]; tail: TrailingZeros } {
  const file = createReadStream(url);
  const gunzip = isGzip(url) ? createGunzip() : undefined;
  const tail = new TrailingZeros();
  // tar-stream's extract is a streamx Writable; it speaks the write/drain/end protocol pipe() needs.
  (gunzip ? file.pipe(gunzip) : file).pipe(tail).pipe(extract as unknown as NodeJS.WritableStream);
  const streams: Readable[] = gunzip ? [file, gunzip, tail] : [file, tail];
  for (const s of streams) s.on('error', (err) => extract.destroy(err));
  return { streams, tail };
}

type TarEntry = AsyncIterable<unknown> & { header: tar.Header };

/** A failure of the shard's bytes, told apart from errors thrown by callbacks or the consumer. */
class ShardFault extends Error {
  constructor(
    readonly reason: string,
    readonly missing: boolean,
    cause?: unknown,
  ) {
    super(reason, { cause });
  }
}

function toFault(err: unknown): ShardFault {
  const e = err as NodeJS.ErrnoException;
  const msg = e.message ?? String(err);
  if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') return new ShardFault(`cannot be opened (${e.code})`, true, err);
  if (e.code === 'Z_BUF_ERROR') return new ShardFault('is truncated (the gzip stream ends early)', false, err);
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) return new ShardFault(`is not valid gzip (${msg})`, false, err);
  if (/unexpected end/i.test(msg)) return new ShardFault('is truncated (it ends inside a member)', false, err);
  if (/invalid tar header/i.test(msg)) return new ShardFault('is corrupt (a tar header fails its checksum)', false, err);
  return new ShardFault(`cannot be read (${msg})`, false, err);
}

async function* tarEntries(extract: tar.Extract): AsyncGenerator<TarEntry> {
  try {
    for await (const entry of extract) yield entry;
  } catch (err) {
    throw toFault(err);
  }
}

async function readBody(entry: TarEntry): Promise<Buffer> {
  // Copy out of the read chunks: a sample kept downstream must not pin a 64 KiB file buffer.
  const body = Buffer.allocUnsafe(entry.header.size);
  let n = 0;
  try {
    for await (const chunk of entry) n += (chunk as Buffer).copy(body, n);
  } catch (err) {
    throw toFault(err);
  }
  return body;
}

function shardFailure(url: string, lastKey: string | undefined, partialKey: string | undefined, fault: ShardFault, opts: ReadOptions): void {
  const after = lastKey === undefined ? 'before its first sample' : `after sample "${lastKey}"`;
  const dropped = partialKey === undefined ? '' : `; the incomplete sample "${partialKey}" is dropped`;
  const message = `shard ${url} ${fault.reason} ${after}${dropped}`;
  const cause = fault.cause ?? fault;
  if (opts.onError !== 'skip') {
    throw new DdpsError(fault.missing ? 'MISSING_FILE' : 'BAD_SHARD', message, { file: url, sample: lastKey, cause });
  }
  const info: SkipInfo = { url, key: lastKey, reason: message, error: cause };
  if (opts.onSkip) opts.onSkip(info);
  else process.emitWarning(message, 'DdpsWarning');
}

/**
 * The samples of one shard. A sample is yielded only once the next member's header (another key)
 * or the clean end of the tar proves it complete, so a damaged shard never yields a partial one.
 */
async function* readShard(url: string, opts: ReadOptions): AsyncGenerator<WdsSample> {
  const extract = tar.extract();
  const { streams, tail } = openShard(url, extract);
  let current: WdsSample | undefined;
  let lastKey: string | undefined;
  try {
    for await (const entry of tarEntries(extract)) {
      const member = dataMember(entry.header);
      // webdataset starts a new sample on a repeated extension too.
      if (current !== undefined && member !== undefined && (member.key !== current.__key__ || Object.hasOwn(current, member.ext))) {
        const done = current;
        current = undefined;
        lastKey = done.__key__;
        yield done;
      }
      const body = await readBody(entry);
      opts.onMember?.({ url, name: entry.header.name, size: body.length });
      if (member === undefined) continue;
      current ??= { __key__: member.key, __url__: url };
      current[member.ext] = body;
    }
    if (tail.count < TAR_END_MARKER) throw new ShardFault('is truncated (no end-of-archive marker)', false);
  } catch (err) {
    if (!(err instanceof ShardFault)) throw err;
    shardFailure(url, lastKey, current?.__key__, err, opts);
    return;
  } finally {
    for (const s of streams) s.destroy();
    extract.destroy();
  }
  if (current !== undefined) yield current;
}

/**
 * Read the samples of every shard in `urls` (expanded by expandShards: braces, globs, `::`),
 * in order, one at a time as the consumer pulls. `.tar.gz` / `.tgz` shards are gunzipped.
 */
export async function* readSamples(urls: ShardSpec, opts: ReadOptions = {}): AsyncGenerator<WdsSample> {
  for (const url of await expandShards(urls)) yield* readShard(url, opts);
}

/**
 * The samples of one shard whose keys `wanted` names, each once (a repeated key is passed over), in
 * shard order, ending right after the last of them instead of reading the shard's tail. `found`
 * collects the keys met, so the caller can name the ones the shard did not have.
 */
export async function* readNamedSamples(url: string, wanted: { has(key: string): boolean; readonly size: number }, found: Set<string>, opts: ReadOptions = {}): AsyncGenerator<WdsSample> {
  for await (const sample of readSamples(url, opts)) {
    if (!wanted.has(sample.__key__) || found.has(sample.__key__)) continue;
    found.add(sample.__key__);
    yield sample;
    if (found.size === wanted.size) return;
  }
}
