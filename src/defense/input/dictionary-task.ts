/**
 * The unit of work the input defender hands to a worker thread: learn one class's dictionary.
 * Kept in its own small module (no tfjs import) so a worker loads only the math it needs.
 */
import { learnDictionary, type DictionaryLearningParams } from './dictionary-learning.js';

/** Payload of {@link learnDictionaryTask}: centred patches `[n, nFeatures]` of one class. */
export interface DictionaryTask {
  patches: Float32Array;
  nFeatures: number;
  params: Partial<DictionaryLearningParams>;
}

/** Result: the dictionary `[nAtoms, nFeatures]` (unit-norm atoms) and fit statistics. */
export interface DictionaryTaskResult {
  dictionary: Float32Array;
  steps: number;
  reseeded: number;
  lastEpochCost: number;
  seconds: number;
}

/** Learns one dictionary (synchronous; meant for a worker pool's `map`). */
export function learnDictionaryTask(task: DictionaryTask): DictionaryTaskResult {
  const t0 = performance.now();
  const r = learnDictionary(task.patches, task.nFeatures, task.params);
  return { dictionary: r.dictionary, steps: r.steps, reseeded: r.reseeded, lastEpochCost: r.lastEpochCost, seconds: (performance.now() - t0) / 1000 };
}
