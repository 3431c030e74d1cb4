/**
 * The sink: each sample goes into the store in one transaction with everything it produced, and its
 * place in the window is free once its summary is handed on. A sample is either fully stored or not
 * at all, so a killed run resumes by passing over what is stored.
 */
import type { OperatorFunction } from 'rxjs';
import { latentSize } from '../core/geometry.js';
import type { SampleRecord } from '../storage/store/index.js';
import { mapOrdered } from './mapOrdered.js';
import type { StageTimer } from '../models/stageTimer.js';
import type { Featured } from './types.js';

/** What toStore hands on for each stored sample (for progress and counts). */
export interface StoredSummary {
  key: string;
  url: string;
  cls: number;
  patches: number;
  topScore: number;
}

export function toRecord(it: Featured) {
  const { width, height } = it.transform;
  return {
    key: it.key,
    shard: it.url,
    cls: it.cls,
    size: it.size,
    transform: it.transform,
    scoreMap: { ...latentSize(width, height), data: it.scoreMap },
    patches: it.patches.map((p, j) => ({ ...p, feature: it.features[j]! })),
  };
}

/** Where scored samples go: a ScoreStore, or anything that takes them the same way (a result file). */
export interface SampleSink {
  /** Stores one sample with everything it produced, all or nothing. */
  putSample(rec: SampleRecord): Promise<void>;
}

/** The scoring sink: each sample's score map, patches and DIFT features in one store transaction (or one record of a result file). */
export function toStore(store: SampleSink, timer?: StageTimer): OperatorFunction<Featured[], StoredSummary[]> {
  return mapOrdered(async (items: Featured[]) => {
    // One transaction per sample, committed together: lmdb-js batches concurrent writes into one sync.
    const put = () => Promise.all(items.map((it) => store.putSample(toRecord(it))));
    await (timer ? timer.time('store', put) : put());
    return items.map((it) => ({ key: it.key, url: it.url, cls: it.cls, patches: it.patches.length, topScore: it.patches[0]?.score ?? NaN }));
  }, 1);
}
