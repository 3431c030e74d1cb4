/**
 * `ddps/models`: model packs and everything that runs a model: the SD pack loader (in-process or over
 * worker threads), the CLIP tokenizer, the noise schedule, keyed noise, teacher classifiers, the
 * Python runner used for training.
 */
export type { DiffusionModel, ModelIdentity } from './diffusion.js';
export {
  type DiftMap,
  type LoadPackOptions,
  type NoisePrediction,
  type PackConventions,
  type PackLayout,
  type TimestepConvention,
  DEFAULT_SCALING_FACTOR,
  Pack,
  defaultCacheDir,
  resolveLayout,
} from './pack.js';
export { type PackPoolOptions, PackPool } from './packPool.js';
export { type Provider, type RuntimeOptions, parseProviders, providersFromEnv } from './runtime.js';
export { type PixelImage, type TeacherConfig, Classifier, argmax, loadTeacherConfig, parseTeacherConfig, softmax } from './classifier.js';
export { bilinearTaps, resampleRgb } from './resample.js';
export { type ClipTokenizerOptions, ClipTokenizer, preTokenize } from './tokenizer.js';
export { type Vocabulary, buildVocabulary, wordsOf, writeVocabulary } from './vocabulary.js';
export { type SchedulerConfig, alphasCumprod, loadSchedule, noisyLatent, timestepGrid } from './schedule.js';
export { gaussianNoise, keyedUniform, randomInt, seededRandom } from './noise.js';
export { type StageTime, StageTimer, mergeReports } from './stageTimer.js';
export { type PythonInfo, type PythonRunOptions, type PythonRunResult, PYTHON_MALLOC_TUNABLES, PYTHON_ROOT, findPython, pythonEnv, runPython } from './python.js';
