/**
 * The decision rules the evaluation compares, each turned into ROC / FP-at-detection / SP-curve rows:
 * a single defender, the paper's OR at one shared SP, and the fusion of p-values.
 */
import * as tf from '@tensorflow/tfjs';
import type { PCLDetector } from '../defense/pcl.js';
import type { Detector } from '../defense/types.js';
import { fusedScores, fusedScoresFromEvidence, negLogPValueMatrix, pValueMatrix, type FusionMethod, type PValueCalibration } from '../defense/fusion/index.js';
import { orCurve, orRates } from '../eval/fusion.js';
import { DETECTION_LEVELS, aucFromCurve, auc, fprAtTprFromCurve, fprAtTprs, roc, spSweep, spGrid } from '../eval/roc.js';
import { concatTyped } from '../util/typed.js';
import type { DetectorResult, ScoredSet } from './evaluate-types.js';

export const LEVELS = DETECTION_LEVELS as number[];

/** Scores `x` under the PCL defenders and every extra detector, given the victim's labels. */
export async function scoreSet(det: PCLDetector, extra: Detector[], x: tf.Tensor4D, yTrue: Int32Array): Promise<ScoredSet> {
  const s = await det.scoreAll(x);
  const scores: Record<string, Float32Array> = {};
  det.defenders.forEach((d, j) => (scores[d.label] = s.scores[j]));
  if (extra.length) {
    const yT = tf.tensor1d(s.yPred, 'int32');
    try {
      for (const d of extra) scores[d.label] = await d.score(x, yT);
    } finally {
      yT.dispose();
    }
  }
  return { yPred: s.yPred, yTrue, scores };
}

export function concatSets(sets: ScoredSet[]): ScoredSet {
  const scores: Record<string, Float32Array> = {};
  for (const key of Object.keys(sets[0]?.scores ?? {})) {
    scores[key] = concatTyped(sets.map((s) => s.scores[key]), Float32Array);
  }
  const ints = (f: (s: ScoredSet) => Int32Array) => concatTyped(sets.map(f), Int32Array);
  return { yPred: ints((s) => s.yPred), yTrue: ints((s) => s.yTrue), scores };
}

export function calibrationOf(d: Detector): PValueCalibration {
  return { label: d.label, sortedScores: Array.from({ length: d.numClasses }, (_, k) => d.trainScores(k)) };
}

/**
 * The paper's ROC of per-class-threshold detectors swept over one shared SP: with one detector, that
 * detector alone; with several, their OR. The curve is exact (`orCurve`: every operating point of the
 * rule family); the FP/TP-vs-SP chart (Fig. 7) samples the same family on a log grid.
 */
export function spRule(name: string, ds: Detector[], clean: ScoredSet, adv: ScoredSet, sp: number): DetectorResult {
  const cals = ds.map(calibrationOf);
  const c = { scores: ds.map((d) => clean.scores[d.label]), classes: clean.yPred };
  const a = { scores: ds.map((d) => adv.scores[d.label]), classes: adv.yPred };
  const exact = orCurve(cals, c, a);
  const rates = orRates(cals, c, a);
  const r = rates(sp);
  return {
    detector: name,
    auroc: aucFromCurve(exact),
    fprAt: LEVELS.map((l) => fprAtTprFromCurve(exact, l)),
    curve: exact.map(({ fpr, tpr }) => ({ fpr, tpr })),
    spCurve: spSweep(rates, spGrid()),
    atSp: { sp, fp: r.fp, tp: r.tp },
  };
}

export function singleDetector(name: string, d: Detector, clean: ScoredSet, adv: ScoredSet, sp: number): DetectorResult {
  return spRule(name, [d], clean, adv, sp);
}

export function orRule(name: string, ds: Detector[], clean: ScoredSet, adv: ScoredSet, sp: number): DetectorResult {
  return spRule(name, ds, clean, adv, sp);
}

/** Fusion of per-defender p-values (Fisher unless `method`; with `tail` as the detector's calibrated fusion); threshold-free ROC (+ the calibrated point when given). */
export function fusedRule(
  name: string,
  ds: Detector[],
  clean: ScoredSet,
  adv: ScoredSet,
  calibrated?: { threshold: number; sp: number },
  method: FusionMethod = 'fisher',
  tail = false,
): DetectorResult {
  const cals = ds.map(calibrationOf);
  const fuse = (set: ScoredSet) => {
    const data = { scores: ds.map((d) => set.scores[d.label]), classes: set.yPred };
    return tail ? fusedScoresFromEvidence(negLogPValueMatrix(cals, data), method) : fusedScores(pValueMatrix(cals, data), method);
  };
  const fc = fuse(clean);
  const fa = fuse(adv);
  const curve = roc(fc, fa).map(({ fpr, tpr }) => ({ fpr, tpr }));
  const out: DetectorResult = { detector: name, auroc: auc(fc, fa), fprAt: fprAtTprs(fc, fa, LEVELS), curve };
  if (calibrated) {
    const rate = (s: Float64Array) => s.reduce((k, v) => k + (v > calibrated.threshold ? 1 : 0), 0) / s.length;
    out.atSp = { sp: calibrated.sp, fp: rate(fc), tp: rate(fa) };
  }
  return out;
}
