/**
 * `ddps/pipelines`: the method's stages composed end to end: score a dataset into a store, rank it,
 * select any budget, distill several budgets, relabel distilled shards, write the report; the
 * evaluation: students trained in PyTorch on a distilled set, replayed teacher labels, random real images;
 * train a small pack and test its conditional signal with the diffusion classifier.
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
export { parseManifest, readManifest } from './manifest.js';
export { type BudgetResult, type BudgetsOptions, type BudgetsResult, parseClasses, selectBudgets } from './distill.js';
export { type RelabelOptions, type RelabelSummary, relabel as relabelShards } from './relabel.js';
export { type ReportOptions, type ReportSummary, writeReport } from './report.js';
export {
  type EvaluateEvent,
  type EvaluateOptions,
  type EvaluationReport,
  type LabelMode,
  type RunSummary,
  type SetReport,
  type Stat,
  DEFAULT_EVALUATION,
  DEVICES,
  LABEL_MODES,
  RESULTS_NAME,
  checkTeacherAgreement,
  resultsJson,
  runEvaluate,
} from './evaluate.js';
export { type EvalProfile, type ProfileOverrides, PROFILES_FILE, batchSizeFor, fullEpochs, loadProfiles, resolveProfile } from './evalProfiles.js';
export { evaluationFragment, formatEvaluation } from './evalReport.js';
export {
  type ReplayBatch,
  type ReplayIndex,
  type ReplaySpec,
  REPLAY_FORMAT,
  REPLAY_VERSION,
  defaultReplayDir,
  findReplay,
  readReplayIndex,
  replayPlan,
  replaysFor,
  writeReplay,
} from './replay.js';
export { type RandomSubsetOptions, type RandomSubsetResult, buildRandomSubset } from './randomSubset.js';
export { type DistilledSet, type SetImage, loadDistilledSet } from './distilledSet.js';
