/**
 * The pipeline's source: WebDataset shards -> labelled samples, one at a time and only while the
 * Flow window has room, so memory never depends on shard size or count. Samples the store already
 * holds are passed over (they still count towards the limit per class), which is what makes a re-run
 * resume. Unsubscribing stops it at once, and the shard being read is closed.
 */
import { Observable } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import { readSamples, requireImage, sampleClass, type ClassMap, type MemberInfo, type ShardSpec } from '../storage/webdataset/index.js';
import { Flow } from './flow.js';
import { skipEvent, type ErrorPolicy, type OnSkip } from './skips.js';
import type { SampleRef } from './types.js';

/** Default window of readShards: samples held at once by the operators after it. */
export const DEFAULT_WINDOW = 64;

/** A sample as the source emits it: key, shard, class index, image bytes and its place in the window. */
export interface RawSample extends SampleRef {
  image: Buffer;
}

/** Options of readShards: class map, window, per-class limit, resume, error policy and progress hooks. */
export interface ReadShardsOptions {
  /** Turns class names (.json, .txt) into indices and checks .cls indices against the classes. */
  classMap?: ClassMap;
  /** Samples held at once by the operators downstream (default 64); each subscription gets its own Flow. */
  window?: number;
  /** A Flow to use instead of `window`, e.g. to watch `alive` and `peak`; one run at a time. */
  flow?: Flow;
  /** Keep at most this many samples of each class (the paper: 300 per class are nearly as good as all). */
  limitPerClass?: number;
  /** Keys already stored: counted, not emitted. */
  isDone?: (key: string) => boolean;
  onError?: ErrorPolicy;
  onSkip?: OnSkip;
  /** Each tar member read (for progress by bytes). */
  onMember?: (info: MemberInfo) => void;
}

/** Samples of `urls` (brace patterns, globs, lists) as RawSamples carrying their Flow tickets. */
export function readShards(urls: ShardSpec, opts: ReadShardsOptions = {}): Observable<RawSample> {
  const policy = opts.onError ?? 'skip';
  return new Observable<RawSample>((subscriber) => {
    const flow = opts.flow ?? new Flow(opts.window ?? DEFAULT_WINDOW);
    const stop = new AbortController();
    const perClass = new Map<number, number>();
    const skip = (stage: string, ref: { key?: string; url: string }, err: unknown): void => {
      if (policy === 'fail') throw err;
      opts.onSkip?.(skipEvent(stage, ref, err));
    };
    const run = async (): Promise<void> => {
      const samples = readSamples(urls, {
        onError: policy,
        ...(opts.onMember ? { onMember: opts.onMember } : {}),
        // A shard-level event has no key: the last good key is not the one at fault, and is named in the reason.
        onSkip: (info) => opts.onSkip?.(skipEvent('read', { url: info.url }, new DdpsError('BAD_SHARD', info.reason, { file: info.url }))),
      });
      for await (const s of samples) {
        if (stop.signal.aborted) break;
        const ref = { key: s.__key__, url: s.__url__ };
        let image: Buffer;
        let cls: number | undefined;
        try {
          image = requireImage(s);
          cls = sampleClass(s, opts.classMap);
          if (cls === undefined) throw new DdpsError('BAD_SAMPLE', `${ref.url}: sample ${ref.key} has no class (.cls, or .json/.txt with a class map)`, { sample: ref.key, file: ref.url });
        } catch (err) {
          skip('label', ref, err);
          continue;
        }
        const count = perClass.get(cls) ?? 0;
        if (opts.limitPerClass !== undefined && count >= opts.limitPerClass) continue;
        perClass.set(cls, count + 1);
        if (opts.isDone?.(ref.key)) continue;
        const ticket = await flow.acquire(stop.signal);
        if (ticket === undefined) break;
        try {
          subscriber.next({ ...ref, cls, image, ticket });
        } finally {
          // Handed on: an operator that took the sample holds its place from here.
          ticket.release();
        }
      }
    };
    run().then(
      () => subscriber.complete(),
      (err: unknown) => subscriber.error(err),
    );
    // Leaving the loop returns the reader, which closes the shard it was reading.
    return () => stop.abort();
  });
}
