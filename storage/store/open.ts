/**
 * Opening the environment: one `open()` per store directory, every sub-database opened from it.
 * Open in the process that uses it (after any fork), on a local disk (LMDB locks do not work over
 * NFS or across machines).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { DdpsError } from '../../core/errors.js';
import { DB_ENCODINGS, MAX_DBS, type DbName, type DbValues } from './schema.js';

export type StoreDbs = { readonly root: RootDatabase; readonly dir: string } & {
  readonly [N in DbName]: Database<DbValues[N], Buffer>;
};

/** The error every read-only open gives for a store whose first run stopped before it was set up. */
export function incompleteStore(dir: string, what: string): DdpsError {
  return new DdpsError(
    'INCOMPLETE_STORE',
    `score store ${dir} is incomplete: ${what}; the run that created it stopped before the store was set up. ` +
      'Re-run `ddps score` with the same arguments to complete it.',
    { file: dir },
  );
}

function notAStore(dir: string, what: string): DdpsError {
  return new DdpsError('STORE_MISMATCH', `${dir} is not a ddps score store: ${what}`, { file: dir });
}

/** LMDB's meta page magic (0xBEEFC0DE, little-endian), near the start of data.mdb. */
const LMDB_MAGIC = Buffer.from([0xde, 0xc0, 0xef, 0xbe]);

/**
 * The guard in front of every read-only open, by looking at the file only: opening an empty or
 * half-written data.mdb read-only crashes the process inside LMDB (a segmentation fault), and a run
 * killed as it creates its store leaves exactly that. Full LMDB header (two meta pages) or an error.
 */
export function checkDataFile(dir: string): void {
  const file = join(dir, 'data.mdb');
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new DdpsError('MISSING_FILE', `score store ${dir} not found: expected a directory with data.mdb`, { file: dir });
  }
  if (size === 0) throw incompleteStore(dir, 'its data.mdb is empty');
  const head = Buffer.alloc(Math.min(size, 64));
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const at = head.indexOf(LMDB_MAGIC);
  if (at < 0) throw notAStore(dir, 'its data.mdb is not an LMDB file');
  // The meta record after the magic: version (4), address (8), map size (8), then the free list's md_pad, the page size.
  const pageSize = at + 28 <= head.length ? head.readUInt32LE(at + 24) : 0;
  if (size < 2 * Math.max(pageSize, 4096)) throw incompleteStore(dir, `its data.mdb (${size} bytes) ends inside LMDB's header`);
}

/**
 * Sub-databases of a read-only environment: ddps's own, all present. A main database naming only
 * some of them (each is created in its own transaction) is a store being set up; any other name is
 * someone else's LMDB.
 */
function checkSubDatabases(root: RootDatabase, dir: string): void {
  const ours: readonly unknown[] = Object.keys(DB_ENCODINGS);
  const present: unknown[] = [...root.getKeys({ snapshot: false })];
  const foreign = present.filter((k) => !ours.includes(k));
  if (foreign.length > 0) throw notAStore(dir, `it holds ${foreign.slice(0, 5).map((k) => JSON.stringify(k)).join(', ')}${foreign.length > 5 ? ', ...' : ''}, which ddps never writes`);
  const missing = ours.filter((name) => !present.includes(name));
  if (missing.length > 0) throw incompleteStore(dir, `it has ${present.length ? `only ${present.length} of its ${ours.length} sub-databases` : 'none of its sub-databases'} (no ${missing.map((m) => `'${String(m)}'`).join(', ')})`);
}

export function openEnvironment(dir: string, readOnly: boolean): StoreDbs {
  if (endianness() !== 'LE') {
    throw new DdpsError('BAD_CONFIG', `score store ${dir}: this host is big-endian; the store's float32 tensors are little-endian`, { file: dir });
  }
  if (readOnly) checkDataFile(dir);
  let root: RootDatabase;
  try {
    // noSubdir: false keeps a name like `run.store` a directory (lmdb-js treats a dotted path as a file).
    root = open(dir, { maxDbs: MAX_DBS, noSubdir: false, readOnly });
  } catch (e) {
    throw new DdpsError('BAD_ARGUMENT', `cannot open score store ${dir}: ${e instanceof Error ? e.message : String(e)}`, { file: dir, cause: e });
  }
  try {
    if (readOnly) checkSubDatabases(root, dir);
  } catch (e) {
    void root.close();
    throw e;
  }
  const dbs: Record<string, unknown> = { root, dir };
  for (const name of Object.keys(DB_ENCODINGS) as DbName[]) {
    dbs[name] = root.openDB(name, { keyEncoding: 'binary', encoding: DB_ENCODINGS[name] });
  }
  return dbs as StoreDbs;
}
