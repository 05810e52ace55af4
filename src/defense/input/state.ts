import type { PatchGrid } from './patches.js';

/** What the last fit measured. */
export interface InputFitInfo {
  /** Seconds of dictionary learning per class (inside its worker). */
  dictionarySeconds: number[];
  /** Wall-clock seconds of all dictionary fits together. */
  dictionaryWallSeconds: number;
  /** How the dictionaries were fitted: 'workers:N' or 'in-process'. */
  parallelism: string;
  /** Atoms re-seeded during learning, per class. */
  reseeded: number[];
  /** Clean training images kept for the thresholds, per class. */
  trainCounts: number[];
}

/** Everything an {@link InputDefender} learns in `fit` (or reads in `load`): plain arrays, no tensors. */
export interface InputState {
  h: number;
  w: number;
  c: number;
  grid: PatchGrid;
  numClasses: number;
  /** Per class: dictionary [nAtoms, dim] atom-major, unit-norm rows. */
  dicts: Float32Array[];
  /** Per class: Gram matrix [nAtoms, nAtoms]. */
  grams: Float64Array[];
  /** Per class: −PSNR of clean training images, ascending. */
  trainScores: Float32Array[];
  info?: InputFitInfo;
}
