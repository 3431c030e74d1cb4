/** A class's candidate patches: one range scan over the patch keys, which start with the class. */
import type { StoreDbs } from './open.js';
import { classRange, decodeFloat32, decodePatch, decodePatchKey, patchFeatureBytes } from './schema.js';
import type { ClassPatch, ClassPatchView } from './types.js';

/** Exactly class `cls`'s patches, ordered by sample key then patch index, features as views of the store's buffer. Not a snapshot. */
export function* classPatchViews(dbs: StoreDbs, cls: number): Generator<ClassPatchView> {
  // Keys, then each value into lmdb's reused buffer: several times faster than a range of values,
  // which allocates a buffer per patch. A patch removed between the two reads is passed over.
  for (const key of dbs.patches.getKeys({ ...classRange(cls), snapshot: false })) {
    const value = dbs.patches.getBinaryFast(key);
    if (value === undefined) continue;
    const { key: sample, index } = decodePatchKey(key);
    const featureBytes = patchFeatureBytes(value);
    yield { key: sample, index, ...decodePatch(value, false), ...(featureBytes === undefined ? {} : { featureBytes }) };
  }
}

/** classPatchViews with each feature copied out (or left out). */
export function* classPatches(dbs: StoreDbs, cls: number, withFeatures = true): Generator<ClassPatch> {
  for (const { featureBytes, ...p } of classPatchViews(dbs, cls)) yield withFeatures && featureBytes !== undefined ? { ...p, feature: decodeFloat32(featureBytes) } : p;
}

/** Which patches class `cls` has (sample key, patch index), in the same order, without reading their values. */
export function* classPatchIds(dbs: StoreDbs, cls: number): Generator<{ key: string; index: number }> {
  for (const key of dbs.patches.getKeys({ ...classRange(cls), snapshot: false })) {
    const { key: sample, index } = decodePatchKey(key);
    yield { key: sample, index };
  }
}
