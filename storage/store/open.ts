/**
 * Opening the environment: one `open()` per store directory, every sub-database opened from it.
 * Open in the process that uses it (after any fork), on a local disk (LMDB locks do not work over
 * NFS or across machines).
 */
import { existsSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { DdpsError } from '../../core/errors.js';
import { DB_ENCODINGS, MAX_DBS, type DbName, type DbValues } from './schema.js';

export type StoreDbs = { readonly root: RootDatabase; readonly dir: string } & {
  readonly [N in DbName]: Database<DbValues[N], Buffer>;
};

export function openEnvironment(dir: string, readOnly: boolean): StoreDbs {
  if (endianness() !== 'LE') {
    throw new DdpsError('BAD_CONFIG', `score store ${dir}: this host is big-endian; the store's float32 tensors are little-endian`, { file: dir });
  }
  if (readOnly && !existsSync(join(dir, 'data.mdb'))) {
    throw new DdpsError('MISSING_FILE', `score store ${dir} not found: expected a directory with data.mdb`, { file: dir });
  }
  let root: RootDatabase;
  try {
    // noSubdir: false keeps a name like `run.store` a directory (lmdb-js treats a dotted path as a file).
    root = open(dir, { maxDbs: MAX_DBS, noSubdir: false, readOnly });
  } catch (e) {
    throw new DdpsError('BAD_ARGUMENT', `cannot open score store ${dir}: ${e instanceof Error ? e.message : String(e)}`, { file: dir, cause: e });
  }
  const dbs: Record<string, unknown> = { root, dir };
  for (const name of Object.keys(DB_ENCODINGS) as DbName[]) {
    // A read-only environment hands back undefined for a sub-database it does not have.
    const db = root.openDB(name, { keyEncoding: 'binary', encoding: DB_ENCODINGS[name] }) as Database | undefined;
    if (db === undefined) {
      void root.close();
      throw new DdpsError('STORE_MISMATCH', `${dir} is not a ddps score store: it has no '${name}' sub-database`, { file: dir });
    }
    dbs[name] = db;
  }
  return dbs as StoreDbs;
}
