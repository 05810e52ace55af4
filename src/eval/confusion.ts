/**
 * The adversarial confusion matrix (paper's Fig. 9): true label × label the victim predicts for
 * adversarial samples. Without a defense the off-diagonal mass is what the attack achieves; with PCL
 * at some SP, flagged samples are taken out of the victim's columns and counted in a final
 * 'rejected' column, so the remaining off-diagonal mass is what gets past the defense.
 *
 * @see Rouhani et al. 2018, Fig. 9.
 */
import { ArgumentError, ShapeError, assert } from '../errors.js';
import type { ScoreArray } from './roc.js';

/** A confusion matrix of counts; rows = true class, columns = predicted class (+ 'rejected'). */
export interface ConfusionMatrix {
  numClasses: number;
  /** Row labels (true classes), length numClasses. */
  rowLabels: string[];
  /** Column labels: the classes, then 'rejected' when `withRejection`. */
  colLabels: string[];
  /** counts[trueClass][column], shape [numClasses, numClasses (+1)]. */
  counts: number[][];
  /** Whether the last column counts samples flagged by the detector. */
  withRejection: boolean;
  /** Total number of samples. */
  total: number;
}

/** Label of the extra column holding flagged samples. */
export const REJECTED_LABEL = 'rejected';

/**
 * Builds the confusion matrix of (adversarial) samples.
 *
 * @param trueLabels shape [n], integers in [0, numClasses)
 * @param predLabels shape [n], the victim's predictions, integers in [0, numClasses)
 * @param numClasses number of classes
 * @param flags optional, shape [n], nonzero = flagged by the detector → counted in the 'rejected' column
 * @param classNames optional names for the classes (default '0', '1', …)
 */
export function confusionMatrix(
  trueLabels: ScoreArray,
  predLabels: ScoreArray,
  numClasses: number,
  flags?: ScoreArray,
  classNames?: readonly string[],
): ConfusionMatrix {
  assert(Number.isInteger(numClasses) && numClasses >= 1, () => `confusionMatrix: expected 'numClasses' to be a positive integer, got ${numClasses}`);
  const n = trueLabels?.length;
  assert(typeof n === 'number', () => `confusionMatrix: expected 'trueLabels' to be an array, got ${typeof trueLabels}`);
  assert(predLabels?.length === n, () => `confusionMatrix: expected 'predLabels' to have length ${n} like 'trueLabels', got ${predLabels?.length}`, ShapeError);
  assert(flags === undefined || flags.length === n, () => `confusionMatrix: expected 'flags' to have length ${n}, got ${flags?.length}`, ShapeError);
  assert(
    classNames === undefined || classNames.length === numClasses,
    () => `confusionMatrix: expected ${numClasses} 'classNames', got ${classNames?.length}`,
    ShapeError,
  );
  const cols = numClasses + (flags ? 1 : 0);
  const counts = Array.from({ length: numClasses }, () => new Array<number>(cols).fill(0));
  const check = (name: string, v: number, i: number) => {
    if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
      throw new ArgumentError(`confusionMatrix: expected '${name}[${i}]' to be an integer class in [0, ${numClasses}), got ${v}`);
    }
  };
  for (let i = 0; i < n; i++) {
    check('trueLabels', trueLabels[i], i);
    check('predLabels', predLabels[i], i);
    counts[trueLabels[i]][flags && flags[i] ? numClasses : predLabels[i]]++;
  }
  const names = classNames ? [...classNames] : Array.from({ length: numClasses }, (_, k) => String(k));
  return {
    numClasses,
    rowLabels: names,
    colLabels: flags ? [...names, REJECTED_LABEL] : names,
    counts,
    withRejection: flags !== undefined,
    total: n,
  };
}

/** The matrix normalised per row (each true class sums to 1; empty rows stay 0). */
export function normalizeRows(m: ConfusionMatrix): number[][] {
  return m.counts.map((row) => {
    const s = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (s === 0 ? 0 : v / s));
  });
}

/** Summary of a confusion matrix of adversarial samples. */
export interface ConfusionSummary {
  /** Samples the victim still classifies correctly (diagonal), fraction of total. */
  correct: number;
  /** Samples misclassified and not rejected (the attack's success past the defense), fraction. */
  fooled: number;
  /** Samples rejected by the detector, fraction (0 without rejection). */
  rejected: number;
}

/** Fractions of correct / fooled / rejected samples. */
export function summarizeConfusion(m: ConfusionMatrix): ConfusionSummary {
  if (m.total === 0) return { correct: 0, fooled: 0, rejected: 0 };
  let diag = 0;
  let rej = 0;
  m.counts.forEach((row, t) => {
    diag += row[t];
    if (m.withRejection) rej += row[m.numClasses];
  });
  return { correct: diag / m.total, fooled: (m.total - diag - rej) / m.total, rejected: rej / m.total };
}
