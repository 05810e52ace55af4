import { ArgumentError, assert } from '../../errors.js';
import { DICTIONARY_LEARNING_DEFAULTS, validateDictionaryParams, type DictionaryLearningParams } from './dictionary-learning.js';

/** Hyperparameters of {@link InputDefender}. */
export interface InputDefenderParams {
  /** Patch side p, or 'auto' = 8 where it tiles the image, else 7 where that does (MNIST), else 8. */
  patchSize: number | 'auto';
  /** Atoms per class dictionary, k_max (default 225). */
  nAtoms: number;
  /** Lasso penalty β of dictionary learning (default 0.1; pixels in [0, 1]). */
  alpha: number;
  /** Random training patches per class (default 150,000). */
  patchesPerClass: number;
  /** Dictionary-learning mini-batch size (default 256). */
  batchSize: number;
  /** Passes over the training patches (default 1). */
  epochs: number;
  /** Dictionary-learning codes: 'lars' (Lasso by LARS, default), 'cd' or 'omp' (see dictionary-learning.ts). */
  codes: DictionaryLearningParams['codes'];
  /** OMP sparsity k used to reconstruct images at scoring time (and for 'omp' codes; default 5). */
  nNonzero: number;
  /** MAX_I of the PSNR: the largest possible pixel value (default 1 for inputs in [0, 1]). */
  maxValue: number;
  /** Worker threads for the per-class dictionary fits (default 2; 0 or 1 = in-process). */
  workers: number;
  /** Images per scoring batch (bounds memory; default 2048). */
  scoreBatchSize: number;
  /**
   * Worker threads that share the sparse coding of large scoring batches (default 1 = this
   * thread). The pool starts on first use and stops on `dispose()`; results are identical.
   */
  scoreWorkers: number;
  /** Seed of patch sampling and dictionary learning (default 0; `fit`'s `opts.seed` overrides it). */
  seed: number;
  /** Security parameter (percent) `detect` uses when none is given (default 1). */
  sp: number;
}

/** Below this many patches a batch is coded in this thread even when scoring workers are set. */
export const MIN_PARALLEL_PATCHES = 4096;

export const INPUT_DEFAULTS: Readonly<InputDefenderParams> = Object.freeze({
  patchSize: 'auto',
  nAtoms: DICTIONARY_LEARNING_DEFAULTS.nAtoms,
  alpha: DICTIONARY_LEARNING_DEFAULTS.alpha,
  patchesPerClass: 150_000,
  batchSize: DICTIONARY_LEARNING_DEFAULTS.batchSize,
  epochs: DICTIONARY_LEARNING_DEFAULTS.epochs,
  codes: DICTIONARY_LEARNING_DEFAULTS.codes,
  nNonzero: 5,
  maxValue: 1,
  workers: 2,
  scoreBatchSize: 2048,
  scoreWorkers: 1,
  seed: 0,
  sp: 1,
});

export function validateInputParams(p: InputDefenderParams): InputDefenderParams {
  const posInt = (name: keyof InputDefenderParams, lo = 1) =>
    assert(Number.isInteger(p[name]) && (p[name] as number) >= lo, () => `InputDefender: expected ${name} an integer ≥ ${lo}, got ${p[name]}`, ArgumentError);
  if (p.patchSize !== 'auto') posInt('patchSize');
  posInt('patchesPerClass');
  posInt('nNonzero');
  posInt('workers', 0);
  posInt('scoreBatchSize');
  posInt('scoreWorkers');
  posInt('seed', 0);
  assert(p.sp >= 0 && p.sp <= 100, () => `InputDefender: 'sp' must be a percentage in [0, 100], got ${p.sp}`, ArgumentError);
  assert(p.maxValue > 0, () => `InputDefender: expected maxValue > 0, got ${p.maxValue}`, ArgumentError);
  assert(p.nNonzero <= Math.min(255, p.nAtoms), () => `InputDefender: nNonzero ${p.nNonzero} exceeds min(255, nAtoms = ${p.nAtoms})`, ArgumentError);
  validateDictionaryParams(dictParams(p, 0));
  return p;
}

export function dictParams(p: InputDefenderParams, seed: number): Partial<DictionaryLearningParams> {
  return { nAtoms: p.nAtoms, alpha: p.alpha, batchSize: p.batchSize, epochs: p.epochs, codes: p.codes, ompNonzero: p.nNonzero, seed };
}

