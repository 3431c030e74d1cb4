/**
 * The pipeline's source: WebDataset shards -> labelled samples, one at a time and only while the
 * Flow has room, so memory never depends on shard size or count. Samples the store already holds are
 * passed over (they still count towards the limit per class), which is what makes a re-run resume.
 */
import { Observable } from 'rxjs';
import { DdpsError } from '../core/errors.js';
import { readSamples, sampleClass, sampleImage, type ClassMap, type MemberInfo, type ShardSpec } from '../storage/webdataset/index.js';
import { Flow } from './flow.js';
import { skipEvent, type ErrorPolicy, type OnSkip } from './skips.js';
import type { SampleRef } from './types.js';

export interface RawSample extends SampleRef {
  image: Buffer;
}

export interface ReadShardsOptions {
  classMap?: ClassMap;
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

export function readShards(urls: ShardSpec, opts: ReadShardsOptions = {}): Observable<RawSample> {
  const flow = opts.flow ?? new Flow(64);
  const policy = opts.onError ?? 'skip';
  return new Observable<RawSample>((subscriber) => {
    let stopped = false;
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
        if (stopped) break;
        const ref = { key: s.__key__, url: s.__url__ };
        const image = sampleImage(s);
        let cls: number | undefined;
        try {
          if (!image) throw new DdpsError('BAD_SAMPLE', `${ref.url}: sample ${ref.key} has no image (jpg, jpeg, png or webp)`, { sample: ref.key, file: ref.url });
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
        const ticket = await flow.acquire();
        if (stopped) {
          ticket.release();
          break;
        }
        subscriber.next({ ...ref, cls, image: image!, ticket });
      }
    };
    run().then(
      () => subscriber.complete(),
      (err: unknown) => subscriber.error(err),
    );
    return () => {
      stopped = true;
    };
  });
}
