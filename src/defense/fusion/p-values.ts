/**
 * Fusion of several defenders' scores (latent checkpoints, input defender) into one decision.
 *
 * Every defender is put on a common scale first: its **empirical p-value** against its own clean
 * calibration scores for the victim's predicted class (`empiricalPValue` in `defense/types.ts`:
 * fraction of clean calibration scores ≥ the score, +1 smoothed, so p ∈ [1/(n+1), 1]; small = unusual).
 * On that scale:
 * - {@link orFlags}: the paper's rule, PCL-METHOD §4 — adversarial iff *any* defender exceeds its own
 *   per-class threshold at one shared SP. Its false alarms add up: with m independent defenders the
 *   combined false-alarm rate is ≈ 1 − (1 − SP)^m, not SP.
 * - {@link combinePValues}: one combined p-value per sample, by the min-p rule with Šidák's correction
 *   `1 − (1 − min_d p_d)^m` or by Fisher's method `P(χ²_{2m} ≥ −2 Σ_d ln p_d)`. Both are exact p-values
 *   only if the defenders' p-values are independent and uniform on clean data, which they are not
 *   quite (the defenders see the same image, and a detector's clean test scores drift from its own
 *   training scores). Hence:
 * - **Calibrated fusion** ({@link fitCalibratedFusion}): combine the p-values into one statistic, then
 *   choose the threshold on the statistic of a *held-out* clean set, so that the combined
 *   false-alarm rate equals the target SP by construction, whatever the dependence between defenders.
 *   The held-out set must be disjoint from the data the defenders were fitted and calibrated on.
 *
 * All functions are pure functions of plain arrays; the fitted fusion model is plain JSON-able data.
 *
 * @see Rouhani et al. 2018, §4 "any defender raises an alarm" and Fig. 10 (several checkpoints);
 * R. A. Fisher, Statistical Methods for Research Workers (1925), §21.1; Z. Šidák, JASA 62 (1967).
 */
import { ArgumentError, ShapeError, assert } from '../../errors.js';
import { checkScores, type ScoreArray } from '../../util/scores.js';
import { empiricalPValue } from '../types.js';

/** A defender's clean calibration scores, per class of the victim's prediction. */
export interface PValueCalibration {
  /** Label for reports, e.g. 'latent:fc2' or 'input'. */
  label?: string;
  /**
   * Per class k, the clean calibration scores of samples predicted as k, **ascending**
   * (e.g. `detector.trainScores(k)`). A single entry means class-agnostic calibration.
   */
  sortedScores: readonly ScoreArray[];
}

/** Several defenders' scores of the same n samples. */
export interface DefenderScores {
  /** Per defender d (same order as the calibrations), shape [n]; higher = more adversarial. */
  scores: readonly ScoreArray[];
  /** Victim's predicted class per sample, shape [n]. May be omitted if every calibration is class-agnostic. */
  classes?: ScoreArray;
}


export function toF32(a: ScoreArray): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a as ArrayLike<number>);
}

export function checkCalibration(who: string, name: string, cal: PValueCalibration): Float32Array[] {
  assert(
    cal !== undefined && Array.isArray(cal.sortedScores) && cal.sortedScores.length > 0,
    () => `${who}: expected '${name}.sortedScores' to be a non-empty array of per-class score arrays, got ${String(cal?.sortedScores)}`,
  );
  return cal.sortedScores.map((s, k) => {
    checkScores(who, `${name}.sortedScores[${k}]`, s);
    for (let i = 1; i < s.length; i++) {
      if (s[i] < s[i - 1]) {
        throw new ArgumentError(`${who}: expected '${name}.sortedScores[${k}]' sorted ascending, but index ${i} (${s[i]}) < index ${i - 1} (${s[i - 1]})`);
      }
    }
    return toF32(s);
  });
}

/** Validates a multi-defender sample set against its calibrations; returns the class of each sample. */
export function checkDefenderScores(who: string, name: string, data: DefenderScores, cals: Float32Array[][]): Int32Array {
  assert(
    data !== undefined && Array.isArray(data.scores) && data.scores.length === cals.length,
    () => `${who}: expected '${name}.scores' to hold one score array per defender (${cals.length}), got ${data?.scores?.length}`,
    ShapeError,
  );
  const n = data.scores[0]?.length ?? 0;
  data.scores.forEach((s, d) => {
    checkScores(who, `${name}.scores[${d}]`, s);
    assert(s.length === n, () => `${who}: expected '${name}.scores[${d}]' to have length ${n} like '${name}.scores[0]', got ${s.length}`, ShapeError);
  });
  const classes = new Int32Array(n);
  const needClasses = cals.some((c) => c.length > 1);
  if (data.classes === undefined) {
    assert(!needClasses, () => `${who}: '${name}.classes' is required because a calibration is per class`);
    return classes;
  }
  assert(data.classes.length === n, () => `${who}: expected '${name}.classes' to have length ${n}, got ${data.classes!.length}`, ShapeError);
  const numClasses = Math.min(...cals.filter((c) => c.length > 1).map((c) => c.length));
  for (let i = 0; i < n; i++) {
    const c = data.classes[i];
    if (!Number.isInteger(c) || c < 0 || (needClasses && c >= numClasses)) {
      throw new ArgumentError(`${who}: expected '${name}.classes[${i}]' to be an integer class in [0, ${needClasses ? numClasses : '∞'}), got ${c}`);
    }
    classes[i] = c;
  }
  return classes;
}

export function calFor(cal: Float32Array[], k: number): Float32Array {
  return cal.length === 1 ? cal[0] : cal[k];
}

/**
 * Empirical p-values of every defender's scores (small = unusual for clean data).
 *
 * @returns one Float64Array of shape [n] per defender, entries in [1/(n_cal+1), 1]
 */
export function pValueMatrix(calibrations: readonly PValueCalibration[], data: DefenderScores): Float64Array[] {
  const cals = calibrations.map((c, d) => checkCalibration('pValueMatrix', `calibrations[${d}]`, c));
  const classes = checkDefenderScores('pValueMatrix', 'data', data, cals);
  return cals.map((cal, d) => {
    const s = data.scores[d];
    const p = new Float64Array(s.length);
    for (let i = 0; i < s.length; i++) p[i] = empiricalPValue(calFor(cal, classes[i]), Math.fround(s[i]));
    return p;
  });
}
