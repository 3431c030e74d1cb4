import { type Box } from '../core/geometry.js';
/**
 * What Stages II-IV pass around: ranked candidate patches, the selection for one budget, the
 * distilled images made from it, and the manifest written beside the distilled shards.
 */

/** A stored candidate patch with its place in its class's clusters (Stage II). */
export interface RankedPatch {
  /** Source sample key and the patch's index within that sample. */
  key: string;
  index: number;
  cls: number;
  /** The shard holding the source image (crops are re-read from it). */
  shard: string;
  boxOriginal: Box;
  score: number;
  cluster: number;
  /** Place inside its cluster, 0 = nearest the centroid. */
  rank: number;
}

/** Patches of one class in selection order (Stage III), and whether the class had enough. */
export interface ClassSelection {
  cls: number;
  /** P = 4 x IPC for IPC <= 10 (mosaics), else IPC. */
  needed: number;
  patches: RankedPatch[];
  /** True when the class had fewer usable patches than needed (selection always sets it). */
  short?: boolean;
}

/** One distilled image: a 2x2 mosaic (cells in TL, TR, BL, BR order) or a single patch. */
export interface DistilledImage {
  /** `<class index 3 digits>_<image index 5 digits>`, e.g. "003_00007". */
  key: string;
  cls: number;
  cells: RankedPatch[];
}

/** One class's line in a distilled folder's manifest. */
export interface ManifestClass {
  name: string;
  images: number;
  patches: number;
  needed: number;
  /** True when the class had fewer candidate patches than its budget needs. */
  short: boolean;
}

/** manifest.json of a distilled folder: the budget, the layout, per-class counts, the store's configuration and the pack's identity. */
export interface DistillManifest {
  ipc: number;
  mosaic: boolean;
  outputSize: number;
  topClusters: number;
  classes: Record<string, ManifestClass>;
  /** The score store's configuration and model pack identity. */
  config: Record<string, unknown>;
  pack: Record<string, unknown>;
  shards: string[];
  images: number;
  createdBy: string;
}
