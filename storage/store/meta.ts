/**
 * The run identity a store is bound to: its scoring configuration and model pack. A store refuses
 * to take samples scored another way unless the caller allows mixing, and then remembers each
 * other identity it let in (`mixed`) so that inspection can say the store is mixed.
 */
import { DdpsError } from '../../core/errors.js';
import type { StoreDbs } from './open.js';
import { metaKey, SCHEMA_VERSION } from './schema.js';
import type { JsonObject, PackIdentity } from './types.js';

/** What makes two runs into one store compatible: the scoring configuration and the pack's identity. */
export interface RunIdentity {
  config: JsonObject;
  pack: PackIdentity;
}

export interface StoreIdentity extends RunIdentity {
  mixed: RunIdentity[];
}

/** The value as JSON gives it back (undefined fields dropped), which is what the store compares. */
export function toJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** JSON with object keys sorted at every depth: equal values give equal strings (undefined for undefined). */
export function canonicalJson(value: unknown): string | undefined {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as JsonObject).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function isPlainObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Dotted paths where two JSON values differ; objects are compared field by field, arrays whole. */
export function jsonDiff(stored: unknown, given: unknown, path = ''): string[] {
  if (isPlainObject(stored) && isPlainObject(given)) {
    const keys = [...new Set([...Object.keys(stored), ...Object.keys(given)])].sort();
    return keys.flatMap((k) => jsonDiff(stored[k], given[k], path === '' ? k : `${path}.${k}`));
  }
  return canonicalJson(stored) === canonicalJson(given) ? [] : [path];
}

function lookup(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (isPlainObject(o) ? o[k] : undefined), obj);
}

/** One line per difference, naming the config key or the pack digests, stored value first. */
export function describeMismatch(stored: RunIdentity, given: Partial<RunIdentity>): string[] {
  const lines: string[] = [];
  if (given.config !== undefined) {
    for (const p of jsonDiff(stored.config, given.config)) {
      lines.push(`config ${p}: stored ${canonicalJson(lookup(stored.config, p)) ?? 'nothing'}, given ${canonicalJson(lookup(given.config, p)) ?? 'nothing'}`);
    }
  }
  if (given.pack !== undefined && given.pack.digest !== stored.pack.digest) {
    lines.push(`model pack: stored ${stored.pack.name} (digest ${stored.pack.digest}), given ${given.pack.name} (digest ${given.pack.digest})`);
  }
  return lines;
}

export function readIdentity(dbs: StoreDbs): StoreIdentity | undefined {
  const schema = dbs.meta.get(metaKey('schema'));
  if (schema === undefined) return undefined;
  if (schema !== SCHEMA_VERSION) {
    throw new DdpsError('STORE_MISMATCH', `score store ${dbs.dir} has schema version ${String(schema)}, this ddps reads version ${SCHEMA_VERSION}`, { file: dbs.dir });
  }
  return {
    config: dbs.meta.get(metaKey('config')) as JsonObject,
    pack: dbs.meta.get(metaKey('pack')) as PackIdentity,
    mixed: (dbs.meta.get(metaKey('mixed')) as RunIdentity[] | undefined) ?? [],
  };
}

function writeIdentity(dbs: StoreDbs, identity: StoreIdentity): void {
  dbs.meta.putSync(metaKey('schema'), SCHEMA_VERSION);
  dbs.meta.putSync(metaKey('config'), identity.config);
  dbs.meta.putSync(metaKey('pack'), identity.pack);
  dbs.meta.putSync(metaKey('mixed'), identity.mixed);
}

/** The stored identity, or `run` recorded as it when the store is new (read and write in one transaction, so two first opens cannot both win). */
export function bindIdentity(dbs: StoreDbs, run: RunIdentity): StoreIdentity {
  return dbs.root.transactionSync(() => {
    const stored = readIdentity(dbs);
    if (stored !== undefined) return stored;
    const identity = { ...run, mixed: [] };
    writeIdentity(dbs, identity);
    return identity;
  });
}

/** Remember that `run` was let into the store; returns the identity as now stored. */
export function recordMixedRun(dbs: StoreDbs, identity: StoreIdentity, run: RunIdentity): StoreIdentity {
  const next = withMixedRun(identity, run);
  if (next !== identity) dbs.root.transactionSync(() => dbs.meta.putSync(metaKey('mixed'), next.mixed));
  return next;
}

/** `identity` with `run` added to its mixed list unless it is the store's own run or already listed. */
export function withMixedRun(identity: StoreIdentity, run: RunIdentity): StoreIdentity {
  const same = (a: RunIdentity): boolean => canonicalJson(a.config) === canonicalJson(run.config) && a.pack.digest === run.pack.digest;
  if (same(identity) || identity.mixed.some(same)) return identity;
  return { ...identity, mixed: [...identity.mixed, run] };
}
