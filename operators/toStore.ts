/**
 * The sink: each sample goes into the store in one transaction with everything it produced, then its
 * place in the window is freed. A sample is either fully stored or not at all, so a killed run
 * resumes by passing over what is stored.
 */
import type { OperatorFunction } from 'rxjs';
import { latentSize } from '../core/geometry.js';
import type { ScoreStore } from '../storage/store/index.js';
import { release } from './flow.js';
import { mapOrdered } from './mapOrdered.js';
import type { StageTimer } from '../models/stageTimer.js';
import type { Featured } from './types.js';

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

export function toStore(store: ScoreStore, timer?: StageTimer): OperatorFunction<Featured[], StoredSummary[]> {
  return mapOrdered(async (items: Featured[]) => {
    try {
      // One transaction per sample, committed together: lmdb-js batches concurrent writes into one sync.
      const put = () => Promise.all(items.map((it) => store.putSample(toRecord(it))));
      await (timer ? timer.time('store', put) : put());
    } finally {
      items.forEach(release);
    }
    return items.map((it) => ({ key: it.key, url: it.url, cls: it.cls, patches: it.patches.length, topScore: it.patches[0]?.score ?? NaN }));
  }, 1);
}
