/**
 * One-call summaries for the per-attack table: AUROC and the false-positive rate at the paper's
 * detection levels, either from raw scores (single detectors, fused scores) or from a curve of
 * operating points (SP sweeps, the paper's OR rule).
 *
 * @see Rouhani et al. 2018, Table 1 — PCL-METHOD.md §6.
 */
import { DETECTION_LEVELS, auc, aucFromCurve, fprAtTprs, fprAtTprFromCurve, type RatePoint, type ScoreArray } from './roc.js';
import type { DetectorMetrics } from './report-html.js';

/**
 * Metrics of a detector with one global score (higher = more adversarial).
 * @param scoresClean shape [nClean] (correctly classified clean test samples)
 * @param scoresAdv shape [nAdv] (successful adversarial samples)
 * @param levels detection levels (fractions), default `DETECTION_LEVELS` (90/95/98/99 %)
 */
export function metricsFromScores(
  detector: string,
  scoresClean: ScoreArray,
  scoresAdv: ScoreArray,
  levels: readonly number[] = DETECTION_LEVELS,
): DetectorMetrics {
  return { detector, auroc: auc(scoresClean, scoresAdv), fprAt: fprAtTprs(scoresClean, scoresAdv, levels) };
}

/**
 * Metrics of a family of rules given by its operating points (e.g. `spSweep(...)`): AUROC by the
 * trapezoid rule over the completed curve, FP at each level = smallest FP among points reaching it.
 */
export function metricsFromCurve(detector: string, points: readonly RatePoint[], levels: readonly number[] = DETECTION_LEVELS): DetectorMetrics {
  return { detector, auroc: aucFromCurve(points), fprAt: levels.map((l) => fprAtTprFromCurve(points, l)) };
}
