import { DdpsError, isDdpsError } from '../core/errors.js';
import type { StageTimer } from '../models/stageTimer.js';
import type { SampleRef } from './types.js';

/** A sample (or a whole shard's tail) the run could not use, with the reason shown to the user. */
export interface SkipEvent {
  key?: string;
  url: string;
  /** Where it failed: read, label, decode, resize, model, store. */
  stage: string;
  code: string;
  reason: string;
}

/** The error policies, for validation and --help. */
export const ERROR_POLICIES = ['skip', 'fail'] as const;
/** What a bad sample does: skip (counted, named, passed over; the default) or fail (stops the run). */
export type ErrorPolicy = (typeof ERROR_POLICIES)[number];

/** Called with each sample or shard tail the run could not use. */
export type OnSkip = (event: SkipEvent) => void;

export function skipEvent(stage: string, ref: { key?: string; url: string }, err: unknown): SkipEvent {
  const code = err instanceof DdpsError ? err.code : 'ERROR';
  const reason = err instanceof Error ? err.message : String(err);
  return { ...(ref.key !== undefined ? { key: ref.key } : {}), url: ref.url, stage, code, reason };
}

/** Called with each sample dropped for DdpsError('BAD_SAMPLE'). */
export type SampleErrorHandler = (ref: SampleRef, err: DdpsError) => void;

/** Options shared by the per-image operators (decode, resize). */
export interface StageOptions {
  /** Images in flight at once (default 4). */
  concurrency?: number;
  /**
   * When given, a sample that fails with DdpsError('BAD_SAMPLE') is reported here and dropped; any
   * other error still ends the stream. Without it, the first error ends the stream.
   */
  onError?: SampleErrorHandler;
  /** Adds each call's duration to this timer. */
  timer?: StageTimer;
}

export function describeSample(ref: SampleRef): string {
  return `sample "${ref.key}" in ${ref.url}`;
}

export function reason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, '; ');
}

/** Adapts a SampleErrorHandler to mapOrdered: BAD_SAMPLE errors are reported and dropped. */
export function sampleErrors<T>(refOf: (input: T) => SampleRef, onError?: SampleErrorHandler): ((input: T, err: unknown) => boolean) | undefined {
  if (onError === undefined) return undefined;
  return (input, err) => {
    if (!isDdpsError(err, 'BAD_SAMPLE')) return false;
    onError(refOf(input), err);
    return true;
  };
}
