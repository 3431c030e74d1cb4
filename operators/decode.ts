/**
 * Stage 0: image bytes -> 3-channel sRGB pixels (METHOD.md "Decode any JPEG/PNG/WebP").
 */
import type { OperatorFunction } from 'rxjs';
import sharp, { type OutputInfo } from 'sharp';
import { DdpsError } from '../core/errors.js';
import { mapOrdered } from './mapOrdered.js';
import { describeSample, reason, sampleErrors, type StageOptions } from './skips.js';
import type { Decoded, SampleRef } from './types.js';

/**
 * sharp work runs on libuv's threadpool (4 threads unless UV_THREADPOOL_SIZE says otherwise), so
 * more images in flight than that only queue.
 */
export const DEFAULT_CONCURRENCY = 4;

/**
 * Decodes to HxWx3 uint8 sRGB: EXIF orientation applied, grayscale/CMYK/palette/16-bit converted,
 * alpha dropped with the colour kept as stored (PIL's convert('RGB'), which the reference
 * implementations use), not composited on a background.
 * Warnings such as extraneous bytes are tolerated, as PIL does; truncated or corrupt data is
 * DdpsError('BAD_SAMPLE').
 */
export async function decodeImage(buf: Buffer, ref: SampleRef): Promise<Decoded> {
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(buf, { failOn: 'error' })
      .autoOrient()
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw new DdpsError(
      'BAD_SAMPLE',
      `${describeSample(ref)}: cannot decode the image (${buf.length} bytes): sharp says "${reason(cause)}"; expected a JPEG, PNG or WebP`,
      { sample: ref.key, file: ref.url, cause },
    );
  }
  const { data, info } = out;
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new DdpsError(
      'BAD_SAMPLE',
      `${describeSample(ref)}: decoded to ${info.width}x${info.height} with ${info.channels} channels in ${data.length} bytes; expected 3 channels of 8 bits`,
      { sample: ref.key, file: ref.url },
    );
  }
  return { ...ref, rgb: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/** decodeImage over a stream, in input order; the sample's other fields (its ticket too) travel on. */
export function decode(opts: StageOptions = {}): OperatorFunction<SampleRef & { image: Buffer }, Decoded> {
  return mapOrdered(
    ({ image, ...ref }: SampleRef & { image: Buffer }) => (opts.timer ? opts.timer.time('decode', () => decodeImage(image, ref)) : decodeImage(image, ref)),
    opts.concurrency ?? DEFAULT_CONCURRENCY,
    sampleErrors(({ image: _image, ...ref }) => ref, opts.onError),
  );
}
