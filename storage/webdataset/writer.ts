/**
 * ShardWriter, after webdataset's: samples go into numbered tar shards, a new shard starting once
 * the current one holds `maxcount` samples or `maxsize` bytes. Shards are deterministic (mtime 0,
 * uid/gid 0, mode 0644, no user names, members in sorted-extension order), so the same samples
 * give byte-identical files, and each is written as `<name>.tmp`, fsynced, then renamed, so no
 * half-written shard ever carries a final name.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { DdpsError } from '../../core/errors.js';

/** When ShardWriter starts a new shard, and the first shard's number. */
export interface ShardWriterOptions {
  /** Samples per shard (webdataset's default 100000). */
  maxcount?: number;
  /**
   * Tar bytes per shard (default 3e9). Checked before each sample, so a shard can pass it by
   * at most one sample.
   */
  maxsize?: number;
  /** The number given to the first shard (default 0). */
  startShard?: number;
}

/**
 * `__key__` plus one field per extension: a Buffer or Uint8Array is written as is, a string as
 * UTF-8, anything else as JSON (so `cls: 3` and `cls: '3'` both write `3`). Fields whose name starts
 * with `__` (such as a read sample's `__url__`) and undefined fields are not written. Buffers are
 * queued by reference, so do not reuse one for new data after passing it in.
 */
export interface SampleToWrite {
  __key__: string;
  [ext: string]: unknown;
}

/** Python-style `%d` / `%06d` in a shard pattern; `%%` is a literal percent sign. */
export function formatShardName(pattern: string, n: number): string {
  let directives = 0;
  const name = pattern.replace(/%(%|0?\d*d)/g, (_, spec: string) => {
    if (spec === '%') return '%';
    directives++;
    return String(n).padStart(Number(spec.slice(0, -1) || 0), spec.startsWith('0') ? '0' : ' ');
  });
  if (directives !== 1) {
    throw new DdpsError('BAD_ARGUMENT', `shard pattern "${pattern}": needs exactly one %d-style number (such as %06d), found ${directives}`);
  }
  return name;
}

const BLOCK = 512;

/** Bytes one member takes in the tar: a header block plus the data padded to whole blocks. */
export function tarMemberBytes(size: number): number {
  return BLOCK + Math.ceil(size / BLOCK) * BLOCK;
}

interface Member {
  name: string;
  data: Buffer;
}

function sampleError(key: unknown, what: string): DdpsError {
  return new DdpsError('BAD_SAMPLE', `ShardWriter: sample "${String(key)}" ${what}`, { sample: String(key) });
}

function encode(key: string, ext: string, value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (cause) {
    throw new DdpsError('BAD_SAMPLE', `ShardWriter: sample "${key}" field "${ext}" cannot be written as JSON (${(cause as Error).message})`, {
      sample: key,
      cause,
    });
  }
  if (json === undefined) throw sampleError(key, `field "${ext}" is a ${typeof value}, which has no JSON form`);
  return Buffer.from(json, 'utf8');
}

/** A sample's members in sorted-extension order; rejects what would not read back as the same sample. */
export function sampleMembers(sample: SampleToWrite): Member[] {
  const key = sample.__key__;
  if (typeof key !== 'string' || key === '' || key.endsWith('/')) throw sampleError(key, 'needs a non-empty string __key__ naming a file');
  if (key.slice(key.lastIndexOf('/') + 1).includes('.')) {
    throw sampleError(key, 'has a dot in its key; readers split keys at the first dot, so it would not read back');
  }
  const byExt = new Map<string, Buffer>();
  for (const [field, value] of Object.entries(sample)) {
    if (field.startsWith('__') || value === undefined) continue;
    // Readers lower-case extensions, so two fields differing only in case would collide on reading.
    const ext = field.toLowerCase();
    if (ext === '' || ext.includes('/')) throw sampleError(key, `has the field "${field}", which is not a file extension`);
    if (byExt.has(ext)) throw sampleError(key, `has two fields that are both "${ext}" ignoring case`);
    byExt.set(ext, encode(key, field, value));
  }
  if (byExt.size === 0) throw sampleError(key, 'has no fields to write besides its key');
  return [...byExt.keys()].sort().map((ext) => ({ name: `${key}.${ext}`, data: byExt.get(ext)! }));
}

interface OpenShard {
  path: string;
  tmp: string;
  pack: tar.Pack;
  /** Settles once the bytes are on disk under the temporary name. */
  written: Promise<void>;
  /** Tears the stream chain down (written then rejects). */
  destroy: () => void;
  count: number;
  size: number;
  lastKey?: string;
}

function addEntry(pack: tar.Pack, member: Member): Promise<void> {
  const header = { name: member.name, size: member.data.length, mode: 0o644, uid: 0, gid: 0, mtime: new Date(0), type: 'file' } satisfies Partial<tar.Header>;
  // The callback fires once the pack has taken the bytes, which it delays while its buffer is
  // full and the file stream behind it has not drained: that is the writer's backpressure.
  return new Promise((resolve, reject) => pack.entry(header, member.data, (err) => (err ? reject(err) : resolve())));
}

/** Writes samples into numbered, deterministic tar shards (webdataset's ShardWriter); close() finishes the last. */
export class ShardWriter {
  readonly pattern: string;
  private readonly maxcount: number;
  private readonly maxsize: number;
  private next: number;
  private shard: OpenShard | undefined;
  private readonly done: string[] = [];
  private closed = false;
  // write() calls run one after another even if the caller does not await each one.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(pattern: string, opts: ShardWriterOptions = {}) {
    const { maxcount = 100_000, maxsize = 3e9, startShard = 0 } = opts;
    const check = (name: string, v: number, min: number) => {
      if (!Number.isSafeInteger(v) || v < min) {
        throw new DdpsError('BAD_ARGUMENT', `ShardWriter ${pattern}: ${name} must be an integer >= ${min}, got ${v}`);
      }
    };
    check('maxcount', maxcount, 1);
    check('maxsize', maxsize, 1);
    check('startShard', startShard, 0);
    formatShardName(pattern, startShard);
    this.pattern = pattern;
    this.maxcount = maxcount;
    this.maxsize = maxsize;
    this.next = startShard;
  }

  /** Shards finished so far (final names). */
  get shards(): readonly string[] {
    return this.done;
  }

  write(sample: SampleToWrite): Promise<void> {
    return this.enqueue(() => this.writeNow(sample));
  }

  /** Finish the last shard; resolves to every shard path written, in order. Idempotent. */
  close(): Promise<string[]> {
    return this.enqueue(async () => {
      this.closed = true;
      await this.finishShard();
      return [...this.done];
    });
  }

  /** Drops the shard being written (its temporary file is removed) and closes the writer: for cancelled work. */
  abort(): Promise<void> {
    return this.enqueue(async () => {
      this.closed = true;
      const shard = this.shard;
      this.shard = undefined;
      if (shard === undefined) return;
      shard.destroy();
      await shard.written.catch(() => undefined);
      await rm(shard.tmp, { force: true });
    });
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async writeNow(sample: SampleToWrite): Promise<void> {
    if (this.closed) throw new DdpsError('BAD_ARGUMENT', `ShardWriter ${this.pattern}: write after close (sample "${sample.__key__}")`);
    const members = sampleMembers(sample);
    if (this.shard !== undefined && (this.shard.count >= this.maxcount || this.shard.size >= this.maxsize)) await this.finishShard();
    const shard = this.shard ?? (this.shard = await this.openShard());
    if (shard.lastKey === sample.__key__) {
      throw sampleError(sample.__key__, `follows a sample with the same key in ${shard.path}; readers would merge them`);
    }
    try {
      for (const m of members) {
        await addEntry(shard.pack, m);
        shard.size += tarMemberBytes(m.data.length);
      }
    } catch (cause) {
      throw new DdpsError('BAD_SHARD', `ShardWriter: writing sample "${sample.__key__}" to ${shard.tmp} failed (${(cause as Error).message})`, {
        file: shard.path,
        sample: sample.__key__,
        cause,
      });
    }
    shard.count++;
    shard.lastKey = sample.__key__;
  }

  private async openShard(): Promise<OpenShard> {
    const path = formatShardName(this.pattern, this.next++);
    const tmp = `${path}.tmp`;
    await mkdir(dirname(path), { recursive: true }).catch((cause: Error) => {
      throw new DdpsError('BAD_SHARD', `ShardWriter: cannot create the folder of ${path} (${cause.message})`, { file: path, cause });
    });
    const pack = tar.pack();
    const file = createWriteStream(tmp);
    const gzip = /\.(gz|tgz)$/i.test(path) ? createGzip() : undefined;
    const stages: Writable[] = gzip ? [gzip, file] : [file];
    const written = new Promise<void>((resolve, reject) => {
      file.on('close', () => (file.writableFinished ? resolve() : reject(new Error(`${tmp} closed before all bytes were written`))));
      const fail = (err: Error) => {
        // Tear the whole chain down so a pending entry callback fails instead of waiting forever.
        pack.destroy(err);
        for (const t of stages) t.destroy();
        reject(new DdpsError('BAD_SHARD', `ShardWriter: writing ${tmp} failed (${err.message})`, { file: path, cause: err }));
      };
      pack.on('error', fail);
      for (const s of stages) s.on('error', fail);
    });
    written.catch(() => undefined); // observed by finishShard; a failing entry() reports it first
    if (gzip) pack.pipe(gzip).pipe(file);
    else pack.pipe(file);
    // A shard that cannot be created fails the write that needed it, and the .tmp exists from here on.
    await new Promise<void>((resolve, reject) => {
      file.once('open', () => resolve());
      written.catch(reject);
    });
    const destroy = (): void => {
      pack.destroy();
      for (const t of stages) t.destroy();
    };
    return { path, tmp, pack, written, destroy, count: 0, size: 0 };
  }

  private async finishShard(): Promise<void> {
    const shard = this.shard;
    if (shard === undefined) return;
    this.shard = undefined;
    shard.pack.finalize();
    await shard.written;
    const fh = await open(shard.tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(shard.tmp, shard.path);
    this.done.push(shard.path);
  }
}
