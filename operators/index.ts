/**
 * `ddps/operators`: every stage of the method as an RxJS operator, under the method's name, and the
 * types that flow between them. Scoring: readShards -> decode -> resize -> batch -> encodeLatent ->
 * lossDiff -> patchScore -> dift -> toStore. Selection: cluster (= rank: k-means and both rankings) -> select
 * -> concat (mosaics) -> writeDistilled / writeShards; relabel (soft labels).
 */
export { type RawSample, type ReadShardsOptions, DEFAULT_WINDOW, readShards } from './readShards.js';
export { DEFAULT_CONCURRENCY, decode, decodeImage } from './decode.js';
export { type ResizeOptions, resize, resizeImage, toNchw } from './resize.js';
export { batch, sizeGroups, sizeKey } from './batch.js';
export { type EncodeLatentOptions, encodeLatent } from './encodeLatent.js';
export { type LossDiffOptions, lossDiff } from './lossDiff.js';
export { type ClassLossOptions, type ClassLossed, classLosses } from './classLosses.js';
export { type PatchScoreOptions, patchScore, scorePatches } from './patchScore.js';
export { type DiftOptions, dift } from './dift.js';
export { type StoredSummary, toStore } from './toStore.js';
export { type RandomPatchesOptions, randomPatches } from './randomPatches.js';
export { type ClassifierScoreOptions, type CropClassifier, classifierScore } from './classifierScore.js';
export { type ClusterOptions, type ClusterSummary, cluster, clusterClass, rank } from './cluster.js';
export { type KMeansEngine, openKMeans } from './kmeansPool.js';
export { type SelectOptions, select, selectClass } from './select.js';
export { type ConcatOptions, type RenderedImage, DEFAULT_CROP_MEMORY, concat } from './concat.js';
export { type WrittenSample, writeShards } from './writeShards.js';
export { type CellProvenance, type Provenance, type ProvenanceOptions, type WrittenImage, writeDistilled } from './writeDistilled.js';
export { type FkdLabel, type SoftLabel, type SoftLabelOptions, softLabels as relabel, softLabel } from './relabel.js';
export { mapOrdered, mapOrderedIterable } from './mapOrdered.js';
export { Flow, Ticket } from './flow.js';
export { type ErrorPolicy, type OnSkip, type SampleErrorHandler, type SkipEvent, type StageOptions } from './skips.js';
export type { Decoded, Encoded, Featured, Patch, Patched, Prepared, SampleRef, Scored } from './types.js';
export type { ClassSelection, DistillManifest, DistilledImage, ManifestClass, RankedPatch } from './selectionTypes.js';
export { rankClass } from './math/ranking.js';
export { iou } from './math/nms.js';
export { type AugmentConfig, type CutMix, type ImageAug, applyCutMix, renderAug, sampleCutMix, sampleImageAug } from './math/augment.js';
export { planResize, planWholeImage, toOriginal, toResized } from './math/resizeTransform.js';
