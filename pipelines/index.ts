/**
 * `ddps/pipelines`: the method's stages composed end to end: score a dataset into a store, rank it,
 * select any budget, distill several budgets, relabel distilled shards, write the report; train a small
 * pack and test its conditional signal with the diffusion classifier.
 */
export { type PrepareOptions, type ScoreRunOptions, type ScoreSummary, defaultWindow, preparedBatches, runScore, scoreSamples } from './score.js';
export { type ClassifiedSample, type ClassifyOptions, type ClassifySummary, runDiffusionClassifier, summarizeClassified } from './diffusionClassify.js';
export { type PackTrainingRecord, type PackTrainingSizes, type TrainPackOptions, type TrainPackResult, trainPack } from './trainPack.js';
export {
  type RankStoreOptions,
  type SelectFromStoreOptions,
  type UpdateRanksOptions,
  type UpdateRanksResult,
  rankStore,
  selectFromStore,
  updateRanks,
} from './rank.js';
export { type MaterializeOptions, DISTILLED_PATTERN, MANIFEST_NAME, materialize } from './materialize.js';
export { type BudgetResult, type BudgetsOptions, type BudgetsResult, parseClasses, selectBudgets } from './distill.js';
export { type RelabelOptions, type RelabelSummary, relabel as relabelShards } from './relabel.js';
export { type ReportOptions, type ReportSummary, writeReport } from './report.js';
