/** A class's candidate patches: one range scan over the patch keys, which start with the class. */
import type { StoreDbs } from './open.js';
import { classRange, decodePatch, decodePatchKey } from './schema.js';
import type { ClassPatch } from './types.js';

/** Exactly class `cls`'s patches, ordered by sample key then patch index. Not a snapshot. */
export function* classPatches(dbs: StoreDbs, cls: number, withFeatures = true): Generator<ClassPatch> {
  for (const { key, value } of dbs.patches.getRange({ ...classRange(cls), snapshot: false })) {
    const { key: sample, index } = decodePatchKey(key);
    yield { key: sample, index, ...decodePatch(value, withFeatures) };
  }
}

/** Which patches class `cls` has (sample key, patch index), in the same order, without reading their values. */
export function* classPatchIds(dbs: StoreDbs, cls: number): Generator<{ key: string; index: number }> {
  for (const key of dbs.patches.getKeys({ ...classRange(cls), snapshot: false })) {
    const { key: sample, index } = decodePatchKey(key);
    yield { key: sample, index };
  }
}
