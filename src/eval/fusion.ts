/**
 * Evaluation curves of the fusion rules: the paper's OR rule and the calibrated fusion as functions of
 * their SP (for `spSweep`), and the exact ROC of the OR family. The rules themselves (p-values, OR,
 * calibrated fusion) are part of the detector's decision and live in `defense/fusion/`.
 */
import { checkCalibration, checkDefenderScores, type DefenderScores, type PValueCalibration } from '../defense/fusion/p-values.js';
import { minFlagSpChecked, orFlagsChecked, spsFor } from '../defense/fusion/or-rule.js';
import { calibratedFusionScores, calibratedFusionThreshold, type CalibratedFusionModel } from '../defense/fusion/calibrated.js';
import { roc, type FlagRates, type SpPoint } from './roc.js';

function mean(flags: Uint8Array): number {
  let k = 0;
  for (const f of flags) k += f;
  return k / flags.length;
}

/**
 * The paper's OR rule as a function of the shared SP, for `spSweep` (ROC of "latent OR input").
 * @param clean correctly classified clean test samples; @param adv successful adversarial samples
 */
export function orRates(calibrations: readonly PValueCalibration[], clean: DefenderScores, adv: DefenderScores): (sp: number) => FlagRates {
  const cals = calibrations.map((c, d) => checkCalibration('orRates', `calibrations[${d}]`, c));
  const cc = checkDefenderScores('orRates', 'clean', clean, cals);
  const ca = checkDefenderScores('orRates', 'adv', adv, cals);
  return (sp) => {
    const sps = spsFor('orRates', sp, cals.length);
    return { fp: mean(orFlagsChecked(cals, clean, cc, sps)), tp: mean(orFlagsChecked(cals, adv, ca, sps)) };
  };
}

/**
 * The exact ROC of the paper's OR rule as its shared SP sweeps [0, 100] (with one calibration: of that
 * defender alone): every operating point the rule family has, from one sort, instead of an
 * {@link spSweep} over a grid. Point k flags exactly the samples with `minFlagSp ≤ sp_k`.
 *
 * @param clean correctly classified clean test samples; @param adv successful adversarial samples
 * @returns points sorted by SP (ascending), without the (0, 0) corner
 */
export function orCurve(calibrations: readonly PValueCalibration[], clean: DefenderScores, adv: DefenderScores): SpPoint[] {
  const cals = calibrations.map((c, d) => checkCalibration('orCurve', `calibrations[${d}]`, c));
  const fc = minFlagSpChecked(cals, clean, checkDefenderScores('orCurve', 'clean', clean, cals));
  const fa = minFlagSpChecked(cals, adv, checkDefenderScores('orCurve', 'adv', adv, cals));
  // flag iff minFlagSp ≤ sp  ⟺  −minFlagSp ≥ −sp: roc's "score ≥ threshold" with threshold = −sp
  return roc(fc.map((v) => -v), fa.map((v) => -v))
    .slice(1)
    .map((p) => ({ sp: -p.threshold, fpr: p.fpr, tpr: p.tpr }));
}

/**
 * Rates of the calibrated fusion as a function of its target SP, for `spSweep`. (Its ROC as a
 * function of a free threshold is simply `roc` of {@link calibratedFusionScores}.)
 */
export function calibratedFusionRates(model: CalibratedFusionModel, clean: DefenderScores, adv: DefenderScores): (sp: number) => FlagRates {
  const sc = calibratedFusionScores(model, clean);
  const sa = calibratedFusionScores(model, adv);
  const rate = (s: Float64Array, t: number) => s.reduce((k, v) => k + (v > t ? 1 : 0), 0) / s.length;
  return (sp) => {
    const t = calibratedFusionThreshold(model, sp);
    return { fp: rate(sc, t), tp: rate(sa, t) };
  };
}

/** The mixing coefficients {@link selectFusionWeights} picked, with their validation metrics. */
