/**
 * Stage III layout (METHOD.md): which selected patches make which distilled image.
 *
 * Mosaics follow RDED: with n = IPC images and the class's patches in selection order, image m takes
 * patches m, n+m, 2n+m, 3n+m (top-left, top-right, bottom-left, bottom-right). The selection puts
 * each cluster's quota together, so this spreads every image over four stretches of the selection
 * (different clusters) and gives each image one of the n first-chosen patches.
 *
 * A short class (fewer patches than the layout needs) still gets IPC images as long as it has one
 * patch, so a class never weighs less in training than its neighbours; its patches are reused:
 * - mosaics: image m takes patches 4m, 4m+1, 4m+2, 4m+3, counted modulo the number available.
 *   Reading the selection image by image rather than RDED's way keeps the four cells of an image
 *   distinct patches whenever the class has four (RDED's order, cycled, repeats a patch inside one
 *   image whenever the count divides n, 2n or 3n), uses every patch, and uses no patch more than
 *   once more than any other;
 * - singles: image m is patch m modulo the number available (repeated images).
 * A class with no patch gets no image. Patches beyond what the layout needs are not used.
 */
import type { ClassSelection, DistilledImage } from '../selectionTypes.js';
import { DdpsError } from '../../core/errors.js';
import type { MosaicMode } from '../../core/config.js';

/** `--mosaic`: auto picks by IPC and the kind of store. */
export type { MosaicMode };

/** RDED makes 2x2 mosaics up to this IPC and single-patch images above it. */
export const MOSAIC_MAX_IPC = 10;

/**
 * Whether images are 2x2 mosaics. Under auto, whole-image stores (low-resolution data, whose one
 * patch is the whole image) stay one image per patch, as RDED does for CIFAR.
 */
export function mosaicFor(ipc: number, mode: MosaicMode, wholeImage: boolean): boolean {
  if (mode === 'on') return true;
  if (mode === 'off') return false;
  if (mode !== 'auto') throw new DdpsError('BAD_ARGUMENT', `mosaic mode "${String(mode)}": expected auto, on or off`);
  return ipc <= MOSAIC_MAX_IPC && !wholeImage;
}

/** P, the patches one class needs: 4 per image for 2x2 mosaics, else 1. */
export function patchesNeeded(ipc: number, mosaic: boolean): number {
  if (!Number.isInteger(ipc) || ipc < 1) throw new DdpsError('BAD_ARGUMENT', `ipc must be a positive integer, got ${ipc}`);
  return mosaic ? 4 * ipc : ipc;
}

/** `<class 3 digits>_<image 5 digits>`, e.g. "003_00007". */
export function distilledKey(cls: number, image: number): string {
  return `${String(cls).padStart(3, '0')}_${String(image).padStart(5, '0')}`;
}

/**
 * For each of the `ipc` images, the indices (into the class's selection) of its cells, in TL, TR,
 * BL, BR order for mosaics; see the file comment for short classes.
 */
export function cellIndices(ipc: number, available: number, mosaic: boolean): number[][] {
  if (!Number.isSafeInteger(ipc) || ipc < 1) throw new DdpsError('BAD_ARGUMENT', `IPC ${ipc}: expected a whole number >= 1`);
  if (available === 0) return [];
  const images = Array.from({ length: ipc }, (_, m) => m);
  if (!mosaic) return images.map((m) => [m % available]);
  if (available >= 4 * ipc) return images.map((m) => [0, 1, 2, 3].map((j) => j * ipc + m));
  return images.map((m) => [0, 1, 2, 3].map((j) => (4 * m + j) % available));
}

/** The class's distilled images, keyed by class and image index. */
export function layoutImages(sel: ClassSelection, ipc: number, mosaic: boolean): DistilledImage[] {
  return cellIndices(ipc, sel.patches.length, mosaic).map((cells, m) => ({
    key: distilledKey(sel.cls, m),
    cls: sel.cls,
    cells: cells.map((i) => sel.patches[i]!),
  }));
}
