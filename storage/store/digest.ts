/**
 * A digest of what scoring put in a store, independent of the order samples were written in: two
 * stores with equal digests hold the same samples bit for bit (score maps, patches, features), the
 * same skip records and the same run identity (configuration and pack digest). It is how a
 * distributed run is shown to equal a local one.
 *
 * Left out: Stage II clusters (derived, and after incremental folding they depend on history), run
 * logs (timings), the pack's folder name, and the record of imported result files.
 */
import { createHash, type Hash } from 'node:crypto';
import { canonicalJson } from './meta.js';
import { encodeSampleRecord } from './schema.js';
import type { ScoreStore } from './scoreStore.js';

/** Each part is tagged and length-prefixed, so no two different contents hash the same stream. */
function part(h: Hash, tag: string, bytes: Buffer): void {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(bytes.length));
  h.update(tag).update(len).update(bytes);
}

/** sha256, hex. Reads the whole store in key order (LMDB's order, not the write order). */
export function storeDigest(store: ScoreStore): string {
  const h = createHash('sha256');
  const identity = { config: store.config, pack: store.pack.digest, mixed: store.mixed.map((m) => ({ config: m.config, pack: m.pack.digest })) };
  part(h, 'I', Buffer.from(canonicalJson(identity)!, 'utf8'));
  for (const s of store.samples()) part(h, 'S', encodeSampleRecord(s));
  for (const k of store.skipped()) part(h, 'K', Buffer.from(canonicalJson(k)!, 'utf8'));
  return h.digest('hex');
}
