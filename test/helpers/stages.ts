/** Stages I-II and the sink, composed by hand with their defaults, as the stall and composition tests use them. */
import { concatAll, type OperatorFunction, pipe } from 'rxjs';
import type { ScoreConfig } from '../../core/config.js';
import type { DiffusionModel } from '../../models/diffusion.js';
import { dift } from '../../operators/dift.js';
import { encodeLatent } from '../../operators/encodeLatent.js';
import { lossDiff } from '../../operators/lossDiff.js';
import { patchScore } from '../../operators/patchScore.js';
import { toStore, type StoredSummary } from '../../operators/toStore.js';
import type { Prepared } from '../../operators/types.js';
import type { ScoreStore } from '../../storage/store/index.js';

export function modelStages(model: DiffusionModel, store: ScoreStore, config: ScoreConfig, labels: readonly string[]): OperatorFunction<Prepared[], StoredSummary> {
  return pipe(encodeLatent(model), lossDiff(model, { config, labels }), patchScore(config), dift(model, { config, labels }), toStore(store), concatAll());
}
