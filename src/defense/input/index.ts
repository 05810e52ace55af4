/** The input defender: patches, Batch-OMP, online dictionary learning, PSNR. Re-exports only. */
export { InputDefender, reconstructImages, reconstructPatches, type InputDefenderParams, type InputFitInfo, type ParallelMap } from './input-defender.js';
export {
  learnDictionary,
  lassoCdGram,
  validateDictionaryParams,
  DICTIONARY_LEARNING_DEFAULTS,
  type DictionaryLearningParams,
  type LearnedDictionary,
} from './dictionary-learning.js';
export { learnDictionaryTask, type DictionaryTask, type DictionaryTaskResult } from './dictionary-task.js';
export { lassoLarsGram, larsWorkspace, type LarsWorkspace } from './lars.js';
export { omp, ompGram, gramMatrix, correlations, reconstructSignals, type SparseCodes, type OmpOptions } from './omp.js';
export { patchGrid, defaultPatchSize, extractGridPatches, assembleGridPatches, samplePatches, type PatchGrid } from './patches.js';
export { psnr, psnrFromMse, MIN_MSE } from './psnr.js';
export { reconstructShardTask, type ShardCodingTask } from './omp-task.js';
export { reconstructByClass } from './sparse-coding.js';
export { InputBpda, BpdaLinearisation, cleanTailScale } from './bpda.js';
